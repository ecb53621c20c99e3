// Runs every post-change check: npx zx checks/all.ts --inventory FILE [--json] [--only ID_OR_GROUP]...
import { runCheckCli, scriptArgs } from './engine/cli.ts'
import { ALL_CHECKS } from './defs/index.ts'
process.exitCode = await runCheckCli(ALL_CHECKS, scriptArgs(process.argv, import.meta.url))
