// Runs the CPU isolation checks (IRQ affinity, IRQs on the validator CPUs, cpufreq governor, isolcpus): npx zx checks/cpu.ts --inventory FILE [--json] [--only ID]...
import { runCheckCli } from './engine/cli.ts'
import { scriptArgs } from '../lib/runner/flags.ts'
import { ALL_CHECKS } from './defs/index.ts'
process.exitCode = await runCheckCli(
  ALL_CHECKS.filter((c) => c.group === 'cpu'),
  scriptArgs(process.argv, import.meta.url),
)
