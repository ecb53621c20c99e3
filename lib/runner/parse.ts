// The first thing a run does: check the runbook's own definition, parse the command line, answer --help.
// Nothing is loaded or touched before this has passed.
import { log } from './log.ts'
import { formatHelp, parseFlags, scriptArgs, UsageError, type FlagSpecs, type ParsedFlags } from './flags.ts'
import { EXIT, type RunbookContextBase, type RunbookDef, type RunOptions, type RunReport } from './types.ts'

type Named = { id: string; steps: readonly { name: string }[] }

export function validateDef(def: Named): void {
  if (!/^[\w.-]+$/.test(def.id)) throw new Error(`runbook id ${JSON.stringify(def.id)} is not a plain name`)
  if (def.steps.length === 0) throw new Error(`runbook ${def.id} has no steps`)
  const seen = new Set<string>()
  for (const s of def.steps) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(s.name))
      throw new Error(`runbook ${def.id}: step name ${JSON.stringify(s.name)} must be kebab-case`)
    if (seen.has(s.name)) throw new Error(`runbook ${def.id}: two steps are named ${s.name}`)
    seen.add(s.name)
  }
}

function unknownStep(def: Named, flag: string, name: string): UsageError {
  return new UsageError(
    `unknown step ${JSON.stringify(name)} for ${def.id} (${flag}); steps: ${def.steps.map((s) => s.name).join(', ')}`,
  )
}

/** The parsed flags, or the finished report when the run ends here (--help, or a usage error already logged). */
export function parseInvocation<F extends FlagSpecs, C extends RunbookContextBase>(
  def: RunbookDef<F, C>,
  opts: RunOptions,
  report: RunReport,
  out: (text: string) => void,
): { flags: ParsedFlags<F> } | { finished: RunReport } {
  const names = def.steps.map((s) => s.name)
  try {
    const flags = parseFlags(def.id, def.flags ?? ({} as F), opts.args ?? scriptArgs(), { json: def.json })
    if (flags.help) {
      const steps = def.steps.map((s) => ({
        name: s.name,
        describe: s.describe,
        destructive: s.destructive || !!s.confirm,
      }))
      out(formatHelp({ id: def.id, title: def.title, flags: def.flags ?? {}, json: def.json, steps }))
      return { finished: { ...report, outcome: 'help', exitCode: EXIT.ok } }
    }
    for (const n of flags.step) if (!names.includes(n)) throw unknownStep(def, '--step', n)
    if (flags.from !== undefined && !names.includes(flags.from)) throw unknownStep(def, '--from', flags.from)
    if (flags.from !== undefined && flags.step.length)
      throw new UsageError(`--from and --step cannot be combined for ${def.id}; see --help`)
    return { flags }
  } catch (e) {
    if (e instanceof UsageError) {
      log.error(e.message)
      return { finished: report }
    }
    throw e
  }
}
