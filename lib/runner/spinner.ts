// The "step is running" indicator. On a terminal: an ora spinner showing elapsed seconds, with log lines printed
// above it (the log sink is swapped so a line never tears the spinner). Elsewhere (CI, a pipe, a file): no animation,
// log lines pass through unchanged and progress updates become plain lines.
import { log, setLogSink } from './log.ts'

export interface Activity {
  /** Replace the text after the step name, e.g. "waiting for 2 CSRs". */
  progress(text: string): void
  /** Remove the spinner and restore the log sink and the cursor. Idempotent. */
  stop(): void
  /** Take the spinner off screen for a while (a question is asked), then put it back. */
  pause<T>(fn: () => Promise<T>): Promise<T>
}

type OraInstance = import('ora').Ora

function elapsed(since: number): string {
  const s = Math.floor((Date.now() - since) / 1000)
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}

export async function startActivity(label: string, opts: { animate?: boolean } = {}): Promise<Activity> {
  const animate = opts.animate ?? (!!process.stderr.isTTY && !process.env.CI)
  // A terminal reporting 0 columns (some ptys, `script` without a size) makes ora compute infinitely many lines
  // to clear: no animation there.
  if (!animate || !(process.stderr.columns > 0)) return plainActivity()

  const { default: ora } = await import('ora')
  const started = Date.now()
  let detail = ''
  const text = () => `${label} ${elapsed(started)}${detail ? ` — ${detail}` : ''}`
  const spinner: OraInstance = ora({ text: text(), stream: process.stderr, discardStdin: true }).start()
  const tick = setInterval(() => (spinner.text = text()), 1000)
  tick.unref()
  const write = (line: string) => process.stderr.write(line + '\n')
  const prevSink = setLogSink((line) => {
    if (!spinner.isSpinning) return write(line)
    spinner.clear()
    write(line)
    spinner.render()
  })
  let stopped = false
  return {
    progress(t) {
      detail = t
      spinner.text = text()
    },
    stop() {
      if (stopped) return
      stopped = true
      clearInterval(tick)
      spinner.stop()
      setLogSink(prevSink)
    },
    async pause(fn) {
      spinner.stop()
      try {
        return await fn()
      } finally {
        if (!stopped) spinner.start()
      }
    },
  }
}

function plainActivity(): Activity {
  let last = ''
  return {
    progress(t) {
      if (t && t !== last) log.dim(`  … ${t}`)
      last = t
    },
    stop() {},
    pause: (fn) => fn(),
  }
}
