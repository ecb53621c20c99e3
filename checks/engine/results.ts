// Small builders the check definitions share, so every Result is shaped the same way.
import type { PerNode, Result, Status } from './types.ts'

export function result(
  check: string,
  target: string,
  status: Status,
  seen: unknown,
  wanted: unknown,
  message: string,
): Result {
  return { check, target, status, evidence: { seen, wanted }, message }
}

export const pass = (check: string, target: string, seen: unknown, wanted: unknown, message: string) =>
  result(check, target, 'pass', seen, wanted, message)
export const warn = (check: string, target: string, seen: unknown, wanted: unknown, message: string) =>
  result(check, target, 'warn', seen, wanted, message)
export const fail = (check: string, target: string, seen: unknown, wanted: unknown, message: string) =>
  result(check, target, 'fail', seen, wanted, message)

/** pass when equal, fail otherwise: the commonest shape of a check. */
export function expectEqual(check: string, target: string, seen: unknown, wanted: unknown, what: string): Result {
  return JSON.stringify(seen) === JSON.stringify(wanted)
    ? pass(check, target, seen, wanted, `${what} is ${fmt(wanted)}`)
    : fail(check, target, seen, wanted, `${what} is ${fmt(seen)}, wanted ${fmt(wanted)}`)
}

export function fmt(v: unknown): string {
  if (v === undefined) return '(absent)'
  return typeof v === 'string' ? v : JSON.stringify(v)
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
