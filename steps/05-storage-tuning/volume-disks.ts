// 05's volume-disks step: is each validator volume on the one disk the inventory names, and if Talos could not
// create it, why? Read from the node: VolumeStatus (phase, location, errorMessage), Disk (serial, wwid, size) and
// DiscoveredVolume (what blkid finds on each disk). Talos' own error does not say why a disk was refused: locate.go
// returns "no disks matched for volume" both when no disk matched and when every matching disk was refused
// (talos v1.10.3 internal/app/machined/pkg/controllers/block/internal/volumes/locate.go:109-131), and
// CheckDiskForProvisioning (disk.go:27-102) refuses any disk whose blkid signature is neither empty nor GPT, and a
// GPT one without a free run of minSize. The signature on the disk tells which.
import type { Cluster } from '../../config/cluster.ts'
import type { InventoryNode, StorageSpec } from '../../config/inventory.ts'
import { describeVolumeDisk, volumeDiskMatches } from '../../config/volume-disk.ts'
import type { TalosResource } from '../../lib/talos/parse.ts'

/** VolumeStatus spec fields 05 reads (pkg/machinery/resources/block/volume_status.go). */
export interface VolumeStatusSpec {
  phase: string
  location?: string
  parentLocation?: string
  errorMessage?: string
}

/** Disk spec fields (pkg/machinery/resources/block/disk.go). */
export interface DiskSpec {
  dev_path: string
  size: number
  serial?: string
  wwid?: string
}

/** DiscoveredVolume spec fields (discovered_volume.go; the device path's YAML/JSON key is `dev_dath` in v1.10). */
export interface DiscoveredVolumeSpec {
  type: string
  /** what blkid found: "gpt", a filesystem ("xfs", "ext4", …), "" for nothing */
  name: string
  label?: string
  parent?: string
  partition_label?: string
}

export interface VolumeDiskFacts {
  statuses: TalosResource<VolumeStatusSpec>[]
  disks: TalosResource<DiskSpec>[]
  discovered: TalosResource<DiscoveredVolumeSpec>[]
}

export interface VolumeDiskContext {
  node: Pick<InventoryNode, 'name' | 'address' | 'installDisk'>
  talosconfig: string
  inventoryFile: string
}

/** Ask the node for its volume statuses, disks and discovered volumes (by full type name: no alias guessing). */
export async function readVolumeDiskFacts(
  c: Pick<Cluster, 'talos'>,
  node: Pick<InventoryNode, 'address'>,
): Promise<VolumeDiskFacts> {
  const at = [node.address]
  const [statuses, disks, discovered] = await Promise.all([
    c.talos.get<VolumeStatusSpec>('VolumeStatuses.block.talos.dev', at),
    c.talos.get<DiskSpec>('Disks.block.talos.dev', at),
    c.talos.get<DiscoveredVolumeSpec>('DiscoveredVolumes.block.talos.dev', at),
  ])
  return { statuses, disks, discovered }
}

const diskLabel = (d: TalosResource<DiskSpec>) =>
  `${d.spec.dev_path} (serial ${d.spec.serial || '-'}, ${(d.spec.size / 1e9).toFixed(0)} GB)`

/** What is wrong with each volume's disk, each with what to do; empty when every volume is ready on its disk. */
export function volumeDiskProblems(want: StorageSpec[], facts: VolumeDiskFacts, ctx: VolumeDiskContext): string[] {
  const talosctl = `talosctl --talosconfig ${ctx.talosconfig} -n ${ctx.node.address}`
  return want.flatMap((s, i) => {
    const named = facts.disks.filter((d) =>
      volumeDiskMatches(
        s.disk,
        { dev: d.spec.dev_path, serial: d.spec.serial, wwid: d.spec.wwid, sizeBytes: d.spec.size },
        d.spec.dev_path === ctx.node.installDisk,
      ),
    )
    const field = `validator.storage[${i}].disk in ${ctx.inventoryFile}`
    if (named.length !== 1)
      return [
        `${s.name}: ${describeVolumeDisk(s.disk)} matches ${named.length ? named.map((d) => d.spec.dev_path).join(' and ') : 'no disk'} of ${ctx.node.name}, which has ${facts.disks.map(diskLabel).join(', ')}: fix ${field} (${talosctl} get disks)`,
      ]
    const disk = named[0]!
    const st = facts.statuses.find((v) => v.metadata.id === `u-${s.name}`)
    if (!st)
      return [
        `${s.name}: ${ctx.node.name} has no volume u-${s.name}: its UserVolumeConfig is not applied; run 02-configure`,
      ]
    if (st.spec.phase === 'ready')
      return st.spec.parentLocation === disk.spec.dev_path
        ? []
        : [wrongDisk(s, st.spec.location ?? '?', st.spec.parentLocation ?? '?', disk, facts, talosctl)]
    return [notCreated(s, st.spec, disk, facts, talosctl)]
  })
}

/** A ready volume on another disk: Talos finds it there by its partition label and never moves it. */
function wrongDisk(
  s: StorageSpec,
  location: string,
  parent: string,
  want: TalosResource<DiskSpec>,
  facts: VolumeDiskFacts,
  talosctl: string,
): string {
  const on = facts.disks.find((d) => d.spec.dev_path === parent)
  return (
    `${s.name}: u-${s.name} is ${location} on ${on ? diskLabel(on) : parent}, not on the disk the inventory names, ${diskLabel(want)}. ` +
    `Talos keeps a volume wherever its u-${s.name} partition is (locate.go:45-66), so re-applying the config does not move it. ` +
    `To move it (its data is lost): save what you need from ${s.mountPoint}, remove the UserVolumeConfig "${s.name}" from the node's config ` +
    `(${talosctl} edit machineconfig), then ${talosctl} wipe disk ${location.replace('/dev/', '')} --drop-partition, then re-run 02-configure and 05`
  )
}

/** A volume Talos did not create: say what is on its disk that Talos refuses, and how to wipe it. */
function notCreated(
  s: StorageSpec,
  st: VolumeStatusSpec,
  disk: TalosResource<DiskSpec>,
  facts: VolumeDiskFacts,
  talosctl: string,
): string {
  const id = disk.metadata.id
  const found = facts.discovered.find((v) => v.metadata.id === id && v.spec.type === 'disk')?.spec
  const state = `u-${s.name} is ${st.phase}${st.errorMessage ? ` (${st.errorMessage})` : ''}`
  const wipe = `wipe it (everything on it is lost): ${talosctl} wipe disk ${id}; Talos then creates the volume by itself: re-run 05`
  if (found?.name && found.name !== 'gpt')
    return (
      `${s.name}: ${state}: ${diskLabel(disk)} carries an old ${found.name} signature${found.label ? ` (label "${found.label}")` : ''}, ` +
      `and Talos v1.10 partitions only a blank disk or a GPT disk with room (volumes/disk.go:52-55). If nothing on it is needed, ${wipe}`
    )
  if (found?.name === 'gpt') {
    const parts = facts.discovered.filter((v) => v.spec.parent === id)
    const labels = parts.map((p) => p.spec.partition_label || p.metadata.id).join(', ')
    return (
      `${s.name}: ${state}: ${diskLabel(disk)} has a GPT partition table (${parts.length} partition(s)${labels ? `: ${labels}` : ''}) ` +
      `without a free run of ${s.minSize ?? 'the volume size'}, and Talos v1.10 only adds a partition in free space (volumes/disk.go:93-98). If nothing on it is needed, ${wipe}`
    )
  }
  return `${s.name}: ${state} on ${diskLabel(disk)}, which is blank: see ${talosctl} get volumestatus u-${s.name} -o yaml and ${talosctl} dmesg`
}
