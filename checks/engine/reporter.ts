// How a report reaches a person (aligned columns, one line per result, like kubectl; then a summary) or a program
// (exactly one JSON document on stdout).
import { cut, cutMiddle, formatColumns, textWidth } from '../../lib/runner/columns.ts'
import type { Report, Result, Summary } from './types.ts'

/** Evidence as one line: multi-line evidence (numactl) shows its first line and a line count. Not cut. */
export function cell(v: unknown): string {
  let s: string
  if (v === undefined || v === null) s = '-'
  else if (typeof v === 'string') s = v
  else s = JSON.stringify(v)
  const lines = s.split('\n').filter((l) => l !== '')
  return lines.length > 1 ? `${lines[0]} (+${lines.length - 1} lines)` : (lines[0] ?? '')
}

export function summaryLine(s: Summary): string {
  return `${s.pass} passed, ${s.warn} warned, ${s.fail} failed`
}

interface TableOptions {
  color?: boolean
  /** Line width (the terminal's, lib/runner/columns.ts terminalWidth); Infinity with --wide. */
  width?: number
  /** --wide: SEEN and WANTED hold the whole evidence, nothing is cut, and every result's message is under its row. */
  wide?: boolean
}

/**
 * TARGET's widest: enough for `validator1/cpuManagerPolicyOptions`; a longer `<node>/<item>` keeps its node and loses the
 * middle of its item (`validator1/net.ipv4.tc…ion_control`), so the evidence keeps its room in 120 columns.
 */
export const TARGET_WIDTH = 34

/** Each target as the table shows it: long ones cut in the middle of the item, unless two would then read alike. */
function targetCells(targets: string[]): string[] {
  const short = targets.map((t) => {
    const slash = t.indexOf('/')
    const node = slash < 0 ? '' : t.slice(0, slash + 1)
    return node + cutMiddle(t.slice(node.length), Math.max(1, TARGET_WIDTH - textWidth(node)))
  })
  return short.map((s, i) => (short.filter((x) => x === s).length > 1 ? targets[i]! : s))
}

const HEADER = ['CHECK', 'TARGET', 'STATUS', 'SEEN', 'WANTED']
const STATUS_COLUMN = 2
const DETAIL_INDENT = '    '
const COLOURS = { pass: 32, warn: 33, fail: 31 } as const

/**
 * One line per result in aligned columns, the widest column cut to `width`; under every result that did not pass
 * (every result with `wide`) an indented line saying why, cut to the same width.
 */
export function renderTable(report: Report, opts: TableOptions = {}): string {
  const width = opts.wide ? Infinity : (opts.width ?? Infinity)
  const targets = opts.wide ? report.results.map((r) => r.target) : targetCells(report.results.map((r) => r.target))
  const rows = report.results.map((r, i) => [
    r.check,
    targets[i]!,
    r.status.toUpperCase(),
    ...(opts.wide ? [cell(r.evidence.seen), cell(r.evidence.wanted)] : [cell(r.text.seen), cell(r.text.wanted)]),
  ])
  const paint = (row: number, col: number, padded: string) => {
    if (!opts.color) return padded
    if (row < 0) return `\x1b[1m${padded}\x1b[0m`
    return col === STATUS_COLUMN ? `\x1b[${COLOURS[report.results[row]!.status]}m${padded}\x1b[0m` : padded
  }
  // the evidence columns give way first: a cut check id or target would no longer say which result it is
  const [head, ...lines] = formatColumns(HEADER, rows, { width, paint, keep: [0, 1, STATUS_COLUMN] })
  const out = [head!]
  report.results.forEach((r, i) => {
    out.push(lines[i]!)
    if (r.status !== 'pass' || opts.wide) out.push(detailLine(r, width))
  })
  return out.join('\n')
}

const detailLine = (r: Result, width: number): string => cut(DETAIL_INDENT + r.message.replace(/\s*\n\s*/g, ' '), width)

/** Multi-line text in a result's seen evidence (numactl --hardware), by field name: the table shows only its first line. */
function evidenceTexts(r: Result): [string, string][] {
  const seen = r.evidence.seen
  if (typeof seen === 'string') return seen.includes('\n') ? [['seen', seen]] : []
  if (!seen || typeof seen !== 'object') return []
  return Object.entries(seen as Record<string, unknown>).filter(
    (e): e is [string, string] => typeof e[1] === 'string' && e[1].includes('\n'),
  )
}

/** `wanted` as `key: value` lines. */
function wantedLines(wanted: unknown): string[] {
  if (wanted && typeof wanted === 'object' && !Array.isArray(wanted))
    return Object.entries(wanted).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
  return [cell(wanted)]
}

/**
 * The full multi-line evidence of each result (e.g. the `numactl --hardware` text rendered from the node), uncut:
 * it is what the check judged. When the result did not pass, what was wanted goes beside it (below it when both
 * would not fit in `width`).
 */
export function renderEvidenceTexts(report: Report, opts: { width?: number } = {}): string[] {
  const width = opts.width ?? Infinity
  const out: string[] = []
  for (const r of report.results) {
    for (const [field, text] of evidenceTexts(r)) {
      const left = text.replace(/\n$/, '').split('\n')
      const title = `${r.target}: ${field === 'numactl' ? 'numactl --hardware' : field} as ${r.check} saw it (${r.status.toUpperCase()})`
      out.push('', title)
      if (r.status === 'pass') {
        out.push(...left.map((l) => DETAIL_INDENT + l))
        continue
      }
      const right = ['the inventory expects:', ...wantedLines(r.evidence.wanted)]
      const leftWidth = Math.max(...left.map(textWidth))
      if (DETAIL_INDENT.length + leftWidth + 3 + Math.max(...right.map(textWidth)) <= width) {
        for (let i = 0; i < Math.max(left.length, right.length); i++) {
          const l = left[i] ?? ''
          out.push(`${DETAIL_INDENT}${l}${' '.repeat(leftWidth - textWidth(l))} │ ${right[i] ?? ''}`.trimEnd())
        }
      } else out.push(...left.map((l) => DETAIL_INDENT + l), ...right.map((l) => DETAIL_INDENT + l))
    }
  }
  return out
}

/** The messages of everything that did not pass, one line each (08's summary of its final check run). */
export function renderProblems(report: Report): string[] {
  return report.results
    .filter((r) => r.status !== 'pass')
    .map((r) => `${r.status.toUpperCase()} ${r.check} ${r.target}: ${r.message}`)
}

export function renderJson(report: Report): string {
  return JSON.stringify(report, null, 2) + '\n'
}

/** 1 on any fail, 0 otherwise (warnings do not fail a run). */
export function exitCode(report: Pick<Report, 'summary'>): number {
  return report.summary.fail > 0 ? 1 : 0
}
