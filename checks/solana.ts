// Runs the solana checks (fdctl's host thresholds): npx zx checks/solana.ts --inventory FILE [--json] [--only ID]...
import { runCheckCli } from './engine/cli.ts'
import { scriptArgs } from '../lib/runner/flags.ts'
import { ALL_CHECKS } from './defs/index.ts'
process.exitCode = await runCheckCli(
  ALL_CHECKS.filter((c) => c.group === 'solana'),
  scriptArgs(process.argv, import.meta.url),
)
