// NUMA topology from sysfs files fetched one at a time through the Talos API. lib/host/numa.ts reads through a
// synchronous reader so it stays pure; `readOnDemand` runs it over a cache and fetches whatever paths it asked
// for and missed, round by round, until it asks for nothing new (later paths depend on earlier contents: node
// ids come from `online`).
import {
  formatNumactlHardware,
  readNumaFromFiles,
  type NumaReadOptions,
  type NumaTopology,
} from '../../lib/host/numa.ts'
import type { NumaView } from './types.ts'

type SyncRead = (path: string) => string | undefined

const NODE_SYSFS = '/sys/devices/system/node'
/** Read up front: without it lib/numa probes node0..node1023 one by one (`possible` is read only when it is missing). */
const NUMA_PREFETCH = [`${NODE_SYSFS}/online`]

/**
 * What the checks need of a machine's NUMA topology, and no more: every file is one Talos API call. CPUs (cpumap),
 * memory (meminfo), distances, and the size of the huge page pools of the inventory's page sizes. The numactl
 * rendering in the evidence does not show huge pages, so their free and surplus counts are not read.
 */
export const numaReadOptions = (hugepageSizesKiB: number[]): NumaReadOptions => ({
  hugepageSizesKiB,
  hugepageTotalsOnly: true,
})

/**
 * Everything readNumaFromFiles reads with numaReadOptions when the machine has `expectedNodes` NUMA nodes (the
 * inventory says how many): fetched in one parallel round instead of one round per level of the tree. A wrong
 * guess only costs another round.
 */
export function numaPrefetch(expectedNodes: number, hugepageSizesKiB: number[]): string[] {
  const perNode = (id: number) => {
    const dir = `${NODE_SYSFS}/node${id}`
    return [
      `${dir}/cpumap`,
      `${dir}/meminfo`,
      `${dir}/distance`,
      ...hugepageSizesKiB.map((kb) => `${dir}/hugepages/hugepages-${kb}kB/nr_hugepages`),
    ]
  }
  return [...NUMA_PREFETCH, ...Array.from({ length: expectedNodes }, (_, id) => perNode(id)).flat()]
}

export async function readOnDemand<T>(
  compute: (read: SyncRead) => T,
  fetch: (paths: string[]) => Promise<Map<string, string | undefined>>,
  opts: { prefetch?: string[]; maxRounds?: number; maxReadsPerRound?: number } = {},
): Promise<T> {
  const cache = new Map<string, string | undefined>()
  if (opts.prefetch?.length) for (const [p, v] of await fetch(opts.prefetch)) cache.set(p, v)
  const maxRounds = opts.maxRounds ?? 6
  // lib/numa probes node0..node1023 when neither `online` nor `possible` is there: thousands of API calls
  const maxReads = opts.maxReadsPerRound ?? 256
  for (let round = 0; ; round++) {
    const missed = new Set<string>()
    const read: SyncRead = (p) => {
      if (cache.has(p)) return cache.get(p)
      missed.add(p)
      return undefined
    }
    let value: T | undefined
    let error: unknown
    try {
      value = compute(read)
    } catch (e) {
      error = e
    }
    if (missed.size === 0 || round >= maxRounds) {
      if (error !== undefined) throw error
      return value as T
    }
    if (missed.size > maxReads) {
      const first = [...missed].slice(0, 2).join(', ')
      throw new Error(
        `would read ${missed.size} more files (${first}, …); ${NUMA_PREFETCH.join(' and ')} is not there to say which to read`,
      )
    }
    for (const [p, v] of await fetch([...missed])) cache.set(p, v)
  }
}

/** The checks' view of a lib/numa topology, with the numactl rendering for evidence. */
export function toNumaView(t: NumaTopology): NumaView {
  return {
    nodes: t.nodes.map((n) => ({ id: n.id, cpus: n.cpus, memTotalMiB: n.memTotalMiB ?? 0 })),
    distances: t.distances,
    numactl: formatNumactlHardware(t),
  }
}

/** Page size (kB) → NUMA node id → nr_hugepages, for each of sizesKiB. */
export const hugepagesBySize = (t: NumaTopology, sizesKiB: number[]): Record<number, Record<number, number>> =>
  Object.fromEntries(sizesKiB.map((kb) => [kb, hugepagesPerNode(t, kb)]))

/** NUMA node id → nr_hugepages for pages of sizeKiB. Nodes without that pool report 0. */
export function hugepagesPerNode(t: NumaTopology, sizeKiB: number): Record<number, number> {
  return Object.fromEntries(t.nodes.map((n) => [n.id, n.hugepages?.[sizeKiB]?.total ?? 0]))
}

export { readNumaFromFiles }
