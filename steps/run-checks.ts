// The check suite as a step runs it (06-verify, 08, 11, 12): the production sources against the inventory's
// cluster, all checks or the named ids/groups.
import { ALL_CHECKS } from '../checks/defs/index.ts'
import { loadCheckInventory, runChecksAgainst } from '../checks/engine/cli.ts'
import { selectChecks } from '../checks/engine/runner.ts'
import { renderProblems, summaryLine } from '../checks/engine/reporter.ts'
import type { Report } from '../checks/engine/types.ts'
import { log } from '../lib/runner/log.ts'

export async function runSuite(
  inventoryFile: string,
  only: string[] = [],
  opts: { callTimeoutMs?: number } = {},
): Promise<Report> {
  const inv = await loadCheckInventory(inventoryFile)
  return runChecksAgainst(selectChecks(ALL_CHECKS, only), inv, opts)
}

/** A runbook's post-change checks: print the problems and the summary; any failure fails the step, naming five. */
export function requireChecksPass(report: Report): void {
  for (const line of renderProblems(report)) log.info(`  ${line}`)
  log.info(`  ${summaryLine(report.summary)}`)
  const failed = report.results.filter((r) => r.status === 'fail')
  if (failed.length)
    throw new Error(
      `${failed.length} post-change check(s) failed: ${failed
        .slice(0, 5)
        .map((r) => `${r.check} on ${r.target}: ${r.message}`)
        .join('; ')}${failed.length > 5 ? '; ...' : ''}`,
    )
}
