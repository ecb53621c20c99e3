// The step runner every runbook uses. A runbook is a list of named steps; the runner parses flags, prints the banner,
// checks each step's "already done?" before running it, asks before destructive steps, journals every outcome, resumes
// a failed run where it stopped, and turns Ctrl-C into a clean stop. Heavy modules (ora, inquirer, the runbook's
// context) load only after --help has been answered.
import { log, setLogSink } from './log.ts'
import { formatBanner, type ClusterIdentity } from './banner.ts'
import { formatHelp, parseFlags, scriptArgs, UsageError, type FlagSpecs, type ParsedFlags } from './flags.ts'
import {
  appendJournal,
  journalPath,
  lastOutcomes,
  newRunId,
  readJournal,
  redactSecrets,
  redactString,
  resumePoint,
  type JournalEvent,
  type JournalRecord,
} from './journal.ts'
import { confirmOrRefuse, isInteractive, NonInteractiveError, PromptInterruptedError } from './prompt.ts'
import { startActivity, type Activity } from './spinner.ts'

export type { ClusterIdentity } from './banner.ts'
export type { FlagSpec, FlagSpecs, ParsedFlags } from './flags.ts'

/** What the runner needs from a runbook's context: which cluster, and whether it is the lab or production. */
export interface RunbookContextBase {
  cluster: ClusterIdentity
  /** Shown in the banner. */
  talosctlBin?: string
}

/** Contexts the runner can read the cluster identity from: `{ cluster }`, `{ inv }` (an Inventory) or `{ cluster: Cluster }`. */
export type RunbookContextLike =
  | RunbookContextBase
  | { inv: { cluster: ClusterIdentity }; talosctlBin?: string }
  | { cluster: { inv: { cluster: ClusterIdentity }; talosctlBin?: string } }

/** Added by the runner to the runbook's context before the first step. */
export interface RunnerExtras<F extends FlagSpecs> {
  dryRun: boolean
  flags: ParsedFlags<F>
}

export interface StepHandle {
  name: string
  /** 1-based position in the runbook. */
  index: number
  total: number
  dryRun: boolean
  runId: string
  /** Aborted on Ctrl-C: pass it to anything long-running so the step stops promptly. */
  signal: AbortSignal
  /** Text shown after the step name on the spinner (a plain line when not on a terminal). */
  progress(text: string): void
  /** Ask a yes/no question mid-step (default no; --yes answers yes; refuses when nobody can answer). */
  confirm(question: string): Promise<boolean>
}

export interface CheckResult {
  /** The step's work is already in place: skip run(). */
  done: boolean
  reason?: string
  data?: unknown
}

export interface StepDef<C> {
  /** kebab-case, unique in the runbook: used by --step/--from and in the journal. */
  name: string
  /** Static one-liner for --help (describe() may need the context). */
  summary?: string
  describe?: string | ((ctx: C) => string)
  /** Inventory node names the step acts on, for the "▶" line. */
  targets?: (ctx: C) => string[]
  /** Ask before running (unless --yes or --dry-run). */
  destructive?: boolean
  /** The question to ask; implies asking. Default for destructive steps: "Run <name>: <describe>?" */
  confirm?: string | ((ctx: C) => string)
  /** Is the work already done? `{ done: true, reason }` (or `true`) skips run(). Runs on --dry-run too. */
  check?(ctx: C, step: StepHandle): CheckResult | boolean | void | Promise<CheckResult | boolean | void>
  /** Do the work. On --dry-run it is still called, with ctx.dryRun/step.dryRun true. Returned data is journaled. */
  run(ctx: C, step: StepHandle): unknown
}

export interface RunbookDef<F extends FlagSpecs, C extends RunbookContextLike> {
  id: string
  title: string
  flags?: F
  /** The runbook accepts --json. */
  json?: boolean
  /** Built once, after flag parsing and --help, before the banner; every step receives it. */
  context(flags: ParsedFlags<F>): C | Promise<C>
  steps: StepDef<C & RunnerExtras<F>>[]
}

export type StepOutcome = 'done' | 'skipped' | 'failed' | 'interrupted' | 'not-run'

export interface StepReport {
  name: string
  outcome: StepOutcome
  durationMs?: number
  data?: unknown
  error?: string
}

export interface RunReport {
  runbook: string
  runId?: string
  cluster?: string
  target?: 'lab' | 'production'
  dryRun: boolean
  outcome: 'done' | 'failed' | 'interrupted' | 'refused' | 'usage' | 'listed' | 'help'
  exitCode: number
  steps: StepReport[]
}

export interface RunOptions {
  /** The script's own arguments; default: process.argv after the script path (zx-aware). */
  args?: readonly string[]
  /** Whether someone can answer questions; default: stdin is a TTY and CI is not set. */
  interactive?: boolean
  /** Spinner animation; default: stderr is a TTY and CI is not set. */
  animate?: boolean
  /** Install SIGINT/SIGTERM handlers (the default for `runbook()`). */
  handleSignals?: boolean
  /** How long a step gets to wind down after Ctrl-C before the runner stops waiting. Default 5 s. */
  interruptGraceMs?: number
  /** Where --help, --list and --json go; default process.stdout. */
  out?: (text: string) => void
  /** Tests: answers confirmation questions instead of a terminal. */
  answer?: (question: string) => Promise<boolean>
  journalFile?: string
}

/** Exit codes a runbook ends with. */
export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3, interrupted: 130 } as const

/** Thrown by a step that will not proceed because going on would be unsafe (exit 3, outcome "refused"). */
export class RefusedError extends Error {
  override name = 'RefusedError'
}

class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted (${signal})`)
    this.name = 'Interrupted'
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Every line of the error (an inventory or a plan lists one problem per line), capped so a stray dump stays short. */
function errorMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  const lines = msg.split('\n').filter((l) => l.trim())
  const shown = lines.length > MAX_ERROR_LINES ? [...lines.slice(0, MAX_ERROR_LINES), `… ${lines.length - MAX_ERROR_LINES} more line(s)`] : lines
  return redactString(shown.join('\n') || msg)
}
const MAX_ERROR_LINES = 40

function identityOf(id: string, ctx: unknown): { cluster: ClusterIdentity; talosctlBin?: string } {
  const c = ctx as Record<string, any> | undefined
  const candidates = [c?.cluster, c?.inv?.cluster, c?.cluster?.inv?.cluster]
  const cluster = candidates.find((x) => x && typeof x.name === 'string' && typeof x.target === 'string')
  if (!cluster) {
    throw new Error(`context() of ${id} returned no cluster identity: return { cluster: inv.cluster, ... } or { inv, ... }`)
  }
  if (cluster.target !== 'lab' && cluster.target !== 'production') {
    throw new Error(`cluster ${cluster.name}: target must be lab or production, got ${JSON.stringify(cluster.target)}`)
  }
  const bin = [c?.talosctlBin, c?.cluster?.talosctlBin, c?.talos?.bin, c?.cluster?.talos?.bin].find((x) => typeof x === 'string')
  return { cluster: { name: cluster.name, target: cluster.target, endpoint: String(cluster.endpoint ?? '') }, talosctlBin: bin }
}

function validateDef(def: RunbookDef<any, any>): void {
  if (!/^[\w.-]+$/.test(def.id)) throw new Error(`runbook id ${JSON.stringify(def.id)} is not a plain name`)
  if (def.steps.length === 0) throw new Error(`runbook ${def.id} has no steps`)
  const seen = new Set<string>()
  for (const s of def.steps) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(s.name)) throw new Error(`runbook ${def.id}: step name ${JSON.stringify(s.name)} must be kebab-case`)
    if (seen.has(s.name)) throw new Error(`runbook ${def.id}: two steps are named ${s.name}`)
    seen.add(s.name)
  }
}

function unknownStep(def: RunbookDef<any, any>, flag: string, name: string): UsageError {
  return new UsageError(`unknown step ${JSON.stringify(name)} for ${def.id} (${flag}); steps: ${def.steps.map((s) => s.name).join(', ')}`)
}

/** Run a runbook and exit the process with its exit code. The entry point runbooks call. */
export async function runbook<F extends FlagSpecs = {}, C extends RunbookContextLike = RunbookContextLike>(def: RunbookDef<F, C>): Promise<never> {
  const report = await runRunbook(def, { handleSignals: true })
  // Let stdout drain (a --json document piped elsewhere) before exiting: open handles a step left behind
  // (ssh connections, timers) must not keep a finished runbook alive.
  await new Promise<void>((r) => process.stdout.write('', () => r()))
  process.exit(report.exitCode)
}

/** Run a runbook and return its report without exiting: the testable core of `runbook()`. */
export async function runRunbook<F extends FlagSpecs, C extends RunbookContextLike>(def: RunbookDef<F, C>, opts: RunOptions = {}): Promise<RunReport> {
  validateDef(def)
  const out = opts.out ?? ((t: string) => void process.stdout.write(t))
  const report: RunReport = { runbook: def.id, dryRun: false, outcome: 'usage', exitCode: EXIT.usage, steps: [] }
  const names = def.steps.map((s) => s.name)

  let flags: ParsedFlags<F>
  try {
    flags = parseFlags(def.id, def.flags ?? ({} as F), opts.args ?? scriptArgs(), { json: def.json })
    if (flags.help) {
      out(formatHelp({ id: def.id, title: def.title, flags: def.flags ?? {}, json: def.json, steps: def.steps.map((s) => ({ name: s.name, summary: s.summary ?? (typeof s.describe === 'string' ? s.describe : undefined), destructive: s.destructive || !!s.confirm })) }))
      return { ...report, outcome: 'help', exitCode: EXIT.ok }
    }
    for (const n of flags.step) if (!names.includes(n)) throw unknownStep(def, '--step', n)
    if (flags.from !== undefined && !names.includes(flags.from)) throw unknownStep(def, '--from', flags.from)
    if (flags.from !== undefined && flags.step.length) throw new UsageError(`--from and --step cannot be combined for ${def.id}; see --help`)
  } catch (e) {
    if (e instanceof UsageError) {
      log.error(e.message)
      return report
    }
    throw e
  }
  report.dryRun = flags.dryRun

  // The context: inventory loading, wrappers. Failing here has touched nothing.
  // Lines the context logs (commands it ran to find things out) are held back so the banner is the first thing printed.
  let ctx: C & RunnerExtras<F>
  let ident: ReturnType<typeof identityOf>
  const held: string[] = []
  const prevSink = setLogSink((line) => held.push(line))
  try {
    const built = await def.context(flags)
    ident = identityOf(def.id, built)
    ctx = Object.assign(built as object, { dryRun: flags.dryRun, flags }) as C & RunnerExtras<F>
  } catch (e) {
    setLogSink(prevSink)
    for (const line of held) log.info(line)
    log.error(`${def.id}: cannot start: ${errorMessage(e)}`)
    return { ...report, outcome: 'failed', exitCode: EXIT.failed }
  }
  setLogSink(prevSink)
  report.cluster = ident.cluster.name
  report.target = ident.cluster.target
  for (const line of formatBanner({ id: def.id, title: def.title, cluster: ident.cluster, inventoryFile: flags.inventory, dryRun: flags.dryRun, talosctlBin: ident.talosctlBin })) log.info(line)
  for (const line of held) log.info(line)

  const journalFile = opts.journalFile ?? journalPath()
  const records = readJournal(journalFile)
  const resume = resumePoint(records, def.id, ident.cluster.name, names)

  const describe = (s: StepDef<C & RunnerExtras<F>>) => (typeof s.describe === 'function' ? s.describe(ctx) : s.describe ?? s.summary ?? '')

  if (flags.list) {
    const last = lastOutcomes(records, def.id, ident.cluster.name)
    const lines: string[] = []
    def.steps.forEach((s, i) => {
      let what: string
      try {
        const targets = s.targets?.(ctx) ?? []
        what = `${describe(s)}${targets.length ? ` (targets: ${targets.join(', ')})` : ''}`
      } catch (e) {
        what = `(cannot describe: ${errorMessage(e)})`
      }
      const l = last.get(s.name)
      const mark = s.destructive || s.confirm ? ' [destructive]' : ''
      const lastTxt = l ? `last: ${l.event} ${l.ts} (run ${l.runId})` : 'last: never run'
      const here = resume && resume.index === i ? '  ← next run resumes here' : ''
      lines.push(`${String(i + 1).padStart(2)}. ${s.name}${mark} — ${what}\n      ${lastTxt}${here}`)
    })
    out(lines.join('\n') + '\n')
    return { ...report, outcome: 'listed', exitCode: EXIT.ok }
  }

  // The plan: which steps, in runbook order.
  let start = 0
  let plan: number[]
  if (flags.step.length) {
    plan = names.map((_, i) => i).filter((i) => flags.step.includes(names[i]!))
  } else {
    if (flags.from !== undefined) start = names.indexOf(flags.from)
    else if (resume) {
      start = resume.index
      const p = resume.previous
      const how = p.event === 'failed' ? 'failed' : 'was interrupted'
      log.warn(
        p.step === resume.step
          ? `resuming ${def.id} at ${resume.step} (previous run ${p.runId} ${how} there at ${p.ts})`
          : `resuming ${def.id} at ${resume.step} (previous run ${p.runId} ${how} at ${p.step} at ${p.ts}; ${resume.step} has not completed since)`,
      )
      if (start > 0) log.dim(`  steps 1–${start} completed in earlier runs; --from ${names[0]} starts over`)
    }
    plan = names.map((_, i) => i).filter((i) => i >= start)
  }

  const asks = (s: { destructive?: boolean; confirm?: unknown }) => !!(s.destructive || s.confirm)
  const interactive = opts.interactive ?? isInteractive()
  if (!flags.yes && !flags.dryRun && !interactive && !opts.answer) {
    const needing = plan.map((i) => def.steps[i]!).filter(asks).map((s) => s.name)
    if (needing.length) {
      log.error(`refusing to ask in a non-interactive session: re-run with --yes (step${needing.length > 1 ? 's' : ''} ${needing.join(', ')} ask${needing.length > 1 ? '' : 's'} for confirmation)`)
      return { ...report, outcome: 'refused', exitCode: EXIT.refused, steps: plan.map((i) => ({ name: names[i]!, outcome: 'not-run' })) }
    }
  }

  // From here on, every step outcome is journaled, except in a dry run: it writes nothing anywhere (and a dry run
  // never counted as having done a step, so the journal has nothing to learn from it).
  const runId = newRunId()
  report.runId = runId
  const journal = (step: string, event: JournalEvent, extra: Partial<JournalRecord> = {}) => {
    if (!flags.dryRun)
      appendJournal({ ts: new Date().toISOString(), runId, runbook: def.id, step, cluster: ident.cluster.name, target: ident.cluster.target, event, ...extra }, journalFile)
  }

  const stepReports = new Map<string, StepReport>(plan.map((i) => [names[i]!, { name: names[i]!, outcome: 'not-run' }]))
  report.steps = [...stepReports.values()]
  const setOutcome = (name: string, r: Omit<StepReport, 'name'>) => Object.assign(stepReports.get(name)!, r)

  // Ctrl-C: abort the signal steps hold, give the current step a grace period to wind down, then stop.
  const ac = new AbortController()
  let interruptedBy: NodeJS.Signals | undefined
  let wakeInterrupt: () => void = () => {}
  const interruptedP = new Promise<void>((r) => (wakeInterrupt = r))
  let activity: Activity | undefined
  let current: { name: string; started: number } | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    if (interruptedBy) {
      // Second Ctrl-C: stop now.
      activity?.stop()
      if (current) journal(current.name, 'interrupted', { durationMs: Date.now() - current.started, error: `interrupted (${sig}, twice)` })
      restoreTerminal()
      log.error(`${def.id} stopped by ${sig}`)
      process.exit(128 + (sig === 'SIGTERM' ? 15 : 2))
    }
    interruptedBy = sig
    ac.abort(new Interrupted(sig))
    log.warn(`${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping${current ? ` ${current.name}` : ''} cleanly (Ctrl-C again to stop at once)`)
    wakeInterrupt()
  }
  if (opts.handleSignals) {
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  }
  const grace = opts.interruptGraceMs ?? 5000
  /** Await a step phase; on interrupt, wait at most `grace` for it, then treat it as interrupted. */
  async function phase<T>(p: Promise<T>): Promise<T> {
    p.catch(() => {})
    const stopped = interruptedP.then(
      () => new Promise<never>((_, rej) => setTimeout(() => rej(new Interrupted(interruptedBy!)), grace).unref()),
    )
    return Promise.race([p, stopped])
  }

  // A step awaiting only a signal or a promise holds no handle; without this, Node would exit mid-step (code 13).
  const keepAlive = setInterval(() => {}, 60_000)
  const t0 = Date.now()
  let exitCode: number = EXIT.ok
  let outcome: RunReport['outcome'] = 'done'
  try {
    for (let k = 0; k < plan.length; k++) {
      const i = plan[k]!
      const s = def.steps[i]!
      if (interruptedBy) {
        journal(s.name, 'interrupted', { error: 'interrupted before this step started' })
        setOutcome(s.name, { outcome: 'interrupted' })
        throw new Interrupted(interruptedBy)
      }
      const started = Date.now()
      current = { name: s.name, started }
      const handle: StepHandle = {
        name: s.name,
        index: i + 1,
        total: def.steps.length,
        dryRun: flags.dryRun,
        runId,
        signal: ac.signal,
        progress: (t) => activity?.progress(t),
        confirm: async (q) => {
          const ask = () => confirmOrRefuse(q, { yes: flags.yes, interactive, answer: opts.answer })
          return activity ? activity.pause(ask) : ask()
        },
      }
      try {
        const targets = s.targets?.(ctx) ?? []
        const what = describe(s)
        log.step(`▶ [${i + 1}/${def.steps.length}] ${s.name}${what ? ` — ${what}` : ''}${targets.length ? ` (targets: ${targets.join(', ')})` : ''}`)
        journal(s.name, 'start')

        let checked: CheckResult = { done: false }
        if (s.check) {
          activity = await startActivity(`${s.name}: checking`, { animate: opts.animate })
          checked = normalizeCheck(await phase(Promise.resolve().then(() => s.check!(ctx, handle))))
          activity.stop()
          activity = undefined
        }
        if (interruptedBy) throw new Interrupted(interruptedBy)
        if (checked.done) {
          const durationMs = Date.now() - started
          log.dim(`  ↷ skipped: ${checked.reason ?? 'already done'}`)
          const data = { reason: checked.reason ?? 'already done', ...(checked.data !== undefined ? { check: checked.data } : {}) }
          journal(s.name, 'skipped', { durationMs, data })
          setOutcome(s.name, { outcome: 'skipped', durationMs, data: redactSecrets(data) })
          continue
        }

        if (asks(s)) {
          const q = typeof s.confirm === 'function' ? s.confirm(ctx) : s.confirm ?? `Run ${s.name}${what ? `: ${what}` : ''}?`
          if (flags.dryRun) log.dim(`  (dry-run) would ask: ${q}`)
          else if (flags.yes) log.dim(`  confirmed by --yes: ${q}`)
          else if (!(await phase(confirmOrRefuse(q, { interactive, answer: opts.answer })))) {
            const durationMs = Date.now() - started
            log.warn(`not confirmed: ${s.name} was not run; the next run resumes at it`)
            journal(s.name, 'interrupted', { durationMs, error: 'not confirmed by the operator' })
            setOutcome(s.name, { outcome: 'interrupted', durationMs, error: 'not confirmed' })
            exitCode = EXIT.failed
            outcome = 'interrupted'
            break
          }
        }

        activity = await startActivity(s.name, { animate: opts.animate })
        const data = await phase(Promise.resolve().then(() => s.run(ctx, handle)))
        activity.stop()
        activity = undefined
        const durationMs = Date.now() - started
        log.ok(`${s.name} (${seconds(durationMs)})${flags.dryRun ? ' [dry-run]' : ''}`)
        journal(s.name, 'done', { durationMs, ...(data !== undefined ? { data } : {}) })
        setOutcome(s.name, { outcome: 'done', durationMs, ...(data !== undefined ? { data: redactSecrets(data) } : {}) })
      } catch (e) {
        activity?.stop()
        activity = undefined
        const durationMs = Date.now() - started
        if (e instanceof Interrupted || e instanceof PromptInterruptedError || (interruptedBy && ac.signal.aborted)) {
          interruptedBy ??= 'SIGINT'
          log.error(`${s.name} (${seconds(durationMs)}): interrupted`)
          journal(s.name, 'interrupted', { durationMs, error: errorMessage(e) })
          setOutcome(s.name, { outcome: 'interrupted', durationMs, error: errorMessage(e) })
          throw new Interrupted(interruptedBy)
        }
        const msg = errorMessage(e)
        log.error(`${s.name} (${seconds(durationMs)}): ${msg}`)
        journal(s.name, 'failed', { durationMs, error: msg })
        setOutcome(s.name, { outcome: 'failed', durationMs, error: msg })
        if (e instanceof NonInteractiveError || e instanceof RefusedError) {
          exitCode = EXIT.refused
          outcome = 'refused'
        } else {
          log.info(`fix the cause and re-run: the runbook resumes at ${s.name}${flags.dryRun ? ' (this was a dry run: the next real run starts where the last real run stopped)' : ''}`)
          exitCode = EXIT.failed
          outcome = 'failed'
        }
        break
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
    if (opts.handleSignals) {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }

  if (outcome === 'done' && interruptedBy) {
    // Ctrl-C came during the last step, which still finished: everything is done, but say how the run ended.
    restoreTerminal()
    exitCode = interruptedBy === 'SIGTERM' ? 143 : EXIT.interrupted
    outcome = 'interrupted'
  }
  if (outcome === 'done') {
    const counts = [...stepReports.values()].reduce<Record<string, number>>((m, r) => ((m[r.outcome] = (m[r.outcome] ?? 0) + 1), m), {})
    log.ok(`${def.id} finished in ${seconds(Date.now() - t0)}: ${counts.done ?? 0} done, ${counts.skipped ?? 0} skipped${flags.dryRun ? ' (dry run: nothing was changed)' : ''}`)
  }
  Object.assign(report, { outcome, exitCode })
  if (flags.json) {
    out(JSON.stringify({ runbook: def.id, runId, cluster: ident.cluster.name, target: ident.cluster.target, dryRun: flags.dryRun, outcome, steps: report.steps }, null, 2) + '\n')
  }
  return report
}

function normalizeCheck(r: CheckResult | boolean | void): CheckResult {
  if (r === true) return { done: true }
  if (!r) return { done: false }
  return r
}

function restoreTerminal(): void {
  if (process.stdin.isTTY && process.stdin.isRaw) process.stdin.setRawMode(false)
  if (process.stderr.isTTY) process.stderr.write('\u001B[?25h') // show the cursor a spinner may have hidden
}
