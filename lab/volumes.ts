// Talos v1.10.3's volume manager for user volumes, on a lab machine's disks: which disk each UserVolumeConfig lands
// on, or why it cannot be placed. Sources (siderolabs/talos v1.10.3, internal/app/machined/pkg/controllers/block/):
//   - volume_manager.go:187,287: disks are listed sorted by ID (COSI's in-memory state sorts List results by ID:
//     cosi-project/runtime v0.10.2 pkg/state/impl/inmem/collection.go:122), volume configs are sorted with
//     CompareVolumeConfigs, a stable sort of the list (itself in ID order: u-accounts before u-ledger);
//   - internal/volumes/volumes.go:20-45 CompareVolumeConfigs: same wave, then volumes that do not grow first, then
//     the smaller maxSize first (no maxSize = the largest);
//   - internal/volumes/locate.go:90-131: the disks the CEL selector matches (read-only ones skipped), in that order;
//     none → "no disks matched for volume"; the first one CheckDiskForProvisioning accepts is used; none accepted →
//     the same message (retried);
//   - internal/volumes/disk.go:27-102 CheckDiskForProvisioning: a disk blkid finds nothing on is used when it holds
//     minSize plus 67 sectors of GPT; a GPT disk when its largest free run holds minSize; ANY other signature (an old
//     filesystem, an MBR table) → never;
//   - internal/volumes/partition.go:64-79 CreatePartition: the partition is maxSize, or all the free run when there
//     is no maxSize or the run is smaller;
//   - volume_manager.go:392-402: a failure sets phase failed, preFailPhase the phase before, errorMessage the error.
// Deviation: the lab recomputes placement from the config and the disks each time instead of remembering the
// partitions it created, so a volume does not stay on a disk after its selector changes (Talos finds its u-<name>
// partition wherever it is first: locate.go:45-66).
import { matchDiskSelector } from './disk-selector.ts'
import type { LabDisk } from './state.ts'

export interface UserVolume {
  name: string
  /** CEL expression from provisioning.diskSelector.match */
  diskSelector: string
  minSize?: string
  maxSize?: string
  filesystem: string
}

/** The spec fields of a VolumeStatus (pkg/machinery/resources/block/volume_status.go), for a user volume. */
export interface UserVolumeStatus {
  id: string
  phase: 'ready' | 'failed'
  preFailPhase?: 'waiting'
  type: 'partition'
  location: string
  partitionIndex: number
  parentLocation: string
  size: number
  filesystem: string
  mountLocation: string
  errorMessage?: string
}

const SECTOR = 512
/** GPT + protective MBR, as CheckDiskForProvisioning counts it (disk.go:44). */
const GPT_OVERHEAD = SECTOR * 67
/** The 1 MiB alignment of the first partition on a fresh GPT (go-blockdevice partitioning/gpt). */
const GPT_ALIGNMENT = 2 ** 20

const BYTES: Record<string, number> = {
  B: 1,
  kB: 1e3,
  KB: 1e3,
  KiB: 2 ** 10,
  MB: 1e6,
  MiB: 2 ** 20,
  GB: 1e9,
  GiB: 2 ** 30,
  TB: 1e12,
  TiB: 2 ** 40,
  PB: 1e15,
  PiB: 2 ** 50,
}

/** A Talos ByteSize as the config gives it ("100GiB", "1TB"); 0 when absent. */
function bytes(s: string | undefined): number {
  if (!s) return 0
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)?$/.exec(String(s).trim())
  return m ? Math.round(Number(m[1]) * (BYTES[m[2] ?? 'B'] ?? NaN)) : NaN
}

/** A disk as the volume manager sees it during one pass: what is on it, how much is free. */
interface DiskState {
  disk: LabDisk
  id: string
  /** GPT partitions created (the system disk: Talos' own, which EPHEMERAL grows to fill) */
  partitions: number
  /** largest free run on a GPT disk; for a blank disk, its size */
  free: number
}

const partitionPath = (dev: string, idx: number) => (/\d$/.test(dev) ? `${dev}p${idx}` : `${dev}${idx}`)

/** CompareVolumeConfigs for user volumes (one wave, grow unset): the smaller maxSize first, none last. */
const byMaxSize = (a: UserVolume, b: UserVolume) => (bytes(a.maxSize) || Infinity) - (bytes(b.maxSize) || Infinity)

/** Whether CheckDiskForProvisioning accepts this disk for a volume of minSize bytes. */
function canProvision(d: DiskState, minSize: number): boolean {
  if (d.partitions > 0) return d.free >= minSize
  if (d.disk.signature) return false
  return d.disk.sizeBytes >= minSize + GPT_OVERHEAD
}

/** Place every user volume on the machine's disks as Talos' volume manager does; one status per volume. */
export function provisionUserVolumes(
  volumes: UserVolume[],
  disks: LabDisk[],
  installDisk: string | undefined,
): UserVolumeStatus[] {
  const state: DiskState[] = disks
    .map((disk) => ({
      disk,
      id: disk.dev.replace('/dev/', ''),
      // the system disk holds EFI, META, STATE and EPHEMERAL, which takes the rest (no room for user volumes)
      partitions: disk.dev === installDisk ? 4 : 0,
      free: disk.dev === installDisk ? 0 : disk.sizeBytes,
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const order = [...volumes].sort((a, b) => (a.name < b.name ? -1 : 1)).sort(byMaxSize)
  return order.map((vol) => {
    const matched = state.filter((d) =>
      matchDiskSelector(vol.diskSelector, { disk: d.disk, systemDisk: d.disk.dev === installDisk }),
    )
    const minSize = bytes(vol.minSize)
    const picked = matched.find((d) => canProvision(d, minSize))
    if (!picked) return failed(vol)
    const available = picked.partitions > 0 ? picked.free : picked.disk.sizeBytes - GPT_OVERHEAD - GPT_ALIGNMENT
    const maxSize = bytes(vol.maxSize)
    const size = maxSize === 0 || maxSize >= available ? available : maxSize
    picked.partitions += 1
    picked.free = available - size
    return {
      id: `u-${vol.name}`,
      phase: 'ready',
      type: 'partition',
      location: partitionPath(picked.disk.dev, picked.partitions),
      partitionIndex: picked.partitions,
      parentLocation: picked.disk.dev,
      size,
      filesystem: vol.filesystem,
      mountLocation: `/var/mnt/${vol.name}`,
    }
  })
}

/** locate.go returns the same error whether no disk matched or none had room (the second is retried). */
function failed(vol: UserVolume): UserVolumeStatus {
  return {
    id: `u-${vol.name}`,
    phase: 'failed',
    preFailPhase: 'waiting',
    type: 'partition',
    location: '',
    partitionIndex: 0,
    parentLocation: '',
    size: 0,
    filesystem: '',
    mountLocation: `/var/mnt/${vol.name}`,
    errorMessage: 'no disks matched for volume',
  }
}

/**
 * `talosctl wipe disk <name>` on a disk no volume uses: its old signatures are gone (storaged BlockDeviceWipe,
 * internal/app/storaged/server.go:102-131; the FAST method zeroes the start and end of the device). A disk that a
 * ready volume sits on is refused as Talos refuses it (server.go:208-231). Returns the disks after the wipe.
 */
export function wipeDisk(disks: LabDisk[], name: string, inUse: UserVolumeStatus[]): LabDisk[] {
  const dev = `/dev/${name}`
  if (!disks.some((d) => d.dev === dev)) throw new Error(`blockdevice "${name}" not found`)
  const user = inUse.find((v) => v.phase === 'ready' && v.parentLocation === dev)
  if (user) throw new Error(`blockdevice "${name}" is in use by volume "${user.id}"`)
  return disks.map((d) => (d.dev === dev ? { ...d, signature: undefined } : d))
}
