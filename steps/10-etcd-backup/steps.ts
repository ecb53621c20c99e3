// The steps of 10-etcd-backup that only it runs: retention (picking a member and taking a verified snapshot are
// steps/etcd-backup.ts, shared with 02, 08 and 09).
import { log } from '../../lib/runner/log.ts'
import type { Cluster } from '../../config/cluster.ts'
import { pruneBackups } from '../etcd-backup.ts'
import { formatAge } from '../../lib/talos/etcd-backups.ts'

export const DEFAULT_KEEP = 20

export async function retentionStep(c: Cluster, keep: number, dryRun: boolean): Promise<Record<string, unknown>> {
  if (dryRun) return { keep }
  const { kept, removed } = await pruneBackups(c.paths.outDir, keep)
  for (const e of removed)
    log.info(`  removed ${e.file} (${formatAge(Date.now() - Date.parse(e.takenAt))} old, revision ${e.revision})`)
  log.info(`  ${kept.length} snapshot(s) kept (--keep ${keep}), ${removed.length} removed`)
  return { kept: kept.length, removed: removed.map((e) => e.file) }
}
