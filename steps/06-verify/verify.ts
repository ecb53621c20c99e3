// 06-verify: run the post-change check suite, keep every report, and say what changed since the last one.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { diffReports, type ReportDiff } from '../../checks/engine/diff.ts'
import type { Report } from '../../checks/engine/types.ts'
import { stateDir } from '../../lib/runner/journal.ts'
import { writeFileAtomic } from '../../lib/host/atomic-write.ts'

export const reportsDir = (cluster: string) => join(stateDir(), 'reports', cluster)

function latestReport(cluster: string): { file: string; report: Report } | undefined {
  const dir = reportsDir(cluster)
  if (!existsSync(dir)) return undefined
  const last = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .pop()
  return last
    ? { file: join(dir, last), report: JSON.parse(readFileSync(join(dir, last), 'utf8')) as Report }
    : undefined
}

/** The diff against the latest stored report, if any, storing nothing (what a dry run shows). */
export function compareWithLatest(cluster: string, report: Report): { diff?: ReportDiff; previous?: string } {
  const prev = latestReport(cluster)
  return { previous: prev?.file, diff: prev ? diffReports(prev.report, report) : undefined }
}

/** Stores the report (file names sort by time) and returns the diff against the previous one, if any. */
export function storeReport(cluster: string, report: Report): { file: string; diff?: ReportDiff; previous?: string } {
  const prev = latestReport(cluster)
  const dir = reportsDir(cluster)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, `${report.startedAt.replace(/[:.]/g, '-')}.json`)
  writeFileAtomic(file, JSON.stringify(report, null, 2) + '\n', 0o600)
  return { file, previous: prev?.file, diff: prev ? diffReports(prev.report, report) : undefined }
}
