// The step runner every runbook uses. A runbook is a list of named steps; the runner parses flags, prints the banner,
// checks each step's "already done?" before running it, asks before destructive steps, journals every outcome, resumes
// a failed run where it stopped, and turns Ctrl-C into a clean stop. Heavy modules (ora, inquirer, the runbook's
// context) load only after --help has been answered. The parts: parse.ts (flags, --help), context.ts (context and
// banner), list.ts (--list), plan.ts (which steps), signals.ts (Ctrl-C), run-step.ts (one step).
import { log } from './log.ts'
import type { FlagSpecs } from './flags.ts'
import {
  appendJournal,
  journalPath,
  newRunId,
  readJournal,
  resumePoint,
  type JournalEvent,
  type JournalRecord,
} from './journal.ts'
import { isInteractive } from './prompt.ts'
import type { Activity } from './spinner.ts'
import { parseInvocation, validateDef } from './parse.ts'
import { buildContext } from './context.ts'
import { formatStepList } from './list.ts'
import { planSteps, unanswerable } from './plan.ts'
import { Interrupted, Interrupter, restoreTerminal } from './signals.ts'
import { runStep } from './run-step.ts'
import { seconds } from './format.ts'
import {
  EXIT,
  type RunbookContextBase,
  type RunbookDef,
  type RunOptions,
  type RunReport,
  type StepReport,
} from './types.ts'

export type { ClusterIdentity } from './banner.ts'
export type { FlagSpec, FlagSpecs, ParsedFlags } from './flags.ts'
export * from './types.ts'

/** Run a runbook and exit the process with its exit code. The entry point runbooks call. */
export async function runbook<
  F extends FlagSpecs = Record<string, never>,
  C extends RunbookContextBase = RunbookContextBase,
>(def: RunbookDef<F, C>): Promise<never> {
  const report = await runRunbook(def, { handleSignals: true })
  // Let stdout drain (a --json document piped elsewhere) before exiting: open handles a step left behind
  // (ssh connections, timers) must not keep a finished runbook alive.
  await new Promise<void>((r) => process.stdout.write('', () => r()))
  process.exit(report.exitCode)
}

/** Run a runbook and return its report without exiting: the testable core of `runbook()`. */
export async function runRunbook<F extends FlagSpecs, C extends RunbookContextBase>(
  def: RunbookDef<F, C>,
  opts: RunOptions = {},
): Promise<RunReport> {
  validateDef(def)
  const out = opts.out ?? ((t: string) => void process.stdout.write(t))
  const report: RunReport = { runbook: def.id, dryRun: false, outcome: 'usage', exitCode: EXIT.usage, steps: [] }
  const names = def.steps.map((s) => s.name)

  const parsed = parseInvocation(def, opts, report, out)
  if ('finished' in parsed) return parsed.finished
  const { flags } = parsed
  report.dryRun = flags.dryRun

  const built = await buildContext(def, flags)
  if ('failed' in built) return { ...report, outcome: built.failed, exitCode: EXIT[built.failed] }
  const { ctx, ident } = built
  report.cluster = ident.cluster.name
  report.target = ident.cluster.target

  const journalFile = opts.journalFile ?? journalPath()
  const records = readJournal(journalFile)
  const scope = def.scope?.(ctx)
  const resume = resumePoint(records, def.id, ident.cluster.name, names, scope)
  if (flags.list) {
    out(formatStepList(def.id, ident.cluster.name, def.steps, ctx, records, resume, scope))
    return { ...report, outcome: 'listed', exitCode: EXIT.ok }
  }

  const plan = planSteps(def.id, names, flags, resume)
  const interactive = opts.interactive ?? isInteractive()
  if (!flags.yes && !flags.dryRun && !interactive && !opts.answer) {
    const needing = unanswerable(def.steps, plan)
    if (needing.length) {
      log.error(
        `refusing to ask in a non-interactive session: re-run with --yes (step${needing.length > 1 ? 's' : ''} ${needing.join(', ')} ask${needing.length > 1 ? '' : 's'} for confirmation)`,
      )
      return {
        ...report,
        outcome: 'refused',
        exitCode: EXIT.refused,
        steps: plan.map((i) => ({ name: names[i]!, outcome: 'not-run' })),
      }
    }
  }

  // From here on, every step outcome is journaled.
  const runId = newRunId()
  report.runId = runId
  // Every step outcome is journaled, except in a dry run: it writes nothing anywhere (and a dry run never counted as
  // having done a step, so the journal has nothing to learn from it).
  const journal = (step: string, event: JournalEvent, extra: Partial<JournalRecord> = {}) => {
    if (!flags.dryRun)
      appendJournal(
        {
          ts: new Date().toISOString(),
          runId,
          runbook: def.id,
          step,
          cluster: ident.cluster.name,
          target: ident.cluster.target,
          ...(scope !== undefined ? { scope } : {}),
          event,
          ...extra,
        },
        journalFile,
      )
  }

  const stepReports = new Map<string, StepReport>(plan.map((i) => [names[i]!, { name: names[i]!, outcome: 'not-run' }]))
  report.steps = [...stepReports.values()]
  const setOutcome = (name: string, r: Omit<StepReport, 'name'>) => Object.assign(stepReports.get(name)!, r)

  let activity: Activity | undefined
  let current: { name: string; started: number } | undefined
  const interrupter = new Interrupter({
    runbookId: def.id,
    graceMs: opts.interruptGraceMs ?? 5000,
    handleSignals: opts.handleSignals,
    current: () => current?.name,
    onSecondSignal: (sig) => {
      activity?.stop()
      if (current)
        journal(current.name, 'interrupted', {
          durationMs: Date.now() - current.started,
          error: `interrupted (${sig}, twice)`,
        })
    },
  })

  // A step awaiting only a signal or a promise holds no handle; without this, Node would exit mid-step (code 13).
  const keepAlive = setInterval(() => {}, 60_000)
  const t0 = Date.now()
  let exitCode: number = EXIT.ok
  let outcome: RunReport['outcome'] = 'done'
  try {
    for (const i of plan) {
      const s = def.steps[i]!
      if (interrupter.by) {
        journal(s.name, 'interrupted', { error: 'interrupted before this step started' })
        setOutcome(s.name, { outcome: 'interrupted' })
        throw new Interrupted(interrupter.by)
      }
      current = { name: s.name, started: Date.now() }
      try {
        const verdict = await runStep(s, {
          ctx,
          index: i,
          total: def.steps.length,
          dryRun: flags.dryRun,
          yes: flags.yes,
          runId,
          interactive,
          animate: opts.animate,
          answer: opts.answer,
          interrupter,
          journal,
          setOutcome,
          setActivity: (a) => (activity = a),
        })
        if (verdict) {
          ;({ outcome, exitCode } = verdict)
          break
        }
      } finally {
        current = undefined
      }
    }
  } catch (e) {
    if (!(e instanceof Interrupted)) throw e
    restoreTerminal()
    log.warn(`${def.id} interrupted: the next run resumes where it stopped`)
    exitCode = e.signal === 'SIGTERM' ? 143 : EXIT.interrupted
    outcome = 'interrupted'
  } finally {
    clearInterval(keepAlive)
    interrupter.dispose()
  }

  if (outcome === 'done' && interrupter.by) {
    // Ctrl-C came during the last step, which still finished: everything is done, but say how the run ended.
    restoreTerminal()
    exitCode = interrupter.by === 'SIGTERM' ? 143 : EXIT.interrupted
    outcome = 'interrupted'
  }
  if (outcome === 'done') {
    const counts = [...stepReports.values()].reduce<Record<string, number>>(
      (m, r) => ((m[r.outcome] = (m[r.outcome] ?? 0) + 1), m),
      {},
    )
    log.ok(
      `${def.id} finished in ${seconds(Date.now() - t0)}: ${counts.done ?? 0} done, ${counts.skipped ?? 0} skipped${flags.dryRun ? ' (dry run: nothing was changed)' : ''}`,
    )
  }
  Object.assign(report, { outcome, exitCode })
  if (flags.json) {
    out(
      JSON.stringify(
        {
          runbook: def.id,
          runId,
          cluster: ident.cluster.name,
          target: ident.cluster.target,
          dryRun: flags.dryRun,
          outcome,
          steps: report.steps,
        },
        null,
        2,
      ) + '\n',
    )
  }
  return report
}
