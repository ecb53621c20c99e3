// Kubernetes resource quantities ("500Mi", "1500m", "2", "1e3") as plain numbers (bytes, cores), with the
// grammar of k8s.io/apimachinery's resource.Quantity. One parser for the lab's kubelets, the checks, the
// inventory and the runbooks; each caller keeps its own answer for "not a quantity" (throw, NaN, undefined).

export const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
}
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
}

/** The quantity's value, or undefined when q is not a Kubernetes quantity. Surrounding whitespace is ignored. */
export function quantityValue(q: string): number | undefined {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E))?$/.exec(q.trim())
  if (!m) return undefined
  const n = Number(m[1])
  if (m[2]) return n * BINARY[m[2]]!
  if (m[3]) return n * 10 ** Number(m[3].slice(1))
  return n * DECIMAL[m[4] ?? '']!
}

/** Parse a quantity into its plain value (bytes, cores); undefined is 0. Throws naming the bad string, as the API server words it. */
export function parseQuantity(q: string | number | undefined): number {
  if (q === undefined || q === null) return 0
  if (typeof q === 'number') return q
  const v = quantityValue(q)
  if (v === undefined)
    throw new Error(
      `quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': ${JSON.stringify(q)}`,
    )
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
