// Small builders the check definitions share, so every Result is shaped the same way, and the one place where a
// check says how its evidence reads to a person: the table shows `Ready` or `3/3 members`, --json and --wide the
// structure behind it.
import type { PerNode, Result, Status } from './types.ts'

/** A structured value and the few words the table shows for it (`leader cp1`, `0.2 MB of 2 GB`). */
export class Worded {
  constructor(
    readonly value: unknown,
    readonly text: string,
  ) {}
}

/** `value` (kept whole for --json and --wide) shown in the table as `text`. */
export const worded = (value: unknown, text: string): Worded => new Worded(value, text)

/**
 * What a check passes as seen or wanted: a scalar reads as itself; anything with structure (an object, an array)
 * must be `worded`, so no check can put raw JSON in the table. The compiler enforces it: objects do not fit.
 */
export type Evidenced = string | number | boolean | null | undefined | Worded

const valueOf = (e: Evidenced): unknown => (e instanceof Worded ? e.value : e)

/** The table's words for a piece of evidence: a Worded's text, a scalar as itself, '-' for nothing. */
export function wordsOf(e: Evidenced): string {
  if (e instanceof Worded) return e.text
  if (e === undefined || e === null) return '-'
  return String(e)
}

export function result(
  check: string,
  target: string,
  status: Status,
  seen: Evidenced,
  wanted: Evidenced,
  message: string,
): Result {
  return {
    check,
    target,
    status,
    evidence: { seen: valueOf(seen), wanted: valueOf(wanted) },
    text: { seen: wordsOf(seen), wanted: wordsOf(wanted) },
    message,
  }
}

export const pass = (check: string, target: string, seen: Evidenced, wanted: Evidenced, message: string) =>
  result(check, target, 'pass', seen, wanted, message)
export const warn = (check: string, target: string, seen: Evidenced, wanted: Evidenced, message: string) =>
  result(check, target, 'warn', seen, wanted, message)
export const fail = (check: string, target: string, seen: Evidenced, wanted: Evidenced, message: string) =>
  result(check, target, 'fail', seen, wanted, message)

/** pass when equal, fail otherwise: the commonest shape of a check. */
export function expectEqual(check: string, target: string, seen: Evidenced, wanted: Evidenced, what: string): Result {
  return JSON.stringify(valueOf(seen)) === JSON.stringify(valueOf(wanted))
    ? pass(check, target, seen, wanted, `${what} is ${fmt(valueOf(wanted))}`)
    : fail(check, target, seen, wanted, `${what} is ${fmt(valueOf(seen))}, wanted ${fmt(valueOf(wanted))}`)
}

export function fmt(v: unknown): string {
  if (v === undefined) return '(absent)'
  return typeof v === 'string' ? v : JSON.stringify(v)
}

/** `n thing(s)`: the counts the table shows (`1 member`, `3 pods`). */
export const count = (n: number, thing: string): string => `${n} ${thing}${n === 1 ? '' : 's'}`

/** Bytes as a person reads a size: `0.2 MiB`, `2 GiB` (binary units, as etcd's quota and the kernel count). */
export function bytes(b: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = b
  let i = 0
  // a value under 0.1 of the next unit reads better in this one (0.2 MiB, not 205 KiB; but 20 KiB, not 0.0 MiB)
  while (Math.abs(v) >= 102.4 && i < units.length - 1) {
    v /= 1024
    i++
  }
  const digits = i === 0 || Math.abs(v) >= 10 || Number.isInteger(v) ? 0 : 1
  return `${v.toFixed(digits)} ${units[i]}`
}

/**
 * One node's value from a per-node source, or a fail Result naming the node and the error when the source could
 * not read it there. Callers: `const v = nodeValue(...); if ('fail' in v) return [v.fail]`.
 */
export function nodeValue<T>(
  data: PerNode<T>,
  node: string,
  check: string,
  source: string,
): { value: T } | { fail: Result } {
  if (node in data.values) return { value: data.values[node] as T }
  const err = data.errors[node] ?? `no ${source} data for ${node}`
  return { fail: fail(check, node, err, `${source} from ${node}`, `could not read ${source} on ${node}: ${err}`) }
}
