// Kubernetes resource quantities (parsed by lib/kube/quantity.ts) formatted as the API server prints them, for the
// capacity and allocatable a lab kubelet reports (lab/node-shape.ts), and metav1.Time's format.

import { BINARY, parseQuantity } from '../lib/kube/quantity.ts'

export { parseQuantity }

/** Milli-units, as kubelet sums cpu. */
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

/** RFC 3339 seconds, as metav1.Time marshals. */
export const nowTs = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, 'Z')
