// The COSI resources a lab machine serves (`talosctl get`), keyed by Talos's resource type, each with the namespace
// Talos keeps it in (the definition's DefaultNamespace) and whether it exists before the machine has a config.
// lab/talos-api decodes every spec strictly into the real Go spec type (cosi.go typedResource), so a field name
// Talos does not have fails the `get`. MachineConfigs are served by talos-api itself, from the config.
// Types the lab cannot fill honestly list empty.
import type { LabNode } from '../state.ts'
import { blockMountStatuses, disks, legacyMountStatuses, volumeStatuses } from './resources-block.ts'
import { hostnameStatus, members } from './resources-cluster.ts'
import { extensionStatuses, machineStatus, serviceResources } from './resources-runtime.ts'
import { kernelParamStatuses } from './kernel-params.ts'
import { discoveredVolumes } from './resources-discovery.ts'
import { addressStatuses, ethernetStatuses, linkStatuses, routeStatuses } from './resources-network.ts'

import type { ModelResource } from './model-resource.ts'

export type { ModelResource }

interface ResourceKind {
  namespace: string
  /** Present on a machine in maintenance mode (controllers that run without a config). */
  maintenance: boolean
  list(n: LabNode): ModelResource[] | Promise<ModelResource[]>
}

export const RESOURCE_KINDS: Record<string, ResourceKind> = {
  'Disks.block.talos.dev': { namespace: 'runtime', maintenance: true, list: disks },
  'VolumeStatuses.block.talos.dev': { namespace: 'runtime', maintenance: false, list: volumeStatuses },
  'MountStatuses.block.talos.dev': { namespace: 'runtime', maintenance: false, list: blockMountStatuses },
  'MountStatuses.runtime.talos.dev': { namespace: 'runtime', maintenance: false, list: legacyMountStatuses },
  'MachineStatuses.runtime.talos.dev': { namespace: 'runtime', maintenance: true, list: machineStatus },
  'KernelParamStatuses.runtime.talos.dev': { namespace: 'runtime', maintenance: true, list: kernelParamStatuses },
  'ExtensionStatuses.runtime.talos.dev': { namespace: 'runtime', maintenance: true, list: extensionStatuses },
  'HostnameStatuses.net.talos.dev': { namespace: 'network', maintenance: false, list: hostnameStatus },
  'Members.cluster.talos.dev': { namespace: 'cluster', maintenance: false, list: members },
  'DiscoveredVolumes.block.talos.dev': { namespace: 'runtime', maintenance: true, list: discoveredVolumes },
  'LinkStatuses.net.talos.dev': { namespace: 'network', maintenance: true, list: linkStatuses },
  'AddressStatuses.net.talos.dev': { namespace: 'network', maintenance: true, list: addressStatuses },
  'RouteStatuses.net.talos.dev': { namespace: 'network', maintenance: true, list: routeStatuses },
  // EthernetStatusController runs without a config too (it only watches links): ethernet_status.go
  'EthernetStatuses.net.talos.dev': { namespace: 'network', maintenance: true, list: ethernetStatuses },
  'Services.v1alpha1.talos.dev': { namespace: 'runtime', maintenance: false, list: serviceResources },
  // machined's VersionController writes it on every boot, maintenance mode included (controllers/runtime/version.go)
  'Versions.runtime.talos.dev': {
    namespace: 'runtime',
    maintenance: true,
    list: (n) => [{ id: 'version', owner: 'runtime.VersionController', spec: { version: n.talosVersion } }],
  },
}

/** The `resources` op: every resource of one type on one machine, [{namespace, id, owner, spec}]. */
export async function resources(n: LabNode, args: Record<string, unknown>): Promise<unknown> {
  const kind = RESOURCE_KINDS[String(args.type)]
  if (!kind || (n.stage === 'maintenance' && !kind.maintenance)) return []
  return (await kind.list(n)).map((r) => ({ namespace: kind.namespace, ...r }))
}
