// Runs every post-change check: npx zx checks/all.ts --inventory FILE [--json] [--only ID_OR_GROUP]... [--call-timeout DURATION]
import { runCheckCli } from './engine/cli.ts'
import { scriptArgs } from '../lib/runner/flags.ts'
import { ALL_CHECKS } from './defs/index.ts'
process.exitCode = await runCheckCli(ALL_CHECKS, scriptArgs(process.argv, import.meta.url))
