// The check suite as a step runs it (06-verify, 12-replace-node): the production sources against the inventory's
// cluster, all checks or the named ids/groups.
import { ALL_CHECKS } from '../checks/defs/index.ts'
import { loadCheckInventory, runChecksAgainst } from '../checks/engine/cli.ts'
import { selectChecks } from '../checks/engine/runner.ts'
import type { Report } from '../checks/engine/types.ts'

export async function runSuite(
  inventoryFile: string,
  only: string[] = [],
  opts: { callTimeoutMs?: number } = {},
): Promise<Report> {
  const inv = await loadCheckInventory(inventoryFile)
  return runChecksAgainst(selectChecks(ALL_CHECKS, only), inv, opts)
}
