// Runs the numa checks: npx zx checks/numa.ts --inventory FILE [--json | --wide] [--only ID]...
// Besides the table it prints, for each checked node, the `numactl --hardware` text rendered from what the node's
// sysfs said (and, on failure, what the inventory expected beside it): the evidence the check judged.
import { runCheckCli } from './engine/cli.ts'
import { scriptArgs } from '../lib/runner/flags.ts'
import { ALL_CHECKS } from './defs/index.ts'
process.exitCode = await runCheckCli(
  ALL_CHECKS.filter((c) => c.group === 'numa'),
  scriptArgs(process.argv, import.meta.url),
  {},
  { evidenceText: true },
)
