// Kubernetes resource quantities ("2Gi", "1524Mi", "1000m", "500M") as numbers, so "1Gi" and "1024Mi" compare equal.
const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
}

export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q
  const m = /^\s*([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*([a-zA-Z]*)\s*$/.exec(q)
  const mult = m ? SUFFIX[m[2]!] : undefined
  if (!m || mult === undefined) throw new Error(`not a Kubernetes quantity: ${JSON.stringify(q)}`)
  return Number(m[1]) * mult
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
