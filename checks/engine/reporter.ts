// How a report reaches a person (a table and a summary line) or a program (exactly one JSON document on stdout).
import Table from 'cli-table3'
import type { Report, Result, Summary } from './types.ts'

const MAX_CELL = 60

/** Evidence values as one short cell; multi-line evidence (numactl) shows its first line and a line count. */
export function cell(v: unknown): string {
  let s: string
  if (v === undefined || v === null) s = '-'
  else if (typeof v === 'string') s = v
  else s = JSON.stringify(v)
  const lines = s.split('\n').filter((l) => l !== '')
  if (lines.length > 1) s = `${lines[0]} (+${lines.length - 1} lines)`
  return s.length > MAX_CELL ? s.slice(0, MAX_CELL - 1) + '…' : s
}

export function summaryLine(s: Summary): string {
  return `${s.pass} passed, ${s.warn} warned, ${s.fail} failed`
}

export function renderTable(report: Report, opts: { color?: boolean } = {}): string {
  const paint = (r: Result) => {
    if (!opts.color) return r.status.toUpperCase()
    const code = r.status === 'pass' ? 32 : r.status === 'warn' ? 33 : 31
    return `\x1b[${code}m${r.status.toUpperCase()}\x1b[0m`
  }
  const table = new Table({
    head: ['CHECK', 'TARGET', 'STATUS', 'SEEN', 'WANTED'],
    style: { head: opts.color ? ['bold'] : [], border: opts.color ? ['grey'] : [] },
    wordWrap: false,
  })
  for (const r of report.results) table.push([r.check, r.target, paint(r), cell(r.evidence.seen), cell(r.evidence.wanted)])
  return table.toString()
}

/** The messages of everything that did not pass: the table's cells are short, these say why. */
export function renderProblems(report: Report): string[] {
  return report.results.filter((r) => r.status !== 'pass').map((r) => `${r.status.toUpperCase()} ${r.check} ${r.target}: ${r.message}`)
}

export function renderJson(report: Report): string {
  return JSON.stringify(report, null, 2) + '\n'
}

/** 1 on any fail, 0 otherwise (warnings do not fail a run). */
export function exitCode(report: Pick<Report, 'summary'>): number {
  return report.summary.fail > 0 ? 1 : 0
}
