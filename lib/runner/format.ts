// How the runner words durations and errors on the terminal and in the journal.
import { redactString } from './journal.ts'

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

const MAX_ERROR_LINES = 40

/** Every line of the error (an inventory or a plan lists one problem per line), capped so a stray dump stays short. */
export function errorMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  const lines = msg.split('\n').filter((l) => l.trim())
  const shown =
    lines.length > MAX_ERROR_LINES
      ? [...lines.slice(0, MAX_ERROR_LINES), `… ${lines.length - MAX_ERROR_LINES} more line(s)`]
      : lines
  return redactString(shown.join('\n') || msg)
}

/** The step's description, with this run's particulars when it has any. */
export function describeStep<C>(s: { describe: string; detail?: (ctx: C) => string }, ctx: C): string {
  return s.detail ? `${s.describe}: ${s.detail(ctx)}` : s.describe
}

/** " (targets: a, b)" or nothing. */
export const targetsSuffix = (targets: string[]) => (targets.length ? ` (targets: ${targets.join(', ')})` : '')

export const asksConfirmation = (s: { destructive?: boolean; confirm?: unknown }) => !!(s.destructive || s.confirm)
