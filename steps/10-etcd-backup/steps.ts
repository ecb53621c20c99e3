// The steps of 10-etcd-backup: pick a healthy member, snapshot and verify it, apply retention.
import { log } from '../../lib/runner/log.ts'
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { firstMeaningfulLine } from '../../lib/host/exec.ts'
import { backupsDir, pruneBackups, takeSnapshot } from './backup.ts'
import { etcdView, isBootstrapped } from '../03-bootstrap/steps.ts'
import type { StepDef } from '../../lib/runner/runner.ts'
import { formatAge } from '../../lib/talos/etcd-backups.ts'

export const DEFAULT_KEEP = 20

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

export async function retentionStep(c: Cluster, keep: number, dryRun: boolean): Promise<Record<string, unknown>> {
  if (dryRun) return { keep }
  const { kept, removed } = await pruneBackups(c.paths.outDir, keep)
  for (const e of removed)
    log.info(`  removed ${e.file} (${formatAge(Date.now() - Date.parse(e.takenAt))} old, revision ${e.revision})`)
  log.info(`  ${kept.length} snapshot(s) kept (--keep ${keep}), ${removed.length} removed`)
  return { kept: kept.length, removed: removed.map((e) => e.file) }
}

/**
 * The step 02 and 08 run before they change a running cluster: a verified snapshot in the backup index, so a change
 * gone wrong can be undone with 11-etcd-recover. Skipped with --no-backup, and on a cluster not bootstrapped yet (no
 * etcd data to save: 02's first run).
 */
export function backupFirstStep<C extends Cluster & { dryRun: boolean; flags: { noBackup?: boolean } }>(
  reason: string,
): StepDef<C> {
  return {
    name: 'etcd-backup',
    summary: 'take a verified etcd snapshot first (as 10-etcd-backup does; --no-backup skips it)',
    describe: (c) =>
      `Take a verified etcd snapshot into ${backupsDir(c.paths.outDir)} before changing anything (--no-backup skips it)`,
    targets: (c) => controlPlanes(c.inv).map((n) => n.name),
    async check(c) {
      if (c.flags.noBackup) return { done: true, reason: '--no-backup' }
      if (!isBootstrapped(await etcdView(c)))
        return { done: true, reason: 'etcd is not bootstrapped yet: nothing to back up' }
      return { done: false }
    },
    async run(c) {
      return snapshotStep(c, await pickMember(c), reason)
    },
  }
}
