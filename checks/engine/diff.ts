// What changed between two runs, for a runbook that checks before and after a change (runbooks/06-verify.ts).
import type { Report, Result, Status } from './types.ts'

interface StatusChange {
  check: string
  target: string
  /** undefined: the result did not exist in that report. */
  from?: Status
  to?: Status
  message?: string
}

export interface ReportDiff {
  /** Got worse: pass→warn/fail, warn→fail, or newly failing/warning. */
  regressed: StatusChange[]
  /** Got better: fail→warn/pass, warn→pass. */
  improved: StatusChange[]
  /** In next only / in prev only. */
  added: StatusChange[]
  removed: StatusChange[]
  unchanged: number
}

const RANK: Record<Status, number> = { pass: 0, warn: 1, fail: 2 }
const key = (r: Pick<Result, 'check' | 'target'>) => `${r.check}\u0000${r.target}`

export function diffReports(prev: Pick<Report, 'results'>, next: Pick<Report, 'results'>): ReportDiff {
  const before = new Map(prev.results.map((r) => [key(r), r]))
  const after = new Map(next.results.map((r) => [key(r), r]))
  const d: ReportDiff = { regressed: [], improved: [], added: [], removed: [], unchanged: 0 }
  for (const [k, n] of after) {
    const p = before.get(k)
    const change: StatusChange = { check: n.check, target: n.target, from: p?.status, to: n.status, message: n.message }
    if (!p) {
      d.added.push(change)
      if (n.status !== 'pass') d.regressed.push(change)
    } else if (RANK[n.status] > RANK[p.status]) d.regressed.push(change)
    else if (RANK[n.status] < RANK[p.status]) d.improved.push(change)
    else d.unchanged++
  }
  for (const [k, p] of before) {
    if (!after.has(k)) d.removed.push({ check: p.check, target: p.target, from: p.status, message: p.message })
  }
  return d
}

export function formatDiff(d: ReportDiff): string[] {
  const line = (c: StatusChange) =>
    `${c.check} ${c.target}: ${c.from ?? '(new)'} → ${c.to ?? '(gone)'}${c.message ? ` — ${c.message}` : ''}`
  return [
    ...d.regressed.map((c) => `regressed ${line(c)}`),
    ...d.improved.map((c) => `improved  ${line(c)}`),
    ...d.removed.map((c) => `removed   ${line(c)}`),
  ]
}
