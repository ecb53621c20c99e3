// The COSI resources the fake talosctl prints for `talosctl get`: the print columns and aliases of Talos v1.10's
// resource definitions over the machine model's resources (lab/machine-api/resources.ts, keyed by type), so the
// fake and the real talosctl against lab/talos-api see the same IDs and spec fields.
import { existsSync, readFileSync } from 'node:fs'
import { paths, type LabNode } from '../state.ts'
import { RESOURCE_KINDS } from '../machine-api/resources.ts'
import type { Resource, ResourceDef } from './resource-types.ts'

export type { Resource, ResourceDef } from './resource-types.ts'

/** The model's resources of one type, as the fake's Resource (version 1: the model keeps no history). */
function fromModel(type: string): Pick<ResourceDef, 'namespace' | 'maintenance' | 'list'> {
  const kind = RESOURCE_KINDS[type]!
  return {
    namespace: kind.namespace,
    maintenance: kind.maintenance,
    list: async (n: LabNode): Promise<Resource[]> =>
      (await kind.list(n)).map((r) => ({ id: r.id, version: 1, owner: r.owner, spec: r.spec })),
  }
}

const defs: ResourceDef[] = [
  {
    type: 'Disks.block.talos.dev',
    displayType: 'Disk',
    aliases: [],
    columns: [
      ['Size', (s) => s.pretty_size],
      ['Read Only', (s) => s.readonly],
      ['Transport', (s) => s.transport],
      ['Rotational', (s) => s.rotational],
      ['WWID', (s) => s.wwid],
      ['Model', (s) => s.model],
      ['Serial', (s) => s.serial],
    ],
    ...fromModel('Disks.block.talos.dev'),
  },
  {
    type: 'MachineStatuses.runtime.talos.dev',
    displayType: 'MachineStatus',
    aliases: [],
    columns: [
      ['Stage', (s) => s.stage],
      ['Ready', (s) => s.status.ready],
    ],
    ...fromModel('MachineStatuses.runtime.talos.dev'),
  },
  {
    type: 'Members.cluster.talos.dev',
    displayType: 'Member',
    aliases: [],
    columns: [
      ['Hostname', (s) => s.hostname],
      ['Machine Type', (s) => s.machineType],
      ['OS', (s) => s.operatingSystem],
      ['Addresses', (s) => s.addresses],
    ],
    ...fromModel('Members.cluster.talos.dev'),
  },
  {
    type: 'HostnameStatuses.net.talos.dev',
    displayType: 'HostnameStatus',
    aliases: ['hostname'],
    columns: [
      ['Hostname', (s) => s.hostname],
      ['Domainname', (s) => s.domainname],
    ],
    ...fromModel('HostnameStatuses.net.talos.dev'),
  },
  {
    type: 'MachineConfigs.config.talos.dev',
    displayType: 'MachineConfig',
    namespace: 'config',
    aliases: [],
    maintenance: false,
    columns: [],
    list: (n) => {
      const f = paths.config(n.name)
      return existsSync(f)
        ? [{ id: 'v1alpha1', version: n.configVersion || 1, owner: '', spec: readFileSync(f, 'utf8') }]
        : []
    },
  },
  {
    type: 'KernelParamStatuses.runtime.talos.dev',
    displayType: 'KernelParamStatus',
    aliases: ['sysctls', 'kernelparameters', 'kernelparams'],
    columns: [
      ['Current', (s) => s.current],
      ['Default', (s) => s.default],
      ['Unsupported', (s) => s.unsupported],
    ],
    ...fromModel('KernelParamStatuses.runtime.talos.dev'),
  },
  {
    type: 'VolumeStatuses.block.talos.dev',
    displayType: 'VolumeStatus',
    aliases: [],
    columns: [
      ['Type', (s) => s.type],
      ['Phase', (s) => s.phase],
      ['Location', (s) => s.location],
      ['Size', (s) => s.prettySize],
    ],
    ...fromModel('VolumeStatuses.block.talos.dev'),
  },
  {
    type: 'MountStatuses.block.talos.dev',
    displayType: 'MountStatus',
    aliases: [],
    columns: [
      ['Source', (s) => s.source],
      ['Target', (s) => s.target],
      ['Filesystem', (s) => s.filesystem],
      ['Volume', (s) => s.spec.volumeID],
    ],
    ...fromModel('MountStatuses.block.talos.dev'),
  },
  {
    type: 'ExtensionStatuses.runtime.talos.dev',
    displayType: 'ExtensionStatus',
    aliases: ['extensions'],
    columns: [
      ['Name', (s) => s.metadata.name],
      ['Version', (s) => s.metadata.version],
    ],
    ...fromModel('ExtensionStatuses.runtime.talos.dev'),
  },
]

/** COSI automatic aliases: plural and singular lower-case names and the upper-case-letter abbreviation. */
function aliasesOf(d: ResourceDef): string[] {
  const plural = d.type.split('.')[0]
  const singular = d.displayType
  const abbr = singular.replace(/[^A-Z]/g, '').toLowerCase()
  return [d.type.toLowerCase(), plural.toLowerCase(), singular.toLowerCase(), abbr, ...d.aliases]
}

export function resolveResource(name: string): ResourceDef | undefined {
  const l = name.toLowerCase()
  return defs.find((d) => aliasesOf(d).includes(l))
}

export const allResourceDefs = defs
