// Every external command a runbook runs goes through here, so each one is printed (redacted) before it runs,
// is skipped on --dry-run when it would change something, and fails with an error that names what failed where.
import { constants as osConstants } from 'node:os'
import { $, quote } from 'zx'
import { log } from '../runner/log.ts'

export type Redaction = string | RegExp

export interface RunOptions {
  timeoutMs?: number
  /** Written to the command's stdin; never printed. */
  input?: string
  /** Merged over process.env. */
  env?: NodeJS.ProcessEnv
  quiet?: boolean
  redact?: Redaction[]
  dryRun?: boolean
  mutating?: boolean
  nothrow?: boolean
  /** Where the command acts (e.g. "cp2 (127.0.10.12)"): named in errors. */
  context?: string
  /**
   * The command as the echo line shows it, when shorter than what runs but equivalent after the banner's exports
   * (lib/host/shared-shell.ts); asked only when the line is printed. Errors still name the command that ran.
   */
  echo?: () => { bin: string; args: string[] }
}

export interface RunResult {
  command: string
  stdout: string
  stderr: string
  exitCode: number
  durationMs: number
  skipped?: boolean
  timedOut?: boolean
}

const REDACTED = '<redacted>'
// A placeholder made only of shell-safe characters, so quoting leaves it intact and it can be swapped afterwards.
const PLACEHOLDER = '__REDACTED_VALUE__'

// Flags whose value is a secret: --token, --password, --kubernetes-bootstrap-token, --client-secret, ...
const SECRET_FLAG = /^--?(?:[a-z0-9]+-)*(?:token|password|passwd|passphrase|secret)$/i

// Arguments made only of these characters are passed to a shell verbatim; commas and '@' are common in
// talosctl/kubectl args (-n a,b  --patch @file) and need no quoting.
const SHELL_SAFE = /^[\w@%+=:,./-]+$/

function shellQuote(arg: string): string {
  return arg !== '' && SHELL_SAFE.test(arg) ? arg : quote(arg)
}

function redactValue(arg: string, redact: Redaction[]): string {
  let out = arg
  for (const r of redact) {
    if (typeof r === 'string') {
      if (r !== '') out = out.split(r).join(PLACEHOLDER)
    } else {
      const flags = r.flags.includes('g') ? r.flags : r.flags + 'g'
      out = out.replace(new RegExp(r.source, flags), PLACEHOLDER)
    }
  }
  return out
}

/** Redacts secrets in an argv: values of secret-named flags (both `--flag v` and `--flag=v`) and `redact` matches. */
function redactArgs(args: string[], redact: Redaction[] = []): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const eq = arg.indexOf('=')
    if (arg.startsWith('-') && eq > 0 && SECRET_FLAG.test(arg.slice(0, eq))) {
      out.push(arg.slice(0, eq + 1) + PLACEHOLDER)
      continue
    }
    if (SECRET_FLAG.test(arg) && i + 1 < args.length) {
      out.push(arg, PLACEHOLDER)
      i++
      continue
    }
    out.push(redactValue(arg, redact))
  }
  return out
}

/** The command line as a shell would accept it, secrets replaced by `<redacted>`. stdin is never part of it. */
export function formatCommand(bin: string, args: string[], redact: Redaction[] = []): string {
  return [bin, ...redactArgs(args, redact)].map(shellQuote).join(' ').split(PLACEHOLDER).join(REDACTED)
}

/** Applies the string/RegExp redactions to free text such as stderr. */
function redactText(text: string, redact: Redaction[] = []): string {
  return redactValue(text, redact).split(PLACEHOLDER).join(REDACTED)
}

const NOISE = [/^WARNING:/i, /^\d+ errors? occurred:$/i]

/** The first stderr line that says what went wrong (skips warnings, multierror headers and usage text). */
export function firstMeaningfulLine(text: string): string {
  const lines: string[] = []
  for (const raw of text.split('\n')) {
    const l = raw.trim()
    if (/^Usage:/.test(l)) break // talosctl prints usage after flag/arg errors; the error itself came first
    if (l !== '') lines.push(l.replace(/^Error: /, ''))
  }
  const i = lines.findIndex((l) => !NOISE.some((n) => n.test(l)))
  if (i < 0) return ''
  const first = lines[i]!.replace(/^\*\s+/, '')
  // talosctl's "error listing services: 1 error occurred:" says what failed; the "* node: rpc error ..." item below says why
  const multi = /^(.*?):?\s*\d+ errors? occurred:$/.exec(first)
  const item = multi
    ? lines
        .slice(i + 1)
        .find((l) => l.startsWith('*'))
        ?.replace(/^\*\s+/, '')
    : undefined
  return multi ? (item ? `${multi[1]}: ${item}` : multi[1]!) : first
}

export class CommandError extends Error {
  readonly command: string
  readonly exitCode: number
  readonly stderr: string
  readonly stdout: string
  readonly context?: string
  readonly timedOut: boolean
  readonly durationMs: number

  constructor(r: RunResult & { context?: string; timeoutMs?: number; detail?: string }) {
    const where = r.context ? ` on ${r.context}` : ''
    const detail = r.detail ?? firstMeaningfulLine(r.stderr)
    const message = r.timedOut
      ? `${r.command} timed out after ${r.timeoutMs ?? r.durationMs} ms${where}`
      : `${r.command} failed (exit ${r.exitCode})${where}${detail ? `: ${detail}` : ''}`
    super(message)
    this.name = 'CommandError'
    this.command = r.command
    this.exitCode = r.exitCode
    this.stderr = r.stderr
    this.stdout = r.stdout
    this.context = r.context
    this.timedOut = r.timedOut ?? false
    this.durationMs = r.durationMs
  }
}

function signalExitCode(signal: NodeJS.Signals | null): number {
  if (!signal) return -1
  return 128 + (osConstants.signals[signal] ?? 0)
}

export async function run(bin: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const redact = opts.redact ?? []
  const command = formatCommand(bin, args, redact)
  const echoed = () => {
    const e = opts.echo?.()
    return e ? formatCommand(e.bin, e.args, redact) : command
  }

  if (opts.dryRun && opts.mutating) {
    log.cmd(`(dry-run) ${echoed()}`)
    return { command, stdout: '', stderr: '', exitCode: 0, durationMs: 0, skipped: true }
  }
  if (!opts.quiet) log.cmd(echoed())

  const started = Date.now()
  const out = await $({
    quiet: true,
    nothrow: true,
    timeout: opts.timeoutMs,
    input: opts.input,
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
  })`${bin} ${args}`
  const durationMs = Date.now() - started

  // zx kills the process tree at the deadline, children first, so a script may still exit 0 after its child was
  // killed: having run to the deadline is what marks the timeout, not the exit status.
  const timedOut = opts.timeoutMs !== undefined && opts.timeoutMs > 0 && durationMs >= opts.timeoutMs
  const result: RunResult = {
    command,
    stdout: out.stdout,
    stderr: redactText(out.stderr, redact),
    exitCode: out.exitCode ?? signalExitCode(out.signal),
    durationMs,
    ...(timedOut ? { timedOut } : {}),
  }

  if ((result.exitCode !== 0 || timedOut) && !opts.nothrow) {
    throw new CommandError({ ...result, context: opts.context, timeoutMs: opts.timeoutMs })
  }
  return result
}
