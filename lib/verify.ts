// 06-verify: run the post-change check suite, keep every report, and say what changed since the last one.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ALL_CHECKS } from '../checks/defs/index.ts'
import { contextFor, loadCheckInventory } from './checks/cli.ts'
import { runChecks, selectChecks } from './checks/runner.ts'
import { SOURCES } from './checks/sources.ts'
import { diffReports, type ReportDiff } from './checks/diff.ts'
import type { Report } from './checks/types.ts'
import { stateDir } from './journal.ts'
import { writeFileAtomic } from './atomic-write.ts'

export async function runSuite(inventoryFile: string, only: string[] = []): Promise<Report> {
  const inv = await loadCheckInventory(inventoryFile)
  return runChecks(selectChecks(ALL_CHECKS, only), { inv, sources: SOURCES, ctx: contextFor(inv) })
}

export const reportsDir = (cluster: string) => join(stateDir(), 'reports', cluster)

export function latestReport(cluster: string): { file: string; report: Report } | undefined {
  const dir = reportsDir(cluster)
  if (!existsSync(dir)) return undefined
  const last = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().pop()
  return last ? { file: join(dir, last), report: JSON.parse(readFileSync(join(dir, last), 'utf8')) as Report } : undefined
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
