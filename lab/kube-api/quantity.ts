// Kubernetes resource quantities (parsed by lib/kube/quantity.ts) formatted as the API server prints them, and the
// kubectl-style age string.
// Pure functions: the scheduler, node capacity and tables all go through these.

import { BINARY, parseQuantity } from '../../lib/kube/quantity.ts'

export { parseQuantity }

/** Milli-units, as the scheduler compares cpu. */
export const milli = (q: string | number | undefined) => Math.round(parseQuantity(q) * 1000)

/** Canonical binary form as the API server prints memory: the largest suffix that keeps an integer. */
export function formatBinary(bytes: number): string {
  const b = Math.round(bytes)
  if (b === 0) return '0'
  for (const s of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki']) {
    if (b % BINARY[s] === 0) return `${b / BINARY[s]}${s}`
  }
  return String(b)
}

/** cpu: whole cores as "8", otherwise millicores "7500m". */
export function formatCpu(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`
}

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration: the AGE column. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000)
  if (seconds < -1) return '<invalid>'
  if (seconds < 0) return '0s'
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`
  if (minutes < 180) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`
  if (hours < 48) return `${hours}h`
  if (hours < 24 * 8) return hours % 24 === 0 ? `${hours / 24}d` : `${Math.floor(hours / 24)}d${hours % 24}h`
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`
  }
  return `${Math.floor(hours / 24 / 365)}y`
}

export const age = (ts: string | undefined, now = Date.now()) =>
  ts ? humanDuration(now - Date.parse(ts)) : '<unknown>'

/** RFC 3339 seconds, as metav1.Time marshals. */
export const nowTs = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, 'Z')
