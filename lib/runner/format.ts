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

/** The step's one-line description for this context. */
export function describeStep<C>(s: { describe?: string | ((ctx: C) => string); summary?: string }, ctx: C): string {
  return typeof s.describe === 'function' ? s.describe(ctx) : (s.describe ?? s.summary ?? '')
}

/** " (targets: a, b)" or nothing. */
export const targetsSuffix = (targets: string[]) => (targets.length ? ` (targets: ${targets.join(', ')})` : '')

export const asksConfirmation = (s: { destructive?: boolean; confirm?: unknown }) => !!(s.destructive || s.confirm)
