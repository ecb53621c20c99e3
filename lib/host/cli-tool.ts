// What the talosctl and kubectl wrappers share: which binary, the per-call timeout, dry-run, extra environment and
// quietness, and how one call's options reach lib/host/exec.ts's run().
import { run, type Redaction, type RunResult } from './exec.ts'
import { shownArg, shownBin, type SharedShell } from './shared-shell.ts'

const DEFAULT_CALL_TIMEOUT_MS = 30_000

export interface CliToolOptions {
  /** Default: $<ENV> (TALOSCTL, KUBECTL), else the tool's name on PATH. */
  bin?: string
  /** Per call (--call-timeout). */
  timeoutMs?: number
  dryRun?: boolean
  env?: NodeJS.ProcessEnv
  /** Do not print the commands (pollers). */
  quiet?: boolean
  /** What the runbook's banner exported for every command: the echo leaves out what it covers. */
  shell?: SharedShell
}

export interface CallOptions {
  timeoutMs?: number
  /** Changes something: skipped (and printed as such) on --dry-run. */
  mutating?: boolean
  input?: string
  nothrow?: boolean
  quiet?: boolean
  redact?: Redaction[]
}

/** The binary a tool runs: the one given, else $<ENV> (TALOSCTL, KUBECTL), else its name on PATH. */
export const toolBin = (name: string, envVar: string, bin?: string): string => bin ?? process.env[envVar] ?? name

export abstract class CliTool {
  readonly bin: string
  readonly timeoutMs: number
  readonly dryRun: boolean
  protected readonly env?: NodeJS.ProcessEnv
  protected readonly quiet: boolean
  readonly shell?: SharedShell

  protected constructor(name: string, envVar: string, opts: CliToolOptions) {
    this.bin = toolBin(name, envVar, opts.bin)
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS
    this.dryRun = opts.dryRun ?? false
    this.env = opts.env
    this.quiet = opts.quiet ?? false
    this.shell = opts.shell
  }

  /**
   * The argv as echoed after the banner's exports: what the tool's flags repeat from them is left out (each tool
   * knows its own: --talosconfig, --kubeconfig); paths below the working directory are shown relative to it.
   */
  protected echoArgs(argv: string[], shell: SharedShell): string[] {
    return argv.map((a) => shownArg(a, shell))
  }

  /** Run the tool with a complete argv; `context` names where it acts, for errors. */
  protected call(argv: string[], opts: CallOptions, context?: string): Promise<RunResult> {
    return run(this.bin, argv, {
      timeoutMs: opts.timeoutMs ?? this.timeoutMs,
      input: opts.input,
      env: this.env,
      quiet: opts.quiet ?? this.quiet,
      redact: opts.redact,
      dryRun: this.dryRun,
      mutating: opts.mutating,
      nothrow: opts.nothrow,
      context,
      echo: this.shell
        ? () => ({ bin: shownBin(this.bin, this.shell!), args: this.echoArgs(argv, this.shell!) })
        : undefined,
    })
  }
}
