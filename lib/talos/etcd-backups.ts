// etcd backups as files: what makes a snapshot file sound, what `etcdutl/etcdctl snapshot status -w json` says about
// it, the backup index (<outputDir>/backups/index.json) and the retention rule. Pure except readBackupIndex, so each
// rule is unit-tested on bytes and text; taking snapshots is steps/etcd-backup.ts, judging their age
// checks/defs/etcd.ts.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** etcd appends the sha256 of the bbolt database to every snapshot it streams. */
export const SHA256_SIZE = 32

/** One snapshot in `<outputDir>/backups/index.json`. */
export interface BackupEntry {
  /** File name inside the backups directory. */
  file: string
  /** The control-plane node whose etcd member streamed it. */
  member: string
  /** When it was taken (ISO 8601, UTC). */
  takenAt: string
  /** etcd revision and bbolt hash (8 hex digits) as `snapshot status` reports them. */
  revision: number
  hash: string
  totalKeys: number
  /** Bytes on disk. */
  size: number
  /** Why it was taken: "backup" (10-etcd-backup), "before-upgrade-<node>" (09), "before-configure" (02), … */
  reason: string
}

export interface SnapshotStatus {
  hash: string
  revision: number
  totalKeys: number
  totalSize: number
}

/**
 * A snapshot streamed by etcd's Maintenance/Snapshot is the bbolt file plus its sha256: its size is a multiple of 512
 * plus 32 (the check talosctl makes, cmd/talosctl/cmd/talos/etcd.go at v1.10.3, after etcd's client/v3/snapshot), and
 * the last 32 bytes are the sha256 of everything before them (etcd server/etcdserver/api/v3rpc/maintenance.go appends
 * h.Sum(nil)). Returns what is wrong, or undefined when the file is sound. `snapshot status` alone does not see a
 * flipped byte in a free page; this does.
 */
export function snapshotIntegrityProblem(bytes: Buffer): string | undefined {
  if (bytes.length % 512 !== SHA256_SIZE)
    return `sha256 checksum not found (size ${bytes.length} is not a multiple of 512 plus 32)`
  const body = bytes.subarray(0, bytes.length - SHA256_SIZE)
  const want = bytes.subarray(bytes.length - SHA256_SIZE)
  const got = createHash('sha256').update(body).digest()
  if (!got.equals(want))
    return `sha256 mismatch: the file says ${want.toString('hex').slice(0, 16)}…, its content hashes to ${got.toString('hex').slice(0, 16)}…`
  return undefined
}

/** `etcdutl snapshot status -w json FILE` (or etcdctl 3.4's): {"hash":1288628876,"revision":2,"totalKey":5,"totalSize":20480}. */
export function parseSnapshotStatus(stdout: string): SnapshotStatus {
  const line = stdout
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('{'))
  if (!line) throw new Error(`snapshot status printed no JSON: ${JSON.stringify(stdout.slice(0, 200))}`)
  const j = JSON.parse(line) as Record<string, unknown>
  const num = (k: string) => {
    const v = j[k]
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new Error(`snapshot status: field ${k} is missing or not a number in ${line}`)
    return v
  }
  return {
    hash: (num('hash') >>> 0).toString(16).padStart(8, '0'),
    revision: num('revision'),
    totalKeys: num('totalKey'),
    totalSize: num('totalSize'),
  }
}

/** `etcd-<member>-<time>.db`, the time with ':' and '.' made file-name safe and sortable. */
export function snapshotFileName(member: string, at: Date, reason = 'backup'): string {
  const prefix = reason === 'backup' ? 'etcd' : `etcd-${reason}`
  return `${prefix}-${member}-${at.toISOString().replace(/[:.]/g, '-')}.db`
}

const byNewest = (a: BackupEntry, b: BackupEntry) => Date.parse(b.takenAt) - Date.parse(a.takenAt)

/** The entries to keep (the `keep` newest) and those to delete. */
export function applyRetention(entries: BackupEntry[], keep: number): { kept: BackupEntry[]; removed: BackupEntry[] } {
  const sorted = [...entries].sort(byNewest)
  return { kept: sorted.slice(0, keep), removed: sorted.slice(keep) }
}

export const newestBackup = (entries: BackupEntry[]): BackupEntry | undefined => [...entries].sort(byNewest)[0]

/** index.json text → entries; a file that is not an index is an error naming it. */
export function parseIndex(text: string, file: string): BackupEntry[] {
  let j: unknown
  try {
    j = JSON.parse(text)
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`, { cause: e })
  }
  const list = (j as { snapshots?: unknown })?.snapshots
  if (!Array.isArray(list)) throw new Error(`${file}: field snapshots: must be a list`)
  list.forEach((e, i) => {
    const x = e as Partial<BackupEntry>
    for (const k of ['file', 'member', 'takenAt', 'hash', 'reason'] as const)
      if (typeof x?.[k] !== 'string') throw new Error(`${file}: snapshots[${i}].${k}: must be a string`)
    for (const k of ['revision', 'totalKeys', 'size'] as const)
      if (typeof x?.[k] !== 'number') throw new Error(`${file}: snapshots[${i}].${k}: must be a number`)
    if (Number.isNaN(Date.parse(x.takenAt!)))
      throw new Error(`${file}: snapshots[${i}].takenAt: not a time (${x.takenAt})`)
  })
  return list as BackupEntry[]
}

export const formatIndex = (entries: BackupEntry[]): string =>
  `${JSON.stringify({ snapshots: [...entries].sort(byNewest) }, null, 2)}\n`

/** "3h 12m" / "2d 4h" / "45 s": how old a snapshot is, for messages. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h ${m % 60}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

export const backupsDir = (outDir: string) => join(outDir, 'backups')
export const indexFile = (outDir: string) => join(backupsDir(outDir), 'index.json')

/** The index of `outDir`'s backups; [] when none was ever taken. */
export function readBackupIndex(outDir: string): BackupEntry[] {
  const f = indexFile(outDir)
  if (!existsSync(f)) return []
  return parseIndex(readFileSync(f, 'utf8'), f)
}

/** Default of the inventory's cluster.etcdBackupMaxAge. */
export const DEFAULT_BACKUP_MAX_AGE = '24h'
