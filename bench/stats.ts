// Pure helpers for the benchmarks: summary statistics of repeated runs and the verdict against a target.
// No I/O and no clocks here, so they are unit-tested (test/unit/bench-stats.test.ts).

/** One line of the benchmark table (bench/results.json, README). */
export interface Row {
  name: string
  unit: string
  runs: number
  median: number
  min: number
  max: number
  /** Lower is better. */
  target?: number
  note?: string
}

export interface Summary {
  runs: number
  median: number
  min: number
  max: number
}

/** The middle value (mean of the two middle values for an even count). Throws on an empty list. */
export function median(xs: readonly number[]): number {
  if (!xs.length) throw new Error('median of no values')
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export function summarize(xs: readonly number[]): Summary {
  if (!xs.length) throw new Error('summary of no values')
  return { runs: xs.length, median: median(xs), min: Math.min(...xs), max: Math.max(...xs) }
}

/** Lower is better: how far `value` is over `target` ('' when met), e.g. "missed by 250 ms (1.42×)". */
export function missedBy(value: number, target: number, unit: string): string {
  if (value <= target) return ''
  const over = value - target
  const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2))
  return `missed by ${fmt(over)}${unit ? ' ' + unit : ''} (${(value / target).toFixed(2)}× the target)`
}

/** Round to `digits` decimals (0: integers), for a stable results.json. */
export const round = (n: number, digits = 0) => {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

/** One line of the log a TALOSCTL/KUBECTL wrapper writes: `<startNs> <endNs> <exit> <tool> <args...>`. */
export interface CallRecord {
  tool: string
  startMs: number
  endMs: number
  durationMs: number
  exit: number
  args: string
}

export function parseCallLog(text: string): CallRecord[] {
  const out: CallRecord[] = []
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\d+) (\d+) (\S+) ?(.*)$/.exec(line.trim())
    if (!m) continue
    const startMs = Number(BigInt(m[1]!) / 1000n) / 1000
    const endMs = Number(BigInt(m[2]!) / 1000n) / 1000
    out.push({ tool: m[4]!, startMs, endMs, durationMs: endMs - startMs, exit: Number(m[3]), args: m[5] ?? '' })
  }
  return out
}

/** Calls of one tool and the slowest of them (undefined when none). */
export function callStats(
  calls: readonly CallRecord[],
  tool?: string,
): { count: number; slowest?: CallRecord; totalMs: number } {
  const mine = tool ? calls.filter((c) => c.tool === tool) : [...calls]
  let slowest: CallRecord | undefined
  for (const c of mine) if (!slowest || c.durationMs > slowest.durationMs) slowest = c
  return { count: mine.length, slowest, totalMs: mine.reduce((a, c) => a + c.durationMs, 0) }
}

/** Wall time covered by the union of the calls' intervals: time spent waiting on at least one call. */
export function busyMs(calls: readonly CallRecord[]): number {
  const iv = calls.map((c) => [c.startMs, c.endMs] as const).sort((a, b) => a[0] - b[0])
  let total = 0
  let cur: [number, number] | undefined
  for (const [s, e] of iv) {
    if (!cur || s > cur[1]) {
      if (cur) total += cur[1] - cur[0]
      cur = [s, e]
    } else cur[1] = Math.max(cur[1], e)
  }
  if (cur) total += cur[1] - cur[0]
  return total
}

/** The fields of /proc/<pid>/stat after the command name: rest[0] is field 3 (state). */
const statRest = (stat: string) => stat.slice(stat.lastIndexOf(')') + 2).split(' ')

/** CPU seconds from /proc/<pid>/stat: utime + stime (fields 14, 15) in clock ticks. */
export function cpuTicksOf(stat: string): number {
  const rest = statRest(stat)
  return Number(rest[11]) + Number(rest[12])
}

/** The process group id from /proc/<pid>/stat (field 5). */
export const processGroupOf = (stat: string): number => Number(statRest(stat)[2])
