// Kubernetes resource quantities ("2Gi", "1524Mi", "1000m", "500M") as numbers, so "1Gi" and "1024Mi" compare equal.
import { quantityValue } from '../../lib/kube/quantity.ts'

export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q
  const v = quantityValue(q)
  if (v === undefined) throw new Error(`not a Kubernetes quantity: ${JSON.stringify(q)}`)
  return v
}

/** Equal as quantities when both parse, as strings otherwise. */
export function sameQuantity(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b
  try {
    return Math.abs(parseQuantity(String(a)) - parseQuantity(String(b))) < 1e-9
  } catch {
    return String(a) === String(b)
  }
}

/** kB in /proc/meminfo's Hugepagesize and the sysfs hugepages-<N>kB directory for an inventory size like "1Gi". */
export function hugepageSizeKb(size: string): number {
  return parseQuantity(size) / 1024
}
