// Which disk a validator volume goes on. Talos v1.10 provisions each UserVolumeConfig on the FIRST disk its CEL
// `diskSelector` matches that has room (internal/app/machined/pkg/controllers/block/internal/volumes/locate.go:90-128,
// disks in the order of their IDs: nvme0n1 < nvme1n1 < sda), volumes in order of maxSize, unbounded last
// (volumes.go:20-45 CompareVolumeConfigs). A selector that matches two disks therefore lets a volume land on the other
// volume's disk as soon as that one sorts first and has room. So the inventory names each volume's disk exactly:
// its serial or WWID (as `talosctl get disks` shows them), or a size range no other volume's range overlaps.
// This module renders that choice as CEL and decides which known disks it matches.

/** How an inventory volume names its one disk (validator.storage[].disk): exactly one of the three. */
export interface VolumeDisk {
  serial?: string
  wwid?: string
  /** Talos ByteSizes, both inclusive: the disk's size must lie in [min, max]. */
  size?: { min: string; max: string }
}

/** What is known of a disk: `talosctl get disks` (dev_path, serial, wwid, size), or the lab's hardware profile. */
export interface KnownDisk {
  dev: string
  serial?: string
  wwid?: string
  sizeBytes: number
}

const UNITS: Record<string, number> = {
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

/** Talos ByteSize ("100GiB", "2TB", "512MB") → bytes; NaN when it is not one. */
export function parseByteSize(s: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(B|kB|KB|KiB|MB|MiB|GB|GiB|TB|TiB|PB|PiB)?$/.exec(s.trim())
  if (!m) return NaN
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'B']!)
}

/**
 * A serial or WWID goes into a CEL string literal: printable ASCII without the quote and backslash that would end or
 * escape it (real ones are letters, digits, ".", "-", "_", ":" and, for t10 WWIDs, spaces).
 */
export const DISK_ID = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/
export const diskIdSafe = (s: string) => DISK_ID.test(s) && !/["\\]/.test(s)

/** Which of serial, wwid and size are given. */
export const givenKeys = (d: VolumeDisk) => (['serial', 'wwid', 'size'] as const).filter((k) => d[k] !== undefined)

/** The size range in bytes, [min, max]. */
export const sizeRange = (size: { min: string; max: string }): [number, number] => [
  parseByteSize(size.min),
  parseByteSize(size.max),
]

/**
 * The CEL expression Talos evaluates against each disk (celenv.DiskLocator: `disk` is the Disk resource's spec,
 * fields serial, wwid, size; `system_disk` is true for the disk Talos is installed on). Sizes are uint literals in
 * bytes, as disk.size is a uint64. A size range also excludes the system disk, whose size a range could match.
 */
export function diskSelectorCel(d: VolumeDisk): string {
  if (d.serial !== undefined) return `disk.serial == "${d.serial}"`
  if (d.wwid !== undefined) return `disk.wwid == "${d.wwid}"`
  const [min, max] = sizeRange(d.size!)
  return `disk.size >= ${min}u && disk.size <= ${max}u && !system_disk`
}

/** Whether the rendered selector matches this disk (the same test Talos' CEL makes, for the three forms above). */
export function volumeDiskMatches(d: VolumeDisk, disk: KnownDisk, systemDisk: boolean): boolean {
  if (d.serial !== undefined) return disk.serial === d.serial
  if (d.wwid !== undefined) return disk.wwid === d.wwid
  const [min, max] = sizeRange(d.size!)
  return !systemDisk && disk.sizeBytes >= min && disk.sizeBytes <= max
}

/** `serial "S6B0…"`, `wwid "eui.…"`, `size 1.8TB..2.2TB`: how messages name the disk a volume asks for. */
export function describeVolumeDisk(d: VolumeDisk): string {
  if (d.serial !== undefined) return `serial ${JSON.stringify(d.serial)}`
  if (d.wwid !== undefined) return `wwid ${JSON.stringify(d.wwid)}`
  return `size ${d.size!.min}..${d.size!.max}`
}

/**
 * Whether two volumes' disks can be the same disk, judged from the inventory alone: the same serial or WWID, or
 * size ranges that overlap. A serial and a size range (or a WWID) can only be compared on known hardware.
 */
export function disksMayCoincide(a: VolumeDisk, b: VolumeDisk): boolean {
  if (a.serial !== undefined && b.serial !== undefined) return a.serial === b.serial
  if (a.wwid !== undefined && b.wwid !== undefined) return a.wwid === b.wwid
  if (a.size && b.size) {
    const [amin, amax] = sizeRange(a.size)
    const [bmin, bmax] = sizeRange(b.size)
    return amin <= bmax && bmin <= amax
  }
  return false
}
