// The COSI resources the lab serves for `talosctl get`, built from the lab state and the node's sysroot,
// with the real type names, namespaces, aliases, print columns and spec field names of Talos v1.10.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDown, loadNodes, paths, type LabNode } from '../state.ts'
import { parseMachineConfig, type MachineConfigView } from '../machine-config.ts'
import { provisionUserVolumes } from '../volumes.ts'
import { networkState } from '../network.ts'
import { humanizeBytes } from './common.ts'
import { extensionStatusDef } from './extensions.ts'
import type { ResourceDef } from './resource-types.ts'

export type { Resource, ResourceDef } from './resource-types.ts'

function readConfig(n: LabNode): { text: string; view: MachineConfigView } | undefined {
  const f = paths.config(n.name)
  if (!existsSync(f)) return undefined
  const text = readFileSync(f, 'utf8')
  return { text, view: parseMachineConfig(text, f) }
}

function readRoot(n: LabNode, p: string): string | undefined {
  const f = join(paths.root(n.name), p)
  return existsSync(f) ? readFileSync(f, 'utf8') : undefined
}

const modalias = (t: string) =>
  t === 'nvme' ? 'nvme:v1B36d0010' : t === 'virtio' ? 'virtio:d00000002v00001AF4' : 'scsi:t-0x00'

const defs: ResourceDef[] = [
  {
    type: 'Disks.block.talos.dev',
    displayType: 'Disk',
    namespace: 'runtime',
    aliases: [],
    maintenance: true,
    columns: [
      ['Size', (s) => s.pretty_size],
      ['Read Only', (s) => s.readonly],
      ['Transport', (s) => s.transport],
      ['Rotational', (s) => s.rotational],
      ['WWID', (s) => s.wwid],
      ['Model', (s) => s.model],
      ['Serial', (s) => s.serial],
    ],
    list: (n) =>
      n.hardware.disks.map((d) => {
        const id = d.dev.replace('/dev/', '')
        const spec: Record<string, unknown> = {
          dev_path: d.dev,
          size: d.sizeBytes,
          pretty_size: humanizeBytes(d.sizeBytes),
          io_size: 512,
          sector_size: 512,
          readonly: false,
          cdrom: false,
          model: d.model,
          serial: d.serial,
          modalias: modalias(d.transport),
        }
        if (d.wwid) spec.wwid = d.wwid
        spec.bus_path =
          d.transport === 'nvme'
            ? `/pci0000:00/0000:00:0${n.hardware.disks.indexOf(d) + 4}.0/nvme`
            : `/pci0000:00/0000:00:0${n.hardware.disks.indexOf(d) + 4}.0/host0`
        spec.sub_system = '/sys/class/block'
        spec.transport = d.transport
        if (d.rotational) spec.rotational = true
        return { id, version: 1, owner: 'block.DisksController', spec }
      }),
  },
  {
    type: 'MachineStatuses.runtime.talos.dev',
    displayType: 'MachineStatus',
    namespace: 'runtime',
    aliases: [],
    maintenance: true,
    columns: [
      ['Stage', (s) => s.stage],
      ['Ready', (s) => s.status.ready],
    ],
    list: (n) => {
      const stage = n.stage === 'off' ? 'unknown' : n.stage
      const ready = n.stage === 'running'
      return [
        {
          id: 'machine',
          version: 1,
          owner: 'runtime.MachineStatusController',
          spec: {
            stage,
            status: { ready, unmetConditions: ready ? [] : [{ name: 'machine', reason: `stage is ${stage}` }] },
          },
        },
      ]
    },
  },
  {
    type: 'Members.cluster.talos.dev',
    displayType: 'Member',
    namespace: 'cluster',
    aliases: [],
    maintenance: false,
    columns: [
      ['Hostname', (s) => s.hostname],
      ['Machine Type', (s) => s.machineType],
      ['OS', (s) => s.operatingSystem],
      ['Addresses', (s) => s.addresses],
    ],
    list: () =>
      loadNodes()
        .filter((m) => existsSync(paths.config(m.name)) && !['off', 'maintenance'].includes(m.stage) && !isDown(m))
        .map((m) => ({
          id: m.name,
          version: 1,
          owner: 'cluster.MemberController',
          spec: {
            nodeId: memberNodeId(m),
            addresses: [m.address],
            hostname: m.name,
            machineType: m.role,
            operatingSystem: `Talos (${m.talosVersion})`,
          },
        })),
  },
  {
    type: 'Nodenames.kubernetes.talos.dev',
    displayType: 'Nodename',
    namespace: 'k8s',
    aliases: [],
    maintenance: false,
    columns: [['Nodename', (s) => s.nodename]],
    list: (n) => [
      {
        id: 'nodename',
        version: 1,
        owner: 'k8s.NodenameController',
        spec: { nodename: n.name, hostnameVersion: '1', skipNodeRegistration: false },
      },
    ],
  },
  {
    type: 'HostnameStatuses.net.talos.dev',
    displayType: 'HostnameStatus',
    namespace: 'network',
    aliases: ['hostname'],
    maintenance: true,
    columns: [
      ['Hostname', (s) => s.hostname],
      ['Domainname', (s) => s.domainname],
    ],
    list: (n) => [
      {
        id: 'hostname',
        version: 1,
        owner: 'network.HostnameStatusController',
        spec: {
          hostname: n.stage === 'maintenance' ? `talos-${n.address.split('.').slice(-1)[0]}` : n.name,
          domainname: '',
        },
      },
    ],
  },
  {
    type: 'MachineConfigs.config.talos.dev',
    displayType: 'MachineConfig',
    namespace: 'config',
    aliases: [],
    maintenance: false,
    columns: [],
    list: (n) => {
      const c = readConfig(n)
      return c ? [{ id: 'v1alpha1', version: n.configVersion || 1, owner: '', spec: c.text }] : []
    },
  },
  {
    type: 'KernelParamStatuses.runtime.talos.dev',
    displayType: 'KernelParamStatus',
    namespace: 'runtime',
    aliases: ['sysctls', 'kernelparameters', 'kernelparams'],
    maintenance: false,
    columns: [
      ['Current', (s) => s.current],
      ['Default', (s) => s.default],
      ['Unsupported', (s) => s.unsupported],
    ],
    list: (n) => {
      const c = readConfig(n)
      const keys = Object.keys(c?.view.sysctls ?? {}).sort()
      return keys.map((k) => {
        const cur = readRoot(n, `proc/sys/${k.replace(/\./g, '/')}`)
        return {
          id: k,
          version: 1,
          owner: 'runtime.KernelParamSpecController',
          spec: { current: (cur ?? '').trim(), default: '', unsupported: cur === undefined },
        }
      })
    },
  },
  {
    type: 'VolumeStatuses.block.talos.dev',
    displayType: 'VolumeStatus',
    namespace: 'runtime',
    aliases: [],
    maintenance: false,
    columns: [
      ['Type', (s) => s.type],
      ['Phase', (s) => s.phase],
      ['Location', (s) => s.location],
      ['Size', (s) => s.prettySize],
    ],
    list: (n) =>
      volumes(n).map((v) => ({ id: v.id, version: 1, owner: 'block.VolumeManagerController', spec: v.spec })),
  },
  {
    type: 'MountStatuses.runtime.talos.dev',
    displayType: 'MountStatus',
    namespace: 'runtime',
    aliases: ['mounts'],
    maintenance: false,
    columns: [
      ['Source', (s) => s.source],
      ['Target', (s) => s.target],
      ['Filesystem Type', (s) => s.filesystemType],
    ],
    list: (n) =>
      volumes(n)
        .filter((v) => v.spec.phase === 'ready')
        .map((v) => ({
          id: v.id,
          version: 1,
          owner: 'block.MountController',
          spec: {
            source: v.spec.location,
            target: v.spec.mountLocation,
            filesystemType: v.spec.filesystem,
            options: ['rw', 'relatime'],
            encrypted: false,
          },
        })),
  },
  {
    type: 'DiscoveredVolumes.block.talos.dev',
    displayType: 'DiscoveredVolume',
    namespace: 'runtime',
    aliases: [],
    maintenance: true,
    columns: [
      ['Type', (s) => s.type],
      ['Size', (s) => s.pretty_size],
      ['Discovered', (s) => s.name],
      ['Label', (s) => s.label],
      ['PartitionLabel', (s) => s.partition_label],
    ],
    list: (n) =>
      discoveredVolumes(n).map((v) => ({ id: v.id, version: 1, owner: 'block.DiscoveryController', spec: v.spec })),
  },
  ...networkDefs(),
  extensionStatusDef,
]

/** Links, addresses and routes as Talos' network controllers leave them (lab/network.ts): the minimum of each spec. */
function networkDefs(): ResourceDef[] {
  const state = (n: LabNode) => networkState(n, readConfig(n)?.view.interfaces ?? [])
  return [
    {
      type: 'LinkStatuses.net.talos.dev',
      displayType: 'LinkStatus',
      namespace: 'network',
      aliases: ['link', 'links'],
      maintenance: true,
      columns: [
        ['Type', (s) => s.type],
        ['Kind', (s) => s.kind],
        ['Hw Addr', (s) => s.hardwareAddr],
        ['Oper State', (s) => s.operationalState],
        ['Link State', (s) => s.linkState],
      ],
      list: (n) =>
        state(n).links.map((l, i) => ({
          id: l.link.name,
          version: 1,
          owner: 'network.LinkStatusController',
          spec: {
            index: i + 2,
            type: 'ether',
            kind: '',
            hardwareAddr: l.link.mac,
            permanentAddr: l.link.mac,
            operationalState: l.adminUp && l.link.carrier ? 'up' : 'down',
            linkState: l.adminUp && l.link.carrier,
            busPath: l.link.busPath,
            driver: l.link.driver,
          },
        })),
    },
    {
      type: 'AddressStatuses.net.talos.dev',
      displayType: 'AddressStatus',
      namespace: 'network',
      aliases: ['address', 'addresses'],
      maintenance: true,
      columns: [
        ['Address', (s) => s.address],
        ['Link', (s) => s.linkName],
      ],
      list: (n) =>
        state(n).addresses.map((a) => ({
          id: `${a.linkName}/${a.address}`,
          version: 1,
          owner: 'network.AddressStatusController',
          spec: {
            address: a.address,
            local: a.address.split('/')[0],
            linkName: a.linkName,
            family: 'inet4',
            scope: 'global',
            flags: 'permanent',
            priority: a.priority,
          },
        })),
    },
    {
      type: 'RouteStatuses.net.talos.dev',
      displayType: 'RouteStatus',
      namespace: 'network',
      aliases: ['route', 'routes'],
      maintenance: true,
      columns: [
        ['Destination', (s) => s.dst],
        ['Gateway', (s) => s.gateway],
        ['Link', (s) => s.outLinkName],
        ['Metric', (s) => s.priority],
      ],
      list: (n) =>
        state(n).routes.map((r) => ({
          id: `inet4/${r.gateway}/${r.dst}/${r.priority}`,
          version: 1,
          owner: 'network.RouteStatusController',
          spec: {
            family: 'inet4',
            dst: r.dst,
            src: r.source,
            gateway: r.gateway,
            outLinkName: r.outLinkName,
            table: 'main',
            priority: r.priority,
            scope: 'global',
            type: 'unicast',
            protocol: r.protocol,
          },
        })),
    },
  ]
}

function memberNodeId(m: LabNode): string {
  return Buffer.from(`${m.name}/${m.address}`).toString('base64url').slice(0, 43)
}

function partitionPath(dev: string, idx: number): string {
  return /\d$/.test(dev) ? `${dev}p${idx}` : `${dev}${idx}`
}

function volumes(n: LabNode): { id: string; spec: Record<string, any> }[] {
  const c = readConfig(n)
  if (!c) return []
  const disk = n.hardware.disks.find((d) => d.dev === (n.installDisk ?? c.view.installDisk))
  const out: { id: string; spec: Record<string, any> }[] = []
  if (disk) {
    out.push({
      id: 'STATE',
      spec: {
        phase: 'ready',
        type: 'partition',
        location: partitionPath(disk.dev, 5),
        partitionIndex: 5,
        parentLocation: disk.dev,
        size: 104857600,
        prettySize: '105 MB',
        filesystem: 'xfs',
        mountLocation: '/system/state',
      },
    })
    const eph = Math.max(0, disk.sizeBytes - 2_000_000_000)
    out.push({
      id: 'EPHEMERAL',
      spec: {
        phase: 'ready',
        type: 'partition',
        location: partitionPath(disk.dev, 6),
        partitionIndex: 6,
        parentLocation: disk.dev,
        size: eph,
        prettySize: humanizeBytes(eph),
        filesystem: 'xfs',
        mountLocation: '/var',
      },
    })
  }
  // user volumes where Talos' volume manager puts them, or failed with its error (lab/volumes.ts)
  for (const v of provisionUserVolumes(c.view.userVolumes, n.hardware.disks, n.installDisk ?? c.view.installDisk)) {
    const { id, ...spec } = v
    out.push({
      id,
      spec: Object.fromEntries(
        Object.entries({ ...spec, prettySize: v.size ? humanizeBytes(v.size) : '' }).filter(
          ([, x]) => x !== '' && x !== 0,
        ),
      ),
    })
  }
  return out
}

/**
 * DiscoveredVolumes (pkg/machinery/resources/block/discovered_volume.go): what blkid finds on each disk and on the
 * user volume partitions. `name` is the signature: "gpt" for a partitioned disk, a filesystem or "" for a blank one.
 * The minimum the lab needs: the system disk's own partitions are not listed. The YAML key of the device path is
 * `dev_dath` in v1.10 (the spec's tag has that typo).
 */
function discoveredVolumes(n: LabNode): { id: string; spec: Record<string, unknown> }[] {
  const c = readConfig(n)
  const installDisk = n.installDisk ?? c?.view.installDisk
  const placed = c ? provisionUserVolumes(c.view.userVolumes, n.hardware.disks, installDisk) : []
  return [...n.hardware.disks]
    .sort((a, b) => (a.dev < b.dev ? -1 : 1))
    .flatMap((d) => {
      const id = d.dev.replace('/dev/', '')
      const parts = placed.filter((v) => v.phase === 'ready' && v.parentLocation === d.dev)
      const name = d.dev === installDisk || parts.length ? 'gpt' : (d.signature ?? '')
      const disk = {
        id,
        spec: {
          dev_dath: d.dev,
          type: 'disk',
          device_path: `/sys/devices/virtual/block/${id}`,
          size: d.sizeBytes,
          pretty_size: humanizeBytes(d.sizeBytes),
          sector_size: 512,
          io_size: 512,
          name,
        },
      }
      return [
        disk,
        ...parts.map((v) => ({
          id: v.location.replace('/dev/', ''),
          spec: {
            dev_dath: v.location,
            type: 'partition',
            device_path: `/sys/devices/virtual/block/${id}/${v.location.replace('/dev/', '')}`,
            parent: id,
            parent_dev_path: d.dev,
            size: v.size,
            pretty_size: humanizeBytes(v.size),
            sector_size: 512,
            io_size: 512,
            name: v.filesystem,
            partition_label: v.id,
            partition_index: v.partitionIndex,
          },
        })),
      ]
    })
}

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
