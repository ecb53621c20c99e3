// NUMA topology from sysfs, and the `numactl --hardware` report (numactl 2.0.16) built from it.
// Pure: callers pass a reader, so the same code works over `talosctl read` (Talos API) or a local lab sysroot.
//
// The report follows numactl.c hardware()/print_distances() and libnuma's sysfs reading in 2.0.16:
//  - nodes are the configured ones (libnuma lists /sys/devices/system/node/node*; we read `online`);
//  - size/free are MemTotal/MemFree of nodeN/meminfo, in kB, shifted down to MB (floor);
//  - cpus come from nodeN/cpumap; a missing/unparsable cpumap prints an empty cpu list;
//  - distances are printed with printf("% 3d ") so every cell is space-padded to 3 and followed by a space.
import { SUPPORTED_HUGEPAGE_KIB } from './procfs.ts'

interface NumaHugepages {
  total: number
  free: number
  surplus: number
}

interface NumaNodeInfo {
  id: number
  cpus: number[]
  /** MemTotal of the node as numactl shows it (MB = kB >> 10); undefined when the node has no readable meminfo. */
  memTotalMiB?: number
  memFreeMiB?: number
  /** Exact values from nodeN/meminfo, when read from sysfs (a numactl report only carries MB). */
  memTotalKiB?: number
  memFreeKiB?: number
  /** Per page size in kB (2048, 1048576): nodeN/hugepages/hugepages-<size>kB/{nr,free,surplus}_hugepages. */
  hugepages?: Record<number, NumaHugepages>
}

export interface NumaTopology {
  nodes: NumaNodeInfo[]
  /** distances[i][j]: from nodes[i] to nodes[j] (row i is nodes[i]'s `distance` file). Empty when unknown. */
  distances: number[][]
}

const NODE_DIR = '/sys/devices/system/node'

// ---------------------------------------------------------------- cpu lists and bitmaps

/** Kernel list format ("0-3,8,10-11", as in cpulist/online) → sorted unique ids. Throws on malformed input. */
export function parseCpuList(text: string): number[] {
  const out = new Set<number>()
  const body = text.trim()
  if (body === '') return []
  for (const part of body.split(',')) {
    // the kernel also accepts "a-b:used/group" (bitmap_parselist); sysfs never prints it but accept it
    const m = /^(\d+)(?:-(\d+)(?::(\d+)\/(\d+))?)?$/.exec(part.trim())
    if (!m) throw new Error(`bad cpu list ${JSON.stringify(text)}: cannot parse ${JSON.stringify(part)}`)
    const a = Number(m[1])
    const b = m[2] === undefined ? a : Number(m[2])
    if (b < a) throw new Error(`bad cpu list ${JSON.stringify(text)}: range ${part} is reversed`)
    const used = m[3] === undefined ? 1 : Number(m[3])
    const group = m[4] === undefined ? 1 : Number(m[4])
    if (group === 0 || used > group) throw new Error(`bad cpu list ${JSON.stringify(text)}: bad group in ${part}`)
    for (let i = a; i <= b; i++) if ((i - a) % group < used) out.add(i)
  }
  return [...out].sort((x, y) => x - y)
}

/** ids → kernel list format (`%*pbl`): ascending, runs of 2+ collapsed to "a-b". [] → "". */
export function formatCpuList(ids: Iterable<number>): string {
  const s = [...new Set(ids)].sort((a, b) => a - b)
  const parts: string[] = []
  for (let i = 0; i < s.length;) {
    let j = i
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++
    parts.push(j === i ? String(s[i]) : `${s[i]}-${s[j]}`)
    i = j + 1
  }
  return parts.join(',')
}

/** Kernel bitmap (`%*pb`, e.g. cpumap "ffff,00000000,0000ffff": 32-bit hex groups, most significant first) → ids. */
export function parseCpumap(hex: string): number[] {
  const groups = hex.trim().split(',')
  const out: number[] = []
  for (let g = 0; g < groups.length; g++) {
    const word = groups[groups.length - 1 - g]!
    if (!/^[0-9a-fA-F]{1,8}$/.test(word))
      throw new Error(`bad cpumap ${JSON.stringify(hex)}: group ${JSON.stringify(word)}`)
    const v = parseInt(word, 16)
    for (let bit = 0; bit < 32; bit++) if ((v >>> bit) & 1) out.push(g * 32 + bit)
  }
  return out.sort((a, b) => a - b)
}

/**
 * ids → kernel bitmap of nbits bits (`%*pb` with nr_cpu_ids): 32-bit groups, comma separated, most significant
 * first; the first group is zero-padded only to the bits it holds (nbits 4 → "f", 48 → "ffff,ffffffff").
 */
export function formatCpumap(ids: Iterable<number>, nbits: number): string {
  if (nbits <= 0) return ''
  const set = new Set(ids)
  for (const id of set) if (id >= nbits) throw new Error(`cpu ${id} does not fit a ${nbits}-bit cpumap`)
  const groups: string[] = []
  let first = nbits % 32 || 32
  for (let base = Math.ceil(nbits / 32) * 32 - 32; base >= 0; base -= 32) {
    let v = 0
    for (let bit = 0; bit < 32; bit++) if (set.has(base + bit)) v = (v | (1 << bit)) >>> 0
    groups.push(v.toString(16).padStart(Math.ceil(first / 4), '0'))
    first = 32
  }
  return groups.join(',')
}

// ---------------------------------------------------------------- sysfs → topology

function parseNodeMeminfo(text: string): Record<string, number> {
  // "Node 0 MemTotal:        4286240 kB"
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^Node\s+\d+\s+([^:]+):\s*(\d+)/.exec(line)
    if (m) out[m[1]!] = Number(m[2])
  }
  return out
}

function readTrim(read: (path: string) => string | undefined, path: string): string | undefined {
  const v = read(path)
  return v === undefined ? undefined : v.trim()
}

export interface NumaReadOptions {
  /** Only these huge page sizes (default: every size the kernel supports). */
  hugepageSizesKiB?: readonly number[]
  /** Only nr_hugepages: free and surplus read as 0 (a caller that judges the pool's size needs no more). */
  hugepageTotalsOnly?: boolean
}

/**
 * Build the topology from sysfs contents. `read(path)` returns a file's text or undefined when it does not exist
 * (absolute paths under /sys/devices/system/node). Throws when no node can be found at all.
 */
export function readNumaFromFiles(
  read: (path: string) => string | undefined,
  opts: NumaReadOptions = {},
): NumaTopology {
  const exists = (id: number) =>
    read(`${NODE_DIR}/node${id}/meminfo`) !== undefined || read(`${NODE_DIR}/node${id}/cpumap`) !== undefined
  let ids: number[]
  // each file read may be a remote call (the checks read through the Talos API): read a fallback only when needed
  const online = readTrim(read, `${NODE_DIR}/online`)
  const possible = online ? undefined : readTrim(read, `${NODE_DIR}/possible`)
  if (online) ids = parseCpuList(online)
  // possible can name nodes that never came up: keep those with a directory, as libnuma's readdir would
  else if (possible) ids = parseCpuList(possible).filter(exists)
  else {
    ids = []
    for (let id = 0; id < 1024; id++) if (exists(id)) ids.push(id)
  }
  if (ids.length === 0) throw new Error(`no NUMA nodes under ${NODE_DIR} (no online file and no node*/meminfo)`)

  const nodes: NumaNodeInfo[] = ids.map((id) => {
    const dir = `${NODE_DIR}/node${id}`
    const n: NumaNodeInfo = { id, cpus: [] }
    const cpumap = readTrim(read, `${dir}/cpumap`)
    // numactl reads cpumap; cpulist is the same set, used when cpumap is absent (some APIs serve only one)
    const cpulist = cpumap ? undefined : readTrim(read, `${dir}/cpulist`)
    if (cpumap !== undefined && cpumap !== '') n.cpus = parseCpumap(cpumap)
    else if (cpulist !== undefined) n.cpus = parseCpuList(cpulist)
    const meminfo = read(`${dir}/meminfo`)
    // libnuma zeroes free before reading, so without meminfo (or without MemFree) free shows as 0 MB
    n.memFreeMiB = 0
    if (meminfo !== undefined) {
      const mi = parseNodeMeminfo(meminfo)
      if (mi.MemTotal !== undefined) {
        n.memTotalKiB = mi.MemTotal
        n.memTotalMiB = Math.floor(mi.MemTotal / 1024)
      }
      n.memFreeKiB = mi.MemFree ?? 0
      n.memFreeMiB = Math.floor(n.memFreeKiB / 1024)
    }
    for (const size of opts.hugepageSizesKiB ?? SUPPORTED_HUGEPAGE_KIB) {
      const hp = `${dir}/hugepages/hugepages-${size}kB`
      const total = readTrim(read, `${hp}/nr_hugepages`)
      if (total === undefined) continue
      n.hugepages ??= {}
      const full = !opts.hugepageTotalsOnly
      n.hugepages[size] = {
        total: Number(total),
        free: full ? Number(readTrim(read, `${hp}/free_hugepages`) ?? 0) : 0,
        surplus: full ? Number(readTrim(read, `${hp}/surplus_hugepages`) ?? 0) : 0,
      }
    }
    return n
  })

  // the distance file of node i lists distances to every online node, in node order
  let distances: number[][] = nodes.map((n) => {
    const line = readTrim(read, `${NODE_DIR}/node${n.id}/distance`)
    if (line === undefined || line === '') return []
    const row = line.split(/\s+/).map(Number)
    if (row.some((d) => !Number.isInteger(d)))
      throw new Error(`bad ${NODE_DIR}/node${n.id}/distance: ${JSON.stringify(line)}`)
    return row
  })
  if (distances.every((r) => r.length === 0)) distances = []
  return { nodes, distances }
}

// ---------------------------------------------------------------- numactl --hardware

const pad3 = (n: number) => String(n).padStart(3, ' ')

/** numactl's "available: N nodes (...)" range, including its way of printing runs ("0-3", "0,2-3"). */
function availableRange(ids: number[]): string {
  // mirrors numactl.c hardware(): a run's end is only printed on a gap or at the highest node
  const set = new Set(ids)
  const maxnode = Math.max(...ids)
  let out = ''
  let prev = -1
  let skip = false
  for (let i = 0; i <= maxnode; i++) {
    if (!set.has(i)) continue
    if (prev === -1) {
      out += String(i)
      prev = i
      continue
    }
    if (i > prev + 1) {
      if (skip) {
        out += String(prev)
        skip = false
      }
      out += `,${i}`
      prev = i
      continue
    }
    if (i === prev + 1) {
      if (!skip) {
        out += '-'
        skip = true
      }
      prev = i
    }
    if (i === maxnode && skip) out += String(prev)
  }
  return out
}

/** The exact text `numactl --hardware` (2.0.16) prints for this topology, trailing newline included. */
export function formatNumactlHardware(t: NumaTopology): string {
  const nodes = [...t.nodes].sort((a, b) => a.id - b.id)
  const order = new Map(t.nodes.map((n, i) => [n.id, i]))
  if (nodes.length === 0) throw new Error('formatNumactlHardware: topology has no nodes')
  const lines: string[] = []
  lines.push(`available: ${nodes.length} nodes (${availableRange(nodes.map((n) => n.id))})`)
  const mem = (v: number | undefined) => (v === undefined ? '<not available>' : `${v} MB`)
  for (const n of nodes) {
    lines.push(
      `node ${n.id} cpus:${[...n.cpus]
        .sort((a, b) => a - b)
        .map((c) => ` ${c}`)
        .join('')}`,
    )
    lines.push(`node ${n.id} size: ${mem(n.memTotalMiB)}`)
    lines.push(`node ${n.id} free: ${mem(n.memFreeMiB)}`)
  }
  const dist = (a: NumaNodeInfo, b: NumaNodeInfo) => t.distances[order.get(a.id)!]?.[order.get(b.id)!] ?? 0
  const last = nodes[nodes.length - 1]!
  if (dist(last, nodes[0]!) === 0) {
    lines.push('No distance information available.')
  } else {
    lines.push('node distances:')
    lines.push(`node ${nodes.map((n) => `${pad3(n.id)} `).join('')}`)
    for (const a of nodes) lines.push(`${pad3(a.id)}: ${nodes.map((b) => `${pad3(dist(a, b))} `).join('')}`)
  }
  return lines.join('\n') + '\n'
}

/** Parse `numactl --hardware` output back into a topology (MB values only; no hugepages). */
export function parseNumactlHardware(text: string): NumaTopology {
  const lines = text.split('\n')
  const head = /^available: (\d+) nodes \(([^)]*)\)$/.exec(lines[0] ?? '')
  if (!head) throw new Error(`not numactl --hardware output: first line ${JSON.stringify(lines[0])}`)
  const byId = new Map<number, NumaNodeInfo>()
  const node = (id: number) => {
    let n = byId.get(id)
    if (!n) byId.set(id, (n = { id, cpus: [] }))
    return n
  }
  let i = 1
  for (; i < lines.length; i++) {
    const l = lines[i]!
    let m: RegExpExecArray | null
    if ((m = /^node (\d+) cpus:((?: \d+)*)\s*$/.exec(l)))
      node(Number(m[1])).cpus = m[2]!.trim() === '' ? [] : m[2]!.trim().split(' ').map(Number)
    else if ((m = /^node (\d+) size: (?:(\d+) MB|<not available>)$/.exec(l)))
      node(Number(m[1])).memTotalMiB = m[2] === undefined ? undefined : Number(m[2])
    else if ((m = /^node (\d+) free: (?:(\d+) MB|<not available>)$/.exec(l)))
      node(Number(m[1])).memFreeMiB = m[2] === undefined ? undefined : Number(m[2])
    else break
  }
  const nodes = [...byId.values()].sort((a, b) => a.id - b.id)
  if (nodes.length !== Number(head[1]))
    throw new Error(`numactl output announces ${head[1]} nodes but describes ${nodes.length}`)
  let distances: number[][] = []
  if (lines[i] === 'node distances:') {
    const cols = (lines[i + 1] ?? '').replace(/^node/, '').trim().split(/\s+/).map(Number)
    const idx = new Map(nodes.map((n, k) => [n.id, k]))
    distances = nodes.map(() => new Array<number>(nodes.length).fill(0))
    for (let r = 0; r < nodes.length; r++) {
      const m = /^\s*(\d+):(.*)$/.exec(lines[i + 2 + r] ?? '')
      if (!m) throw new Error(`numactl distance table: bad row ${JSON.stringify(lines[i + 2 + r])}`)
      const row = m[2]!.trim().split(/\s+/).map(Number)
      const k = idx.get(Number(m[1]))
      if (k === undefined) throw new Error(`numactl distance table: unknown node ${m[1]}`)
      cols.forEach((c, j) => {
        const kk = idx.get(c)
        if (kk === undefined) throw new Error(`numactl distance table: unknown column node ${c}`)
        distances[k]![kk] = row[j] ?? 0
      })
    }
  } else if (lines[i] !== 'No distance information available.' && (lines[i] ?? '') !== '') {
    throw new Error(`numactl output: unexpected line ${JSON.stringify(lines[i])}`)
  }
  return { nodes, distances }
}
