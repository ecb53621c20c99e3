// kubelet v1.33's memory manager as it starts, for the lab kubelet: the checkpoint it keeps in
// /var/lib/kubelet/memory_manager_state (its JSON and its checksum), how it restores it, and the Static policy's
// validateState, which makes kubelet exit when the checkpointed machine state differs from the machine's.
// Sources (kubernetes v1.33.1, k8s.io/kubernetes module):
//   pkg/kubelet/cm/memorymanager/state/state.go              MemoryTable, NUMANodeState, Block (JSON field names)
//   pkg/kubelet/cm/memorymanager/state/checkpoint.go         MemoryManagerCheckpoint, Marshal/VerifyChecksum
//   pkg/kubelet/cm/memorymanager/state/state_checkpoint.go   restoreState (:61-85), the wrapping error (:45-48)
//   pkg/kubelet/cm/memorymanager/policy_static.go            validateState (:591-662), areMachineStatesEqual (:664),
//                                                            areMemoryStatesEqual (:725), getDefaultMachineState (:743)
//   pkg/kubelet/cm/memorymanager/memory_manager.go           convertReserved (:428): reservedMemory per NUMA node
//   pkg/kubelet/checkpointmanager/checksum/checksum.go       fnv32a of hashutil.DeepHashObject
//   pkg/util/hash/hash.go + k8s.io/apimachinery pkg/util/dump ForHash: go-spew v1.1.1 "%#v" with SortKeys,
//                                                            DisableMethods, DisablePointerAddresses (spew/format.go)
// and what kubelet's machine info holds per NUMA node (github.com/google/cadvisor v0.52.1 utils/sysinfo/sysinfo.go
// GetNodesInfo): the node's MemTotal from /sys/devices/system/node/nodeN/meminfo (getNodeMemInfo, kB × 1024) and
// nr_hugepages of every page size under nodeN/hugepages (GetHugePagesInfo). The whole machine state is compared:
// per node and resource (memory and every huge page size, 2Mi included) TotalMemSize, SystemReserved, Allocatable,
// and the Free/Reserved sums; a node whose MemTotal moved by one page since the checkpoint fails it.
// test/unit/lab-memory-manager.test.ts pins the checksums and the verdicts against values kubelet's own code gave.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { quantityValue } from '../lib/kube/quantity.ts'

export interface MemoryTable {
  total: number
  systemReserved: number
  allocatable: number
  reserved: number
  free: number
}
export interface NUMANodeState {
  numberOfAssignments: number
  memoryMap: Record<string, MemoryTable | null> | null
  cells: number[] | null
}
/** NUMA node id (a JSON key) → its state. */
export type NUMANodeMap = Record<string, NUMANodeState | null>
export interface Block {
  numaAffinity: number[] | null
  type: string
  size: number
}
/** pod UID → container name → blocks. */
export type Assignments = Record<string, Record<string, Block[] | null> | null>
export interface MemoryManagerCheckpoint {
  policyName: string
  machineState: NUMANodeMap | null
  entries?: Assignments | null
  checksum: number
}

/** What kubelet's machine info (cadvisor) says of one NUMA node. */
export interface NumaNodeInfo {
  id: number
  /** MemTotal of the node, bytes. */
  memory: number
  hugepages: { pageSizeKiB: number; numPages: number }[]
}

// ---------------------------------------------------------------- checksum (checkpoint.go, go-spew)

const spewList = (xs: number[] | null) => (xs === null ? '<nil>' : `[${xs.join(' ')}]`)

/** Go sorts map keys of kind int numerically and strings bytewise (spew common.go sortValues). */
const intKeys = (o: object) => Object.keys(o).sort((a, b) => Number(a) - Number(b))
const strKeys = (o: object) => Object.keys(o).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : a === b ? 0 : 1))

function spewTable(t: MemoryTable | null): string {
  if (t === null) return '<nil>'
  return `<*>{TotalMemSize:(uint64)${t.total} SystemReserved:(uint64)${t.systemReserved} Allocatable:(uint64)${t.allocatable} Reserved:(uint64)${t.reserved} Free:(uint64)${t.free}}`
}

function spewNode(s: NUMANodeState | null): string {
  if (s === null) return '<nil>'
  const mm = s.memoryMap
  const map =
    mm === null
      ? '<nil>'
      : `map[${strKeys(mm)
          .map((k) => `${k}:${spewTable(mm[k]!)}`)
          .join(' ')}]`
  return `<*>{NumberOfAssignments:(int)${s.numberOfAssignments} MemoryMap:(map[v1.ResourceName]*state.MemoryTable)${map} Cells:([]int)${spewList(s.cells)}}`
}

function spewEntries(e: Assignments | null): string {
  if (e === null) return '<nil>'
  const blocks = (bs: Block[] | null) =>
    bs === null
      ? '<nil>'
      : `[${bs.map((b) => `{NUMAAffinity:([]int)${spewList(b.numaAffinity)} Type:(v1.ResourceName)${b.type} Size:(uint64)${b.size}}`).join(' ')}]`
  const containers = (c: Record<string, Block[] | null> | null) =>
    c === null
      ? '<nil>'
      : `map[${strKeys(c)
          .map((k) => `${k}:${blocks(c[k]!)}`)
          .join(' ')}]`
  return `map[${strKeys(e)
    .map((k) => `${k}:${containers(e[k]!)}`)
    .join(' ')}]`
}

/**
 * dump.ForHash of the checkpoint as kubelet hashes it: after restore, a key absent from the JSON keeps the empty
 * map NewMemoryManagerCheckpoint put there (`map[]`), a JSON null is a nil map (`<nil>`); the checksum field is 0.
 */
export function spewCheckpoint(cp: Omit<MemoryManagerCheckpoint, 'checksum'>): string {
  const ms = cp.machineState
  const nodes =
    ms === null
      ? '<nil>'
      : `map[${intKeys(ms)
          .map((k) => `${k}:${spewNode(ms[k]!)}`)
          .join(' ')}]`
  const entries = cp.entries === undefined ? 'map[]' : spewEntries(cp.entries)
  return `(*state.MemoryManagerCheckpoint){PolicyName:(string)${cp.policyName} MachineState:(state.NUMANodeMap)${nodes} Entries:(state.ContainerMemoryAssignments)${entries} Checksum:(checksum.Checksum)0}`
}

/** hash/fnv New32a over the text. */
export function fnv32a(text: string): number {
  let h = 0x811c9dc5
  for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 0x01000193) >>> 0
  return h
}

export const checkpointChecksum = (cp: Omit<MemoryManagerCheckpoint, 'checksum'>): number => fnv32a(spewCheckpoint(cp))

/** MarshalCheckpoint: Go's field order, entries omitted when empty (omitempty), map keys sorted (encoding/json). */
export function marshalCheckpoint(cp: Omit<MemoryManagerCheckpoint, 'checksum'>): string {
  const sorted = (o: Record<string, unknown> | null, byInt = false) =>
    o === null ? null : Object.fromEntries((byInt ? intKeys(o) : strKeys(o)).map((k) => [k, o[k]]))
  const ms = cp.machineState
  const machineState =
    ms === null
      ? null
      : sorted(
          Object.fromEntries(
            Object.entries(ms).map(([k, s]) => [
              k,
              s && {
                numberOfAssignments: s.numberOfAssignments,
                memoryMap: sorted(s.memoryMap),
                cells: s.cells,
              },
            ]),
          ),
          true,
        )
  const entries = cp.entries && Object.keys(cp.entries).length ? { entries: sorted(cp.entries) } : {}
  return JSON.stringify({
    policyName: cp.policyName,
    machineState,
    ...entries,
    checksum: checkpointChecksum(cp),
  })
}

// ---------------------------------------------------------------- machine info (cadvisor) and reservations

/** The NUMA nodes as cadvisor reads them from the node's sysfs (under a sysroot). */
export function readNumaNodes(root: string): NumaNodeInfo[] {
  const base = join(root, 'sys/devices/system/node')
  if (!existsSync(base)) return []
  return readdirSync(base)
    .filter((d) => /^node\d+$/.test(d))
    .map((d) => {
      const dir = join(base, d)
      const m = /MemTotal:\s*([0-9]+) kB/.exec(readFileSync(join(dir, 'meminfo'), 'utf8'))
      const hp = join(dir, 'hugepages')
      const hugepages = existsSync(hp)
        ? readdirSync(hp).map((h) => ({
            pageSizeKiB: Number(/^hugepages-(\d+)kB$/.exec(h)![1]),
            numPages: Number.parseInt(readFileSync(join(hp, h, 'nr_hugepages'), 'utf8'), 10),
          }))
        : []
      return { id: Number(d.slice(4)), memory: Number(m?.[1] ?? 0) * 1024, hugepages }
    })
    .sort((a, b) => a.id - b.id)
}

/** corehelper.HugePageResourceName of a page size: its bytes as a canonical binary-SI quantity. */
export function hugepageResourceName(pageSizeKiB: number): string {
  const bytes = pageSizeKiB * 1024
  for (const [suffix, f] of [
    ['Ti', 2 ** 40],
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ] as const)
    if (bytes % f === 0) return `hugepages-${bytes / f}${suffix}`
  return `hugepages-${bytes}`
}

/** NUMA node → resource → bytes, from KubeletConfiguration.reservedMemory (convertReserved). */
export type SystemReserved = Record<number, Record<string, number>>

export function reservedFromConfig(reservedMemory: unknown, nodes: NumaNodeInfo[]): SystemReserved {
  const out: SystemReserved = Object.fromEntries(nodes.map((n) => [n.id, {}]))
  for (const r of (Array.isArray(reservedMemory) ? reservedMemory : []) as {
    numaNode?: number
    limits?: Record<string, string>
  }[])
    for (const [res, q] of Object.entries(r.limits ?? {})) (out[Number(r.numaNode)] ??= {})[res] = quantityValue(q) ?? 0
  return out
}

// ---------------------------------------------------------------- the Static policy (policy_static.go)

export function defaultMachineState(nodes: NumaNodeInfo[], reserved: SystemReserved): NUMANodeMap {
  const out: NUMANodeMap = {}
  for (const node of nodes) {
    const memoryMap: Record<string, MemoryTable> = {}
    let inHugepages = 0
    for (const hp of node.hugepages) {
      const name = hugepageResourceName(hp.pageSizeKiB)
      const systemReserved = reserved[node.id]?.[name] ?? 0
      const total = hp.numPages * hp.pageSizeKiB * 1024
      const allocatable = total - systemReserved
      memoryMap[name] = { total, systemReserved, allocatable, reserved: 0, free: allocatable }
      inHugepages += total
    }
    const systemReserved = reserved[node.id]?.memory ?? 0
    const allocatable = node.memory - systemReserved - inHugepages
    memoryMap.memory = { total: node.memory, systemReserved, allocatable, reserved: 0, free: allocatable }
    out[node.id] = { numberOfAssignments: 0, memoryMap, cells: [node.id] }
  }
  return out
}

const sameGroup = (a: number[] | null, b: number[] | null) =>
  JSON.stringify([...(a ?? [])].sort((x, y) => x - y)) === JSON.stringify([...(b ?? [])].sort((x, y) => x - y))

/** areMachineStatesEqual: per node and resource the totals, reservations and allocatable, and the group sums. */
function machineStatesEqual(ms1: NUMANodeMap, ms2: NUMANodeMap): boolean {
  if (Object.keys(ms1).length !== Object.keys(ms2).length) return false
  for (const [id, s1] of Object.entries(ms1)) {
    const s2 = ms2[id]
    if (!s1 || !s2) return false
    if (s1.numberOfAssignments !== s2.numberOfAssignments || !sameGroup(s1.cells, s2.cells)) return false
    const m1 = s1.memoryMap ?? {}
    const m2 = s2.memoryMap ?? {}
    if (Object.keys(m1).length !== Object.keys(m2).length) return false
    for (const [res, t1] of Object.entries(m1)) {
      const t2 = m2[res]
      if (!t1 || !t2) return false
      if (t1.total !== t2.total || t1.systemReserved !== t2.systemReserved || t1.allocatable !== t2.allocatable)
        return false
      const sum = (ms: NUMANodeMap, f: 'free' | 'reserved') =>
        (s1.cells ?? []).reduce((a, c) => a + (ms[c]?.memoryMap?.[res]?.[f] ?? 0), 0)
      if (sum(ms1, 'free') !== sum(ms2, 'free') || sum(ms1, 'reserved') !== sum(ms2, 'reserved')) return false
    }
  }
  return true
}

/**
 * validateState: an empty machine state (a fresh checkpoint) takes the machine's (and is stored); otherwise the
 * checkpoint must equal the machine's default state with every recorded assignment applied. Returns the state to
 * keep, or kubelet's error.
 */
export function validateState(
  cp: Pick<MemoryManagerCheckpoint, 'machineState' | 'entries'>,
  machine: NUMANodeMap,
): { state: NUMANodeMap } | { error: string } {
  const entries = cp.entries ?? {}
  const assigned = Object.values(entries).some((c) => c && Object.keys(c).length)
  if (!cp.machineState || Object.keys(cp.machineState).length === 0) {
    if (Object.keys(entries).length)
      return { error: '[memorymanager] machine state can not be empty when it has memory assignments' }
    return { state: machine }
  }
  const applied = applyAssignments(machine, assigned ? entries : {})
  if ('error' in applied) return applied
  const expected = applied.state
  if (!machineStatesEqual(cp.machineState, expected))
    return { error: '[memorymanager] the expected machine state is different from the real one' }
  return { state: cp.machineState }
}

/**
 * The machine state with these assignments taken from it, as validateState (policy_static.go:591-662) recomputes it:
 * each block reserves its size from the free memory of its NUMA nodes in turn, and counts an assignment on each.
 */
export function applyAssignments(
  machine: NUMANodeMap,
  entries: Assignments,
): { state: NUMANodeMap } | { error: string } {
  const expected = structuredClone(machine)
  for (const [pod, containers] of Object.entries(entries))
    for (const [container, blocks] of Object.entries(containers ?? {}))
      for (const b of blocks ?? []) {
        let size = b.size
        for (const id of b.numaAffinity ?? []) {
          const node = expected[id]
          if (!node)
            return {
              error: `[memorymanager] (pod: ${pod}, container: ${container}) the memory assignment uses the NUMA that does not exist`,
            }
          node.numberOfAssignments++
          node.cells = b.numaAffinity
          const t = node.memoryMap?.[b.type]
          if (!t)
            return {
              error: `[memorymanager] (pod: ${pod}, container: ${container}) the memory assignment uses memory resource that does not exist`,
            }
          if (size === 0 || t.free <= 0) continue
          const take = Math.min(size, t.free)
          t.reserved += take
          t.free -= take
          size -= take
        }
      }
  return { state: expected }
}
