// Ctrl-C and SIGTERM during a run: abort the signal steps hold, give the current step a grace period to wind down,
// stop at once on a second signal.
import { log } from './log.ts'

export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted (${signal})`)
    this.name = 'Interrupted'
  }
}

interface InterrupterOptions {
  runbookId: string
  /** How long a step gets to wind down after the first signal. */
  graceMs: number
  /** Install SIGINT/SIGTERM handlers on the process. */
  handleSignals?: boolean
  /** The step running now, for the message and the journal. */
  current: () => string | undefined
  /** On the second signal, before exiting: stop the spinner, journal the step. */
  onSecondSignal: (sig: NodeJS.Signals) => void
}

export class Interrupter {
  private readonly ac = new AbortController()
  private wake: () => void = () => {}
  private readonly interruptedP = new Promise<void>((r) => (this.wake = r))
  /** The signal that interrupted the run, if any. */
  by: NodeJS.Signals | undefined

  constructor(private readonly opts: InterrupterOptions) {
    if (opts.handleSignals) {
      process.on('SIGINT', this.onSignal)
      process.on('SIGTERM', this.onSignal)
    }
  }

  get signal(): AbortSignal {
    return this.ac.signal
  }

  /** Called with the signal (tests and the process handlers alike). */
  readonly onSignal = (sig: NodeJS.Signals): void => {
    if (this.by) {
      this.opts.onSecondSignal(sig)
      restoreTerminal()
      log.error(`${this.opts.runbookId} stopped by ${sig}`)
      process.exit(128 + (sig === 'SIGTERM' ? 15 : 2))
    }
    this.by = sig
    this.ac.abort(new Interrupted(sig))
    const current = this.opts.current()
    log.warn(
      `${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping${current ? ` ${current}` : ''} cleanly (Ctrl-C again to stop at once)`,
    )
    this.wake()
  }

  /** Throws Interrupted when a signal came. */
  throwIfInterrupted(): void {
    if (this.by) throw new Interrupted(this.by)
  }

  /** Await a step phase; on interrupt, wait at most the grace period for it, then treat it as interrupted. */
  phase<T>(p: Promise<T>): Promise<T> {
    p.catch(() => {})
    const stopped = this.interruptedP.then(
      () => new Promise<never>((_, rej) => setTimeout(() => rej(new Interrupted(this.by!)), this.opts.graceMs).unref()),
    )
    return Promise.race([p, stopped])
  }

  dispose(): void {
    if (this.opts.handleSignals) {
      process.off('SIGINT', this.onSignal)
      process.off('SIGTERM', this.onSignal)
    }
  }
}

export function restoreTerminal(): void {
  if (process.stdin.isTTY && process.stdin.isRaw) process.stdin.setRawMode(false)
  if (process.stderr.isTTY) process.stderr.write('\u001B[?25h') // show the cursor a spinner may have hidden
}
