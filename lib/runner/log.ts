// One place every line a runbook prints goes through, on stderr, so `--json` output on stdout stays clean.
// The step runner swaps the sink while a spinner is on screen, so lines never tear the spinner.
// Every line is redacted (lib/redact.ts) before any sink sees it: no entry point prints a secret by accident.
import { styleText } from 'node:util'
import { redactString } from './redact.ts'

type Sink = (line: string) => void
let sink: Sink = (line) => process.stderr.write(line + '\n')

export function setLogSink(next: Sink): Sink {
  const prev = sink
  sink = next
  return prev
}

const color = process.stderr.isTTY && !process.env.NO_COLOR
const paint = (fmt: Parameters<typeof styleText>[0], s: string) =>
  color ? styleText(fmt, redactString(s)) : redactString(s)

export const log = {
  /** The exact command about to run (already redacted by the caller). */
  cmd: (s: string) => sink(paint('dim', `  $ ${s}`)),
  info: (s: string) => sink(redactString(s)),
  ok: (s: string) => sink(paint('green', `✔ ${s}`)),
  warn: (s: string) => sink(paint('yellow', `⚠ ${s}`)),
  error: (s: string) => sink(paint('red', `✖ ${s}`)),
  step: (s: string) => sink(paint('bold', s)),
  dim: (s: string) => sink(paint('dim', s)),
}
