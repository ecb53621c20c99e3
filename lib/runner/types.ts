// The shapes a runbook is written in (steps, their handle, the context) and what a run reports. Values here too
// (EXIT, RefusedError) so every part of the runner can use them without importing the runner itself.
import type { ClusterIdentity } from './banner.ts'
import type { FlagSpecs, ParsedFlags } from './flags.ts'
import type { SharedShell } from '../host/shared-shell.ts'

/** What the runner needs from a runbook's context: which cluster, whether it is the lab or production, which talosctl. */
export interface RunbookContextBase {
  cluster: ClusterIdentity
  /** Shown in the banner. */
  talosctlBin?: string
  /** What every echoed command assumes (TALOSCONFIG, KUBECONFIG, PATH): the banner says it once. */
  shell?: SharedShell
}

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
  /** --yes was given or nobody can answer: a question only a person may answer (trust a host key) must not be asked. */
  unattended: boolean
  /** Ask a person, never --yes (call only when !unattended): for judgements a flag must not make, like trusting a key. */
  askPerson(question: string): Promise<boolean>
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
  /** What the step does, in one line: --help, --list and the ▶ line say this. */
  describe: string
  /** This run's particulars (a file, a pod, a count), shown after the description. Targets are shown on their own. */
  detail?: (ctx: C) => string
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

export interface RunbookDef<F extends FlagSpecs, C extends RunbookContextBase> {
  id: string
  title: string
  flags?: F
  /** The runbook accepts --json. */
  json?: boolean
  /** Built once, after flag parsing and --help, before the banner; every step receives it. */
  context(flags: ParsedFlags<F>): C | Promise<C>
  /**
   * What a run is about within the cluster, when runs about different things must not resume each other
   * (12-replace-node: the node; a failed replacement of cp2 is no place to start replacing worker1). Journaled.
   */
  scope?(ctx: C): string
  steps: StepDef<C & RunnerExtras<F>>[]
}

type StepOutcome = 'done' | 'skipped' | 'failed' | 'interrupted' | 'not-run'

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
