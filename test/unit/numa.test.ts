import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, existsSync } from 'node:fs'
import {
  formatCpuList,
  formatCpumap,
  formatNumactlHardware,
  parseCpuList,
  parseCpumap,
  parseNumactlHardware,
  readNumaFromFiles,
  type NumaTopology,
} from '../../lib/host/numa.ts'

const SAMPLE = new URL('../fixtures/samples/linux/numactl-hardware-1node.txt', import.meta.url)

test('the real 1-node numactl --hardware sample parses and re-formats byte for byte', () => {
  const text = readFileSync(SAMPLE, 'utf8')
  const t = parseNumactlHardware(text)
  assert.equal(t.nodes.length, 1)
  assert.deepEqual(t.nodes[0]!.cpus, [0, 1])
  assert.equal(t.nodes[0]!.memTotalMiB, 3802)
  assert.equal(t.nodes[0]!.memFreeMiB, 3555)
  assert.deepEqual(t.distances, [[10]])
  assert.equal(formatNumactlHardware(t), text)
})

test('cpu lists: kernel list format round trips and collapses runs', () => {
  assert.deepEqual(parseCpuList('0-3,8,10-11'), [0, 1, 2, 3, 8, 10, 11])
  assert.deepEqual(parseCpuList('0-1\n'), [0, 1])
  assert.deepEqual(parseCpuList(''), [])
  assert.deepEqual(parseCpuList('0-7:2/4'), [0, 1, 4, 5])
  assert.equal(formatCpuList([11, 0, 1, 2, 3, 8, 10]), '0-3,8,10-11')
  assert.equal(formatCpuList([0, 2, 4]), '0,2,4')
  assert.equal(formatCpuList([]), '')
  for (const s of ['0', '0-63', '1,3,5,7', '0-3,8,10-11', '5,7-9,100']) assert.equal(formatCpuList(parseCpuList(s)), s)
  assert.throws(() => parseCpuList('3-1'), /reversed/)
  assert.throws(() => parseCpuList('a'), /bad cpu list/)
})

test('cpumap: kernel %*pb format (32-bit groups, short leading group) round trips', () => {
  assert.equal(formatCpumap([0, 1], 2), '3')
  assert.equal(formatCpumap([0, 1, 2, 3], 4), 'f')
  assert.equal(formatCpumap([0, 1, 2, 3], 16), '000f')
  assert.equal(formatCpumap(parseCpuList('0-15'), 64), '00000000,0000ffff')
  assert.equal(formatCpumap(parseCpuList('32-47'), 48), 'ffff,00000000')
  assert.equal(formatCpumap([31], 32), '80000000')
  assert.deepEqual(parseCpumap('00000000,0000ffff'), parseCpuList('0-15'))
  assert.deepEqual(parseCpumap('ffff,00000000'), parseCpuList('32-47'))
  assert.deepEqual(parseCpumap('80000000'), [31])
  const odd = Array.from({ length: 24 }, (_, i) => 2 * i + 1)
  assert.deepEqual(parseCpumap(formatCpumap(odd, 48)), odd)
  assert.throws(() => formatCpumap([8], 8), /does not fit/)
  assert.throws(() => parseCpumap('xyz'), /bad cpumap/)
})

test('cpumap and cpulist of this machine agree with each other (real kernel output)', (t) => {
  const dir = '/sys/devices/system/node/node0'
  if (!existsSync(`${dir}/cpumap`)) return t.skip('no /sys/devices/system/node/node0 on this machine')
  const map = readFileSync(`${dir}/cpumap`, 'utf8').trim()
  const list = readFileSync(`${dir}/cpulist`, 'utf8').trim()
  const possible = parseCpuList(readFileSync('/sys/devices/system/cpu/possible', 'utf8'))
  assert.deepEqual(parseCpumap(map), parseCpuList(list))
  assert.equal(formatCpumap(parseCpuList(list), Math.max(...possible) + 1), map)
  assert.equal(formatCpuList(parseCpumap(map)), list)
})

function sysfs(files: Record<string, string>) {
  return (p: string) => files[p]
}

const N = '/sys/devices/system/node'
const meminfo = (n: number, totalKiB: number, freeKiB: number) =>
  `Node ${n} MemTotal:       ${String(totalKiB).padStart(8)} kB\nNode ${n} MemFree:        ${String(freeKiB).padStart(8)} kB\nNode ${n} MemUsed:        ${String(totalKiB - freeKiB).padStart(8)} kB\n`

test('readNumaFromFiles builds the topology from sysfs text and numactl formatting follows it', () => {
  const files = {
    [`${N}/online`]: '0-1\n',
    [`${N}/node0/cpumap`]: '55555555\n',
    [`${N}/node0/cpulist`]: '0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30\n',
    [`${N}/node0/meminfo`]: meminfo(0, 33554432, 30000000),
    [`${N}/node0/distance`]: '10 21\n',
    [`${N}/node0/hugepages/hugepages-1048576kB/nr_hugepages`]: '4\n',
    [`${N}/node0/hugepages/hugepages-1048576kB/free_hugepages`]: '3\n',
    [`${N}/node1/cpumap`]: 'aaaaaaaa\n',
    [`${N}/node1/meminfo`]: meminfo(1, 1049599, 1023),
    [`${N}/node1/distance`]: '21 10\n',
  }
  const t = readNumaFromFiles(sysfs(files))
  assert.deepEqual(
    t.nodes.map((n) => n.id),
    [0, 1],
  )
  assert.deepEqual(
    t.nodes[1]!.cpus,
    Array.from({ length: 16 }, (_, i) => 2 * i + 1),
  )
  assert.equal(t.nodes[0]!.memTotalKiB, 33554432)
  assert.equal(t.nodes[1]!.memTotalMiB, 1024) // 1049599 kB >> 10, floored like numactl
  assert.equal(t.nodes[1]!.memFreeMiB, 0)
  assert.deepEqual(t.nodes[0]!.hugepages?.[1048576], { total: 4, free: 3, surplus: 0 })
  assert.deepEqual(t.distances, [
    [10, 21],
    [21, 10],
  ])
  const text = formatNumactlHardware(t)
  assert.match(text, /^available: 2 nodes \(0-1\)\n/)
  assert.match(text, /\nnode 0 cpus: 0 2 4 6 8 10 12 14 16 18 20 22 24 26 28 30\n/)
  assert.match(text, /\nnode 1 size: 1024 MB\nnode 1 free: 0 MB\n/)
  assert.ok(text.endsWith('node distances:\nnode   0   1 \n  0:  10  21 \n  1:  21  10 \n'))
  // and back: the report carries everything numactl shows
  const back = parseNumactlHardware(text)
  assert.deepEqual(back.distances, t.distances)
  assert.deepEqual(
    back.nodes.map((n) => [n.cpus, n.memTotalMiB, n.memFreeMiB]),
    t.nodes.map((n) => [n.cpus, n.memTotalMiB, n.memFreeMiB]),
  )
})

test('readNumaFromFiles reads a fallback only when needed, and with options only the pool asked about', () => {
  const files = {
    [`${N}/online`]: '0-1\n',
    [`${N}/possible`]: '0-3\n',
    [`${N}/node0/cpumap`]: '0000000f\n',
    [`${N}/node0/cpulist`]: '0-3\n',
    [`${N}/node0/meminfo`]: meminfo(0, 33554432, 30000000),
    [`${N}/node0/distance`]: '10 21\n',
    [`${N}/node0/hugepages/hugepages-1048576kB/nr_hugepages`]: '4\n',
    [`${N}/node0/hugepages/hugepages-1048576kB/free_hugepages`]: '3\n',
    [`${N}/node1/cpumap`]: '000000f0\n',
    [`${N}/node1/meminfo`]: meminfo(1, 33554432, 1023),
    [`${N}/node1/distance`]: '21 10\n',
  }
  const asked: string[] = []
  const read = (p: string) => (asked.push(p), sysfs(files)(p))
  const full = readNumaFromFiles(read)
  // online is there, so possible is not read; cpumap is there, so cpulist is not
  assert.ok(!asked.includes(`${N}/possible`) && !asked.some((p) => p.endsWith('/cpulist')))
  asked.length = 0
  const lean = readNumaFromFiles(read, { hugepageSizesKiB: [1048576], hugepageTotalsOnly: true })
  assert.deepEqual(
    asked.filter((p) => p.includes('/hugepages/')),
    [`${N}/node0/hugepages/hugepages-1048576kB/nr_hugepages`, `${N}/node1/hugepages/hugepages-1048576kB/nr_hugepages`],
  )
  assert.deepEqual(lean.nodes[0]!.hugepages?.[1048576], { total: 4, free: 0, surplus: 0 })
  // what numactl --hardware shows does not change
  assert.equal(formatNumactlHardware(lean), formatNumactlHardware(full))
})

test('numactl formatting: sparse nodes, cpu-less nodes, missing meminfo, no distances', () => {
  const t: NumaTopology = {
    nodes: [
      { id: 0, cpus: [0, 1], memTotalMiB: 100, memFreeMiB: 50 },
      { id: 2, cpus: [], memTotalMiB: 200, memFreeMiB: 200 },
      { id: 3, cpus: [2], memTotalMiB: undefined, memFreeMiB: 0 },
    ],
    distances: [
      [10, 20, 120],
      [20, 10, 20],
      [120, 20, 10],
    ],
  }
  const text = formatNumactlHardware(t)
  assert.equal(
    text,
    'available: 3 nodes (0,2-3)\n' +
      'node 0 cpus: 0 1\nnode 0 size: 100 MB\nnode 0 free: 50 MB\n' +
      'node 2 cpus:\nnode 2 size: 200 MB\nnode 2 free: 200 MB\n' +
      'node 3 cpus: 2\nnode 3 size: <not available>\nnode 3 free: 0 MB\n' +
      'node distances:\nnode   0   2   3 \n  0:  10  20 120 \n  2:  20  10  20 \n  3: 120  20  10 \n',
  )
  assert.deepEqual(parseNumactlHardware(text), t)
  const noDist = formatNumactlHardware({ ...t, distances: [] })
  assert.ok(noDist.endsWith('node 3 free: 0 MB\nNo distance information available.\n'))
  assert.deepEqual(parseNumactlHardware(noDist).distances, [])
})

test('readNumaFromFiles: node list falls back to probing, and errors when there are no nodes', () => {
  const t = readNumaFromFiles(
    sysfs({ [`${N}/node0/meminfo`]: meminfo(0, 2048, 1024), [`${N}/node0/cpulist`]: '0-3\n' }),
  )
  assert.deepEqual(
    t.nodes.map((n) => [n.id, n.cpus, n.memTotalMiB]),
    [[0, [0, 1, 2, 3], 2]],
  )
  assert.deepEqual(t.distances, [])
  assert.throws(() => readNumaFromFiles(() => undefined), /no NUMA nodes/)
})

test('parseNumactlHardware rejects text that is not numactl output', () => {
  assert.throws(() => parseNumactlHardware('hello\n'), /not numactl --hardware output/)
  assert.throws(
    () => parseNumactlHardware('available: 2 nodes (0-1)\nnode 0 cpus: 0\nnode 0 size: 1 MB\nnode 0 free: 1 MB\n'),
    /announces 2 nodes/,
  )
})
