// etcd backups on disk: `talosctl etcd snapshot` into <outputDir>/backups (0600 files in a 0700 directory), each
// verified before it is indexed, the index itself (index.json, 0600), and retention. takeSnapshot is the one way any
// runbook takes a snapshot (10-etcd-backup, 09-upgrade before a control plane, 02/08 before they change things), and
// backupFirstStep is the step 02 and 08 start with.
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { firstMeaningfulLine, run } from '../lib/host/exec.ts'
import { controlPlanes, type Cluster } from '../config/cluster.ts'
import type { InventoryNode } from '../config/inventory.ts'
import { log } from '../lib/runner/log.ts'
import type { StepDef } from '../lib/runner/runner.ts'
import { isBootstrapped, recentEtcdView } from './etcd-view.ts'
import {
  applyRetention,
  backupsDir,
  formatIndex,
  indexFile,
  readBackupIndex,
  parseSnapshotStatus,
  snapshotFileName,
  snapshotIntegrityProblem,
  type BackupEntry,
  type SnapshotStatus,
} from '../lib/talos/etcd-backups.ts'

export { backupsDir, readBackupIndex }

/** Written to a temp file and renamed, so an interrupted run never leaves half an index. */
async function writeBackupIndex(outDir: string, entries: BackupEntry[]): Promise<void> {
  const f = indexFile(outDir)
  await writeFile(`${f}.tmp`, formatIndex(entries), { mode: 0o600 })
  await rename(`${f}.tmp`, f)
}

/**
 * Check a snapshot file: its sha256 trailer (snapshotIntegrityProblem), then bbolt's view of it with
 * `etcdutl snapshot status -w json` (etcd ≥ 3.5), or `etcdctl snapshot status` where only etcd 3.4's client is
 * installed (Debian bookworm's etcd-client). Throws what is wrong.
 */
export async function verifySnapshotFile(file: string): Promise<SnapshotStatus> {
  const problem = snapshotIntegrityProblem(await readFile(file))
  if (problem) throw new Error(`${file}: ${problem}`)
  // etcdctl's snapshot commands are deprecated since 3.5 (and gone in 3.6) in favour of etcdutl: use it when it is there
  const hasEtcdutl = (await run('sh', ['-c', 'command -v etcdutl'], { quiet: true, nothrow: true })).exitCode === 0
  const r = hasEtcdutl
    ? await run('etcdutl', ['snapshot', 'status', '-w', 'json', file], { nothrow: true })
    : await run('etcdctl', ['snapshot', 'status', '-w', 'json', file], { nothrow: true, env: { ETCDCTL_API: '3' } })
  if (r.exitCode === 127)
    throw new Error(`cannot verify ${file}: neither etcdutl nor etcdctl is installed (Debian package etcd-client)`)
  if (r.exitCode !== 0)
    throw new Error(
      `${file} is not a readable etcd snapshot: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.exitCode}`}`,
    )
  return parseSnapshotStatus(r.stdout)
}

/**
 * Stream a snapshot from `node`'s etcd member, verify it and add it to the index. A snapshot that fails verification
 * is deleted and the error says why. On --dry-run nothing is written (talosctl prints the command) and undefined is
 * returned.
 */
export async function takeSnapshot(
  c: Cluster,
  node: { name: string; address: string },
  opts: { reason?: string; now?: Date } = {},
): Promise<BackupEntry | undefined> {
  const dir = backupsDir(c.paths.outDir)
  const at = opts.now ?? new Date()
  const reason = opts.reason ?? 'backup'
  const file = join(dir, snapshotFileName(node.name, at, reason))
  if (c.talos.dryRun) {
    await c.talos.etcdSnapshot(node.address, file)
    return undefined
  }
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700)
  await c.talos.etcdSnapshot(node.address, file)
  let status: SnapshotStatus
  try {
    status = await verifySnapshotFile(file)
  } catch (e) {
    await rm(file, { force: true })
    throw new Error(`snapshot from ${node.name} failed verification and was deleted: ${(e as Error).message}`, {
      cause: e,
    })
  }
  const entry: BackupEntry = {
    file: snapshotFileName(node.name, at, reason),
    member: node.name,
    takenAt: at.toISOString(),
    revision: status.revision,
    hash: status.hash,
    totalKeys: status.totalKeys,
    size: (await stat(file)).size,
    reason,
  }
  await writeBackupIndex(c.paths.outDir, [entry, ...readBackupIndex(c.paths.outDir)])
  return entry
}

/** Keep the `keep` newest snapshots of the index; delete the files of the others. */
export async function pruneBackups(
  outDir: string,
  keep: number,
): Promise<{ kept: BackupEntry[]; removed: BackupEntry[] }> {
  const r = applyRetention(readBackupIndex(outDir), keep)
  for (const e of r.removed) await rm(join(backupsDir(outDir), e.file), { force: true })
  if (r.removed.length) await writeBackupIndex(outDir, r.kept)
  return r
}

/**
 * The member to stream from: `wanted` (--node) or the first control plane whose etcd answers `etcd status` without
 * errors and is not a learner (a learner's data may lag). Throws naming every control plane and why it was passed over.
 */
export async function pickMember(c: Cluster, wanted?: string): Promise<InventoryNode> {
  const cps = controlPlanes(c.inv)
  if (wanted !== undefined && !cps.some((n) => n.name === wanted))
    throw new Error(
      `--node ${wanted}: not a control-plane node of ${c.inventoryFile} (control planes: ${cps.map((n) => n.name).join(', ')})`,
    )
  const why: string[] = []
  for (const n of cps.filter((x) => wanted === undefined || x.name === wanted)) {
    try {
      const [row] = await c.talos.etcdStatus([n.address])
      if (!row) why.push(`${n.name}: no etcd status row`)
      else if (row.learner) why.push(`${n.name}: is a learner`)
      else if (row.errors) why.push(`${n.name}: etcd reports ${row.errors}`)
      else return n
    } catch (e) {
      why.push(`${n.name}: ${firstMeaningfulLine((e as Error).message)}`)
    }
  }
  throw new Error(`no etcd member to take a snapshot from (${why.join('; ')})`)
}

export async function snapshotStep(
  c: Cluster,
  member: InventoryNode,
  reason?: string,
): Promise<Record<string, unknown>> {
  const e = await takeSnapshot(c, member, { reason })
  if (!e) return { dryRun: true }
  log.info(
    `  ${e.file}: revision ${e.revision}, hash ${e.hash}, ${e.totalKeys} keys, ${e.size} bytes, from ${e.member} — verified`,
  )
  return { ...e }
}

/**
 * The step 02 and 08 run before they change a running cluster: a verified snapshot in the backup index, so a change
 * gone wrong can be undone with 11-etcd-recover. Skipped with --no-backup, on a cluster not bootstrapped yet (no
 * etcd data to save: 02's first run), and when `notNeeded` gives a reason (02 with no node to change).
 */
export function backupFirstStep<C extends Cluster & { dryRun: boolean; flags: { noBackup?: boolean } }>(
  reason: string,
  /** Why no snapshot is needed this run (02: no node changes), or undefined to take one. */
  notNeeded?: (c: C) => Promise<string | undefined>,
): StepDef<C> {
  return {
    name: 'etcd-backup',
    describe: 'take a verified etcd snapshot first (as 10-etcd-backup does; --no-backup skips it)',
    detail: (c) => backupsDir(c.paths.outDir),
    targets: (c) => controlPlanes(c.inv).map((n) => n.name),
    async check(c) {
      if (c.flags.noBackup) return { done: true, reason: '--no-backup' }
      const skip = await notNeeded?.(c)
      if (skip) return { done: true, reason: skip }
      // bootstrapped a moment ago in the quorum step is bootstrapped now: etcd is never un-bootstrapped in place
      if (!isBootstrapped(await recentEtcdView(c, 30_000)))
        return { done: true, reason: 'etcd is not bootstrapped yet: nothing to back up' }
      return { done: false }
    },
    async run(c) {
      return snapshotStep(c, await pickMember(c), reason)
    },
  }
}
