// One step of a run: print it, journal it, ask its "already done?", ask before a destructive step, run it, and
// record the outcome. Interrupts propagate; failures end the run with the step's exit code.
import { log } from './log.ts'
import { redactSecrets, type JournalEvent, type JournalRecord } from './journal.ts'
import { confirmOrRefuse, NonInteractiveError, PromptInterruptedError } from './prompt.ts'
import { startActivity, type Activity } from './spinner.ts'
import { Interrupted, type Interrupter } from './signals.ts'
import { asksConfirmation, describeStep, errorMessage, seconds, targetsSuffix } from './format.ts'
import {
  EXIT,
  RefusedError,
  type CheckResult,
  type RunReport,
  type StepDef,
  type StepHandle,
  type StepReport,
} from './types.ts'

interface StepRun<C> {
  ctx: C
  index: number
  total: number
  dryRun: boolean
  yes: boolean
  runId: string
  interactive: boolean
  animate?: boolean
  answer?: (question: string) => Promise<boolean>
  interrupter: Interrupter
  journal: (step: string, event: JournalEvent, extra?: Partial<JournalRecord>) => void
  setOutcome: (name: string, r: Omit<StepReport, 'name'>) => void
  /** The spinner of the phase running now, for the second Ctrl-C to stop. */
  setActivity: (a: Activity | undefined) => void
}

/** undefined: go on with the next step; otherwise the run stops with this outcome. Throws Interrupted. */
type StepVerdict = undefined | { outcome: RunReport['outcome']; exitCode: number }

export async function runStep<C>(s: StepDef<C>, r: StepRun<C>): Promise<StepVerdict> {
  const started = Date.now()
  const { interrupter } = r
  let activity: Activity | undefined
  const track = (a: Activity | undefined) => ((activity = a), r.setActivity(a))
  const handle: StepHandle = {
    name: s.name,
    index: r.index + 1,
    total: r.total,
    dryRun: r.dryRun,
    runId: r.runId,
    signal: interrupter.signal,
    progress: (t) => activity?.progress(t),
    confirm: async (q) => {
      const ask = () => confirmOrRefuse(q, { yes: r.yes, interactive: r.interactive, answer: r.answer })
      return activity ? activity.pause(ask) : ask()
    },
    unattended: r.yes || (!r.interactive && !r.answer),
    askPerson: async (q) => {
      const ask = () => confirmOrRefuse(q, { interactive: r.interactive, answer: r.answer })
      return activity ? activity.pause(ask) : ask()
    },
  }
  try {
    const what = describeStep(s, r.ctx)
    log.step(
      `▶ [${r.index + 1}/${r.total}] ${s.name}${what ? ` — ${what}` : ''}${targetsSuffix(s.targets?.(r.ctx) ?? [])}`,
    )
    r.journal(s.name, 'start')

    let checked: CheckResult = { done: false }
    if (s.check) {
      track(await startActivity(`${s.name}: checking`, { animate: r.animate }))
      checked = normalizeCheck(await interrupter.phase(Promise.resolve().then(() => s.check!(r.ctx, handle))))
      activity?.stop()
      track(undefined)
    }
    interrupter.throwIfInterrupted()
    if (checked.done) {
      const durationMs = Date.now() - started
      log.dim(`  ↷ skipped: ${checked.reason ?? 'already done'}`)
      const data = {
        reason: checked.reason ?? 'already done',
        ...(checked.data !== undefined ? { check: checked.data } : {}),
      }
      r.journal(s.name, 'skipped', { durationMs, data })
      r.setOutcome(s.name, { outcome: 'skipped', durationMs, data: redactSecrets(data) })
      return undefined
    }

    if (asksConfirmation(s)) {
      const q =
        typeof s.confirm === 'function' ? s.confirm(r.ctx) : (s.confirm ?? `Run ${s.name}${what ? `: ${what}` : ''}?`)
      if (r.dryRun) log.dim(`  (dry-run) would ask: ${q}`)
      else if (r.yes) log.dim(`  confirmed by --yes: ${q}`)
      else if (!(await interrupter.phase(confirmOrRefuse(q, { interactive: r.interactive, answer: r.answer })))) {
        const durationMs = Date.now() - started
        log.warn(`not confirmed: ${s.name} was not run; the next run resumes at it`)
        r.journal(s.name, 'interrupted', { durationMs, error: 'not confirmed by the operator' })
        r.setOutcome(s.name, { outcome: 'interrupted', durationMs, error: 'not confirmed' })
        return { outcome: 'interrupted', exitCode: EXIT.failed }
      }
    }

    track(await startActivity(s.name, { animate: r.animate }))
    const data = await interrupter.phase(Promise.resolve().then(() => s.run(r.ctx, handle)))
    activity?.stop()
    track(undefined)
    const durationMs = Date.now() - started
    log.ok(`${s.name} (${seconds(durationMs)})${r.dryRun ? ' [dry-run]' : ''}`)
    r.journal(s.name, 'done', { durationMs, ...(data !== undefined ? { data } : {}) })
    r.setOutcome(s.name, { outcome: 'done', durationMs, ...(data !== undefined ? { data: redactSecrets(data) } : {}) })
    return undefined
  } catch (e) {
    activity?.stop()
    track(undefined)
    const durationMs = Date.now() - started
    if (
      e instanceof Interrupted ||
      e instanceof PromptInterruptedError ||
      (interrupter.by && interrupter.signal.aborted)
    ) {
      interrupter.by ??= 'SIGINT'
      log.error(`${s.name} (${seconds(durationMs)}): interrupted`)
      r.journal(s.name, 'interrupted', { durationMs, error: errorMessage(e) })
      r.setOutcome(s.name, { outcome: 'interrupted', durationMs, error: errorMessage(e) })
      throw new Interrupted(interrupter.by)
    }
    const msg = errorMessage(e)
    log.error(`${s.name} (${seconds(durationMs)}): ${msg}`)
    r.journal(s.name, 'failed', { durationMs, error: msg })
    r.setOutcome(s.name, { outcome: 'failed', durationMs, error: msg })
    if (e instanceof NonInteractiveError || e instanceof RefusedError)
      return { outcome: 'refused', exitCode: EXIT.refused }
    log.info(
      `fix the cause and re-run: the runbook resumes at ${s.name}${r.dryRun ? ' (this was a dry run: the next real run starts where the last real run stopped)' : ''}`,
    )
    return { outcome: 'failed', exitCode: EXIT.failed }
  }
}

function normalizeCheck(r: CheckResult | boolean | void): CheckResult {
  if (r === true) return { done: true }
  if (!r) return { done: false }
  return r
}
