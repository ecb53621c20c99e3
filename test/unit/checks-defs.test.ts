// Each check's evaluate on good data passes and on realistic bad data fails, naming what is wrong.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { etcdAlarms, etcdDbSize, etcdHealthy, etcdLeader, etcdMembers, etcdRaftLag } from '../../checks/defs/etcd.ts'
import { apiLatency, etcdService, kubeletService, nodesReady, staticPods } from '../../checks/defs/cluster.ts'
import { hugepagesAllocatable, hugepagesCmdline, hugepagesMeminfo, hugepagesNuma } from '../../checks/defs/hugepages.ts'
import { numaTopology } from '../../checks/defs/numa.ts'
import { sysctlValues } from '../../checks/defs/sysctls.ts'
import { kernelArgs, kernelModules, tcpCongestion } from '../../checks/defs/kernel.ts'
import { kubeletConfig, reservedCpusOnline, reservedWholeCores } from '../../checks/defs/kubelet.ts'
import { octalMode, storageMounts } from '../../checks/defs/storage.ts'
import { lsSaysMissing } from '../../checks/engine/sources.ts'
import { foreignPods, validatorLabels, validatorTaints } from '../../checks/defs/isolation.ts'
import type { CheckInventory } from '../../checks/engine/inventory.ts'
import { hugepagesBySize, toNumaView } from '../../checks/engine/numa-view.ts'
import { readNumaFromFiles } from '../../lib/host/numa.ts'
import { parseEtcdStatus } from '../../lib/talos/parse.ts'
import type { EtcdStatusRow, PerNode, Result, SourceData } from '../../checks/engine/types.ts'
import type { KubeNode, KubePod } from '../../lib/kube/kubectl.ts'

const shared = (p: string) => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8')

// The real lab inventory, with the control planes moved to the addresses of the Talos docs' etcd status sample.
function inventory(): CheckInventory {
  const inv = parseYaml(readFileSync(new URL('../../inventory/lab.yaml', import.meta.url), 'utf8')) as CheckInventory
  const docs = ['172.20.0.2', '172.20.0.3', '172.20.0.4']
  inv.nodes.filter((n) => n.role === 'controlplane').forEach((n, i) => (n.address = docs[i]!))
  return inv
}
/** inventory/lab.yaml: a 1 GiB and a 2 MiB pool. */
const both = inventory()
/** The same with its 1 GiB pool alone (the one-pool form most tests judge). */
const inv: CheckInventory = {
  ...both,
  validator: { ...both.validator!, hugepages: both.validator!.hugepages.filter((p) => p.size === '1Gi') },
}
const CP = { '172.20.0.2': 'cp1', '172.20.0.3': 'cp2', '172.20.0.4': 'cp3' } as Record<string, string>

function statusRows(text = shared('samples/talosctl/etcd-status-3-nodes.txt')): EtcdStatusRow[] {
  return parseEtcdStatus(text).map((r) => ({ ...r, node: CP[r.node!]!, errors: r.errors ? r.errors.split(', ') : [] }))
}
const etcdStatus = (rows = statusRows(), nodeErrors: Record<string, string> = {}) => ({ rows, nodeErrors })

const byStatus = (rs: Result[], s: string) => rs.filter((r) => r.status === s)
const allPass = (rs: Result[]) => {
  assert.ok(rs.length > 0, 'no results')
  assert.deepEqual(
    byStatus(rs, 'fail')
      .concat(byStatus(rs, 'warn'))
      .map((r) => r.message),
    [],
  )
}
const perNode = <T>(values: Record<string, T>, errors: Record<string, string> = {}): PerNode<T> => ({ values, errors })

// ------------------------------------------------------------------------------------------ etcd

test('etcd: the docs sample (3 healthy members, one leader) passes every status check', () => {
  for (const c of [etcdHealthy, etcdLeader, etcdRaftLag, etcdDbSize])
    allPass(c.evaluate({ etcdStatus: etcdStatus() }, inv))
})

test('etcd: a crashed member fails naming the node, and only that node', () => {
  const rows = statusRows().filter((r) => r.node !== 'cp2')
  const err = 'rpc error: code = Unavailable desc = connection refused'
  const rs = etcdHealthy.evaluate({ etcdStatus: etcdStatus(rows, { cp2: `172.20.0.3: ${err}` }) }, inv)
  const fails = byStatus(rs, 'fail')
  assert.equal(fails.length, 1)
  assert.equal(fails[0]!.target, 'cp2')
  assert.match(fails[0]!.message, /cp2.*connection refused/)
  assert.equal(byStatus(rs, 'pass').length, 2)
})

test('etcd: a member reporting errors fails naming the member id', () => {
  const rows = statusRows()
  rows[1]!.errors = ['etcdserver: mvcc: database space exceeded']
  const fails = byStatus(etcdHealthy.evaluate({ etcdStatus: etcdStatus(rows) }, inv), 'fail')
  assert.equal(fails.length, 1)
  assert.match(fails[0]!.message, new RegExp(`${rows[1]!.memberId}.*database space exceeded`))
})

test('etcd: members disagreeing on the leader fail with every view in the evidence', () => {
  const rows = statusRows()
  rows[2]!.leader = rows[2]!.memberId // cp3 thinks it leads, the others name ecebb05b59a776f1
  const [r] = etcdLeader.evaluate({ etcdStatus: etcdStatus(rows) }, inv)
  assert.equal(r!.status, 'fail')
  assert.match(r!.message, /disagree/)
  assert.equal((r!.evidence.seen as Record<string, string>).cp3, rows[2]!.memberId)
})

test('etcd: no leader at all fails', () => {
  const rows = statusRows().map((r) => ({ ...r, leader: '0000000000000000' }))
  assert.equal(etcdLeader.evaluate({ etcdStatus: etcdStatus(rows) }, inv)[0]!.status, 'fail')
})

test('etcd: raft lag warns above 100 and fails above 1000 entries', () => {
  const rows = statusRows()
  rows[0]!.raftIndex -= 150
  rows[1]!.raftIndex -= 5000
  const rs = etcdRaftLag.evaluate({ etcdStatus: etcdStatus(rows) }, inv)
  const by = Object.fromEntries(rs.map((r) => [r.target, r.status]))
  // rows are cp2 (172.20.0.3), cp1 (172.20.0.2), cp3 (172.20.0.4) in the sample's order
  assert.deepEqual(by, { [rows[0]!.node]: 'warn', [rows[1]!.node]: 'fail', [rows[2]!.node]: 'pass' })
})

test('etcd: db size warns above 80% of the 2 GiB quota and fails at the quota', () => {
  const rows = statusRows()
  rows[0]!.dbSize = 1.7 * 1024 ** 3
  rows[1]!.dbSize = 2.1 * 1024 ** 3
  const by = Object.fromEntries(
    etcdDbSize.evaluate({ etcdStatus: etcdStatus(rows) }, inv).map((r) => [r.target, r.status]),
  )
  assert.equal(by[rows[0]!.node], 'warn')
  assert.equal(by[rows[1]!.node], 'fail')
  assert.equal(by[rows[2]!.node], 'pass')
})

test('etcd: alarms fail naming the member; none passes', () => {
  allPass(etcdAlarms.evaluate({ etcdAlarms: { alarms: [] } }, inv))
  const alarms = ['cp1', 'cp2', 'cp3'].map((node) => ({ node, memberId: 'a49c021e76e707db', alarm: 'NOSPACE' }))
  const rs = etcdAlarms.evaluate({ etcdAlarms: { alarms } }, inv)
  assert.equal(rs.length, 1, 'one alarm reported by three nodes is one result')
  assert.equal(rs[0]!.status, 'fail')
  assert.match(rs[0]!.message, /NOSPACE.*a49c021e76e707db/)
})

const members = () => [
  {
    id: 'a49c021e76e707db',
    hostname: 'cp1',
    peerUrls: ['https://172.20.0.2:2380'],
    clientUrls: ['https://172.20.0.2:2379'],
    learner: false,
  },
  {
    id: 'ecebb05b59a776f1',
    hostname: 'cp2',
    peerUrls: ['https://172.20.0.3:2380'],
    clientUrls: ['https://172.20.0.3:2379'],
    learner: false,
  },
  {
    id: 'eb47fb33e59bf0e2',
    hostname: 'cp3',
    peerUrls: ['https://172.20.0.4:2380'],
    clientUrls: ['https://172.20.0.4:2379'],
    learner: false,
  },
]

test('etcd: member list equal to the inventory control planes passes; a missing or stray member fails', () => {
  allPass(etcdMembers.evaluate({ etcdMembers: { members: members(), from: 'cp1' } }, inv))
  const missing = etcdMembers.evaluate({ etcdMembers: { members: members().slice(0, 2), from: 'cp1' } }, inv)
  assert.deepEqual(
    byStatus(missing, 'fail').map((r) => r.target),
    ['cp3'],
  )
  const stray = [
    ...members(),
    {
      id: 'deadbeef00000001',
      hostname: 'old-cp',
      peerUrls: ['https://172.20.0.9:2380'],
      clientUrls: [],
      learner: false,
    },
  ]
  const rs = etcdMembers.evaluate({ etcdMembers: { members: stray, from: 'cp1' } }, inv)
  assert.equal(byStatus(rs, 'fail').length, 1)
  assert.match(byStatus(rs, 'fail')[0]!.message, /deadbeef00000001.*not an inventory control plane/)
  const moved = members()
  moved[0]!.peerUrls = ['https://172.20.0.99:2380']
  assert.equal(
    etcdMembers.evaluate({ etcdMembers: { members: moved, from: 'cp2' } }, inv).find((r) => r.target === 'cp1')!.status,
    'fail',
  )
})

// ------------------------------------------------------------------------------------------ cluster

function k8sNode(
  name: string,
  address: string,
  opts: {
    cp?: boolean
    ready?: boolean
    labels?: Record<string, string>
    taints?: KubeNode['spec'] extends infer S ? (S extends { taints?: infer T } ? T : never) : never
    allocatable?: Record<string, string>
  } = {},
): KubeNode {
  return {
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        ...(opts.cp ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
        ...opts.labels,
      },
    },
    spec: { taints: opts.taints ?? [] },
    status: {
      conditions: [
        {
          type: 'Ready',
          status: opts.ready === false ? 'False' : 'True',
          reason: opts.ready === false ? 'KubeletNotReady' : 'KubeletReady',
        },
      ],
      addresses: [
        { type: 'InternalIP', address },
        { type: 'Hostname', address: name },
      ],
      allocatable: { cpu: '32', memory: '250Gi', 'hugepages-1Gi': '0', ...opts.allocatable },
    },
  }
}

function goodNodes(): KubeNode[] {
  const v = inv.validator!
  return inv.nodes.map((n) =>
    n.profile === 'validator'
      ? k8sNode(n.name, n.address, { labels: v.labels, taints: v.taints, allocatable: { 'hugepages-1Gi': '8Gi' } })
      : k8sNode(n.name, n.address, { cp: n.role === 'controlplane' }),
  )
}

const pod = (
  ns: string,
  name: string,
  node: string,
  phase = 'Running',
  tolerations: KubePod['spec'] extends infer S ? (S extends { tolerations?: infer T } ? T : never) : never = [],
): KubePod => ({
  metadata: { name, namespace: ns },
  spec: { nodeName: node, tolerations },
  status: { phase },
})

function goodPods(): KubePod[] {
  const out: KubePod[] = []
  for (const cp of ['cp1', 'cp2', 'cp3'])
    for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'])
      out.push(pod('kube-system', `${c}-${cp}`, cp))
  out.push(pod('kube-system', 'kube-proxy-x7k2p', 'validator1', 'Running', [{ operator: 'Exists' }]))
  out.push(
    pod('solana', 'validator-0', 'validator1', 'Running', [
      { key: 'solana.org/validator', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
    ]),
  )
  out.push(pod('default', 'nginx-1', 'worker1'))
  return out
}

test('cluster: every node Ready with the right role passes; NotReady and a wrong role fail', () => {
  allPass(nodesReady.evaluate({ k8sNodes: { items: goodNodes(), latencyMs: 40 } }, inv))
  const nodes = goodNodes()
  nodes[1] = k8sNode('cp2', '172.20.0.3', { cp: true, ready: false })
  nodes[4] = k8sNode('worker1', '127.0.10.22', { cp: true })
  const fails = byStatus(nodesReady.evaluate({ k8sNodes: { items: nodes, latencyMs: 40 } }, inv), 'fail')
  assert.deepEqual(fails.map((r) => r.target).sort(), ['cp2', 'worker1'])
  const gone = goodNodes().filter((n) => n.metadata.name !== 'cp3')
  assert.match(
    byStatus(nodesReady.evaluate({ k8sNodes: { items: gone, latencyMs: 40 } }, inv), 'fail')[0]!.message,
    /cp3.*not registered/,
  )
})

test('cluster: API latency is evidence; warn above 1 s', () => {
  const r = (ms: number) => apiLatency.evaluate({ k8sNodes: { items: [], latencyMs: ms } }, inv)[0]!
  assert.equal(r(120).status, 'pass')
  assert.equal(r(120).evidence.seen, '120 ms')
  assert.equal(r(1500).status, 'warn')
  assert.equal(r(9000).status, 'fail')
})

test('cluster: etcd on CPs and kubelet on all nodes must be Running', () => {
  const rows = inv.nodes.flatMap((n) => [
    ...(n.role === 'controlplane' ? [{ node: n.name, id: 'etcd', state: 'Running', health: 'OK' }] : []),
    { node: n.name, id: 'kubelet', state: 'Running', health: 'OK' },
  ])
  allPass(etcdService.evaluate({ services: { rows, nodeErrors: {} } }, inv))
  allPass(kubeletService.evaluate({ services: { rows, nodeErrors: {} } }, inv))
  const bad = rows.map((r) => (r.node === 'cp3' && r.id === 'etcd' ? { ...r, state: 'Preparing', health: '?' } : r))
  const fails = byStatus(etcdService.evaluate({ services: { rows: bad, nodeErrors: {} } }, inv), 'fail')
  assert.deepEqual(
    fails.map((r) => [r.target, r.message]),
    [['cp3', 'etcd on cp3 is Preparing']],
  )
  const down = kubeletService.evaluate(
    { services: { rows: rows.filter((r) => r.node !== 'worker1'), nodeErrors: { worker1: 'connection refused' } } },
    inv,
  )
  assert.deepEqual(
    byStatus(down, 'fail').map((r) => r.target),
    ['worker1'],
  )
})

test('cluster: control-plane static pods Running on each CP; a crashing scheduler fails its node', () => {
  allPass(staticPods.evaluate({ k8sPods: { items: goodPods() }, k8sNodes: { items: goodNodes(), latencyMs: 1 } }, inv))
  const pods = goodPods().map((p) =>
    p.metadata.name === 'kube-scheduler-cp2' ? { ...p, status: { phase: 'Pending' } } : p,
  )
  const fails = byStatus(
    staticPods.evaluate({ k8sPods: { items: pods }, k8sNodes: { items: goodNodes(), latencyMs: 1 } }, inv),
    'fail',
  )
  assert.equal(fails.length, 1)
  assert.equal(fails[0]!.target, 'cp2')
  assert.match(fails[0]!.message, /kube-scheduler Pending/)
})

// ------------------------------------------------------------------------------------------ isolation

test('isolation: labels, taint and tolerating pods pass; a missing taint and an intruding pod fail', () => {
  const data = { k8sNodes: { items: goodNodes(), latencyMs: 1 }, k8sPods: { items: goodPods() } }
  for (const c of [validatorLabels, validatorTaints, foreignPods]) allPass(c.evaluate(data, inv))

  const untainted = goodNodes().map((n) => (n.metadata.name === 'validator1' ? { ...n, spec: { taints: [] } } : n))
  const [t] = validatorTaints.evaluate({ k8sNodes: { items: untainted, latencyMs: 1 } }, inv)
  assert.equal(t!.status, 'fail')
  assert.match(t!.message, /solana\.org\/validator=true:NoSchedule/)

  const relabelled = goodNodes().map((n) =>
    n.metadata.name === 'validator1' ? { ...n, metadata: { ...n.metadata, labels: { 'solana.org/role': 'rpc' } } } : n,
  )
  assert.equal(validatorLabels.evaluate({ k8sNodes: { items: relabelled, latencyMs: 1 } }, inv)[0]!.status, 'fail')

  const pods = [
    ...goodPods(),
    pod('monitoring', 'grafana-5d9f', 'validator1'),
    pod('batch', 'done-job', 'validator1', 'Succeeded'),
  ]
  const [f] = foreignPods.evaluate({ k8sNodes: data.k8sNodes, k8sPods: { items: pods } }, inv)
  assert.equal(f!.status, 'fail')
  assert.deepEqual(f!.evidence.seen, ['monitoring/grafana-5d9f'])
})

// ------------------------------------------------------------------------------------------ validator host: files

const CMDLINE =
  'BOOT_IMAGE=/A/vmlinuz init_on_alloc=1 slab_nomerge pti=on console=ttyS0 printk.devkmsg=on talos.platform=metal ' +
  'iommu=pt amd_pstate=active default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:4\n'

const MEMINFO = `MemTotal:       263921580 kB
MemFree:        250112344 kB
MemAvailable:   251002112 kB
HugePages_Total:       8
HugePages_Free:        8
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:    1048576 kB
Hugetlb:         8388608 kB
`

const MODULES = `sch_fq 20480 2 - Live 0x0000000000000000
tcp_bbr 20480 3 - Live 0x0000000000000000
nvme 57344 4 - Live 0x0000000000000000
`

test('hugepages: kernel args, meminfo and kubelet allocatable matching the inventory pass', () => {
  allPass(hugepagesCmdline.evaluate({ cmdline: perNode({ validator1: CMDLINE }) }, inv))
  allPass(hugepagesMeminfo.evaluate({ meminfo: perNode({ validator1: MEMINFO }) }, inv))
  allPass(hugepagesAllocatable.evaluate({ k8sNodes: { items: goodNodes(), latencyMs: 1 } }, inv))
})

test('hugepages: 2 MiB default size, a wrong per-node split, and a short meminfo total fail', () => {
  const cmd = CMDLINE.replace('default_hugepagesz=1G', 'default_hugepagesz=2M').replace(
    'hugepages=0:4,1:4',
    'hugepages=0:8,1:0',
  )
  const fails = byStatus(hugepagesCmdline.evaluate({ cmdline: perNode({ validator1: cmd }) }, inv), 'fail').map(
    (r) => r.target,
  )
  assert.deepEqual(fails, ['validator1/default_hugepagesz', 'validator1/hugepages'])
  const mem = MEMINFO.replace('HugePages_Total:       8', 'HugePages_Total:       6')
  const r = hugepagesMeminfo
    .evaluate({ meminfo: perNode({ validator1: mem }) }, inv)
    .find((x) => x.target.endsWith('HugePages_Total'))!
  assert.equal(r.status, 'fail')
  assert.deepEqual(r.evidence, { seen: 6, wanted: 8 })
  const noArgs = hugepagesCmdline.evaluate({ cmdline: perNode({ validator1: 'console=ttyS0\n' }) }, inv)
  assert.ok(byStatus(noArgs, 'fail').length >= 2)
})

test('hugepages: kubelet allocatable without the pages fails', () => {
  const nodes = goodNodes().map((n) =>
    n.metadata.name === 'validator1'
      ? { ...n, status: { ...n.status, allocatable: { ...n.status!.allocatable, 'hugepages-1Gi': '0' } } }
      : n,
  )
  const [r] = hugepagesAllocatable.evaluate({ k8sNodes: { items: nodes, latencyMs: 1 } }, inv)
  assert.equal(r!.status, 'fail')
  assert.deepEqual(r!.evidence, { seen: '0', wanted: '8Gi' })
})

// A two-socket sysfs as the kernel lays it out, through lib/numa.
function sysfs(opts: { nr?: [number, number]; distance1?: string; cpus1?: string } = {}): Map<string, string> {
  const d = '/sys/devices/system/node'
  const nr = opts.nr ?? [4, 4]
  const m = new Map<string, string>([
    [`${d}/online`, '0-1\n'],
    [`${d}/possible`, '0-1\n'],
    [`${d}/node0/cpulist`, '0-15,32-47\n'],
    [`${d}/node1/cpulist`, `${opts.cpus1 ?? '16-31,48-63'}\n`],
    [`${d}/node0/distance`, '10 32\n'],
    [`${d}/node1/distance`, `${opts.distance1 ?? '32 10'}\n`],
  ])
  for (const [i, kb] of [
    [0, 131896276],
    [1, 132025304],
  ] as const) {
    m.set(
      `${d}/node${i}/meminfo`,
      `Node ${i} MemTotal:       ${kb} kB\nNode ${i} MemFree:        ${kb - 6000000} kB\nNode ${i} HugePages_Total:     ${nr[i]}\n`,
    )
    m.set(`${d}/node${i}/hugepages/hugepages-1048576kB/nr_hugepages`, `${nr[i]}\n`)
    m.set(`${d}/node${i}/hugepages/hugepages-1048576kB/free_hugepages`, `${nr[i]}\n`)
    m.set(`${d}/node${i}/hugepages/hugepages-2048kB/nr_hugepages`, '0\n')
  }
  return m
}
const topo = (m: Map<string, string>) => readNumaFromFiles((p) => m.get(p))

test('hugepages: per-NUMA-node nr_hugepages must match perNumaNode; wrong count on node 1 fails node 1 only', () => {
  allPass(
    hugepagesNuma.evaluate({ hugepagesSysfs: perNode({ validator1: hugepagesBySize(topo(sysfs()), [1048576]) }) }, inv),
  )
  const rs = hugepagesNuma.evaluate(
    { hugepagesSysfs: perNode({ validator1: hugepagesBySize(topo(sysfs({ nr: [4, 2] })), [1048576]) }) },
    inv,
  )
  assert.deepEqual(
    byStatus(rs, 'fail').map((r) => [r.target, r.evidence.seen, r.evidence.wanted]),
    [['validator1/node1', 2, 4]],
  )
  assert.equal(byStatus(rs, 'pass').length, 1)
})

test('hugepages: two pools: each size is judged on its own, on the command line, per NUMA node and in kubelet', () => {
  const cmd = CMDLINE.replace('hugepages=0:4,1:4', 'hugepages=0:4,1:4 hugepagesz=2M hugepages=0:128,1:128')
  allPass(hugepagesCmdline.evaluate({ cmdline: perNode({ validator1: cmd }) }, both))
  const fails = (rs: { status: string; target: string }[]) => byStatus(rs as never, 'fail').map((r) => r.target)
  // the 1 GiB pool alone on the command line: the 2 MiB pool fails under its own target
  assert.deepEqual(fails(hugepagesCmdline.evaluate({ cmdline: perNode({ validator1: CMDLINE }) }, both)), [
    'validator1/hugepages/2Mi',
  ])
  // a hugepages= before any hugepagesz= goes to the default size (kernel-parameters.txt), and the 1 GiB one that
  // follows is "specified twice" and ignored: both pools are wrong
  const early = CMDLINE.replace(
    'hugepagesz=1G hugepages=0:4,1:4',
    'hugepages=0:128,1:128 hugepagesz=1G hugepages=0:4,1:4 hugepagesz=2M',
  )
  assert.deepEqual(fails(hugepagesCmdline.evaluate({ cmdline: perNode({ validator1: early }) }, both)), [
    'validator1/hugepages',
    'validator1/hugepages/2Mi',
  ])

  const m = sysfs()
  const nr2M = (node: number) => `/sys/devices/system/node/node${node}/hugepages/hugepages-2048kB/nr_hugepages`
  m.set(nr2M(0), '128\n')
  m.set(nr2M(1), '128\n')
  const numa = () =>
    hugepagesNuma.evaluate({ hugepagesSysfs: perNode({ validator1: hugepagesBySize(topo(m), [1048576, 2048]) }) }, both)
  allPass(numa())
  assert.equal(numa().length, 4)
  m.set(nr2M(1), '100\n') // the kernel allocated fewer: the pool did not fit
  assert.deepEqual(
    byStatus(numa(), 'fail').map((r) => [r.target, r.evidence.seen, r.evidence.wanted]),
    [['validator1/node1/2Mi', 100, 128]],
  )

  const meminfo = (text: string) => hugepagesMeminfo.evaluate({ meminfo: perNode({ validator1: text }) }, both)
  assert.deepEqual(fails(meminfo(MEMINFO)), ['validator1/Hugetlb'])
  assert.match(
    meminfo(MEMINFO).find((r) => r.target === 'validator1/Hugetlb')!.message,
    /^Hugetlb \(all page sizes\) on validator1 is 8 GiB, wanted 8\.5 GiB \(8 × 1Gi \+ 256 × 2Mi\)$/,
  )
  allPass(meminfo(MEMINFO.replace('Hugetlb:         8388608 kB', 'Hugetlb:         8912896 kB')))

  const withPools = (alloc: Record<string, string>) =>
    goodNodes().map((n) =>
      n.metadata.name === 'validator1'
        ? { ...n, status: { ...n.status, allocatable: { ...n.status!.allocatable, ...alloc } } }
        : n,
    )
  const kubelet = (alloc: Record<string, string>) =>
    hugepagesAllocatable.evaluate({ k8sNodes: { items: withPools(alloc), latencyMs: 1 } }, both)
  allPass(kubelet({ 'hugepages-2Mi': '512Mi' }))
  const r = kubelet({ 'hugepages-2Mi': '400Mi' }).find((x) => x.target === 'validator1/2Mi')!
  assert.equal(r.status, 'fail')
  assert.deepEqual(r.evidence, { seen: '400Mi', wanted: '512Mi' })
})

test('numa: a sound two-node topology passes with the numactl rendering as evidence', () => {
  const [r] = numaTopology.evaluate({ numa: perNode({ validator1: toNumaView(topo(sysfs())) }) }, inv)
  assert.equal(r!.status, 'pass', r!.message)
  const numactl = (r!.evidence.seen as { numactl: string }).numactl
  assert.match(numactl, /^available: 2 nodes \(0-1\)\n/)
  assert.match(numactl, /node 1 cpus: 16 17 .* 63\n/)
  assert.match(numactl, /\n  1:  32  10 \n$/)
})

test('numa: asymmetric distances, a CPU-less node, or a node count different from perNumaNode fail', () => {
  const eval1 = (m: Map<string, string>, i: CheckInventory = inv) =>
    numaTopology.evaluate({ numa: perNode({ validator1: toNumaView(topo(m)) }) }, i)[0]!
  assert.match(eval1(sysfs({ distance1: '21 10' })).message, /not symmetric/)
  assert.match(eval1(sysfs({ cpus1: '' })).message, /node 1 has no CPUs/)
  const threeNode = structuredClone(inv)
  threeNode.validator!.hugepages[0]!.perNumaNode = [4, 4, 4]
  assert.match(eval1(sysfs(), threeNode).message, /2 NUMA node\(s\).*3/)
  const err = numaTopology.evaluate(
    { numa: perNode<never>({}, { validator1: 'read /sys/devices/system/node/online: permission denied' }) },
    inv,
  )[0]!
  assert.equal(err.status, 'fail')
  assert.match(err.message, /validator1.*permission denied/)
})

test('sysctls: every inventory value in effect passes; a wrong one fails naming the key', () => {
  const good = Object.fromEntries(Object.entries(inv.validator!.sysctls!).map(([k, v]) => [k, String(v)]))
  allPass(sysctlValues.evaluate({ sysctls: perNode({ validator1: good }) }, inv))
  const rs = sysctlValues.evaluate(
    {
      sysctls: perNode({ validator1: { ...good, 'vm.swappiness': '60', 'net.ipv4.tcp_congestion_control': 'cubic' } }),
    },
    inv,
  )
  assert.deepEqual(
    byStatus(rs, 'fail')
      .map((r) => r.target)
      .sort(),
    ['validator1/net.ipv4.tcp_congestion_control', 'validator1/vm.swappiness'],
  )
  const missing = { ...good }
  delete missing['vm.max_map_count']
  assert.match(
    byStatus(sysctlValues.evaluate({ sysctls: perNode({ validator1: missing }) }, inv), 'fail')[0]!.message,
    /vm\.max_map_count/,
  )
})

test('kernel: modules loaded and args on the command line; a missing module or overridden arg fails', () => {
  const noBuiltin = perNode({ validator1: 'kernel/fs/xfs/xfs.ko\n' })
  allPass(kernelModules.evaluate({ modules: perNode({ validator1: MODULES }), modulesBuiltin: noBuiltin }, inv))
  allPass(kernelArgs.evaluate({ cmdline: perNode({ validator1: CMDLINE }) }, inv))
  const mods = kernelModules.evaluate(
    { modules: perNode({ validator1: MODULES.replace(/^tcp_bbr.*\n/m, '') }), modulesBuiltin: noBuiltin },
    inv,
  )
  assert.deepEqual(
    byStatus(mods, 'fail').map((r) => r.target),
    ['validator1/tcp_bbr'],
  )
  const args = kernelArgs.evaluate({ cmdline: perNode({ validator1: CMDLINE.replace('\n', ' iommu=on\n') }) }, inv)
  const f = byStatus(args, 'fail')
  assert.equal(f.length, 1)
  assert.deepEqual(f[0]!.evidence, { seen: 'iommu=on', wanted: 'iommu=pt' })
})

test('kernel.modules: a module built into the kernel (Talos 1.10.3: tcp_bbr, sch_fq) passes though /proc/modules never lists it', () => {
  // what a real Talos v1.10.3 validator shows: nothing loaded, both built in (CONFIG_TCP_CONG_BBR=y, CONFIG_NET_SCH_FQ=y)
  const builtin = perNode({
    validator1:
      'kernel/net/ipv4/tcp_cubic.ko\nkernel/net/ipv4/tcp_bbr.ko\nkernel/net/sched/sch_fq.ko\nkernel/net/sched/sch_fq_codel.ko\n',
  })
  const rs = kernelModules.evaluate({ modules: perNode({ validator1: '' }), modulesBuiltin: builtin }, inv)
  allPass(rs)
  assert.deepEqual(
    rs.map((r) => r.evidence.seen),
    ['built in', 'built in'],
  )
  const none = kernelModules.evaluate(
    { modules: perNode({ validator1: '' }), modulesBuiltin: perNode({ validator1: 'kernel/net/ipv4/tcp_cubic.ko\n' }) },
    inv,
  )
  assert.match(
    byStatus(none, 'fail')
      .map((r) => r.message)
      .join('\n'),
    /tcp_bbr is neither loaded nor built in on validator1/,
  )
})

test('kernel.tcp-congestion: the congestion control the inventory selects must be available', () => {
  allPass(tcpCongestion.evaluate({ tcpCongestion: perNode({ validator1: 'reno cubic bbr\n' }) }, inv))
  const rs = tcpCongestion.evaluate({ tcpCongestion: perNode({ validator1: 'reno cubic\n' }) }, inv)
  assert.match(
    byStatus(rs, 'fail')[0]!.message,
    /bbr is not an available congestion control on validator1 \(reno cubic\)/,
  )
})

const kubeletGood = () => ({
  cpuManagerPolicy: 'static',
  topologyManagerPolicy: 'single-numa-node',
  topologyManagerScope: 'container',
  cpuManagerPolicyOptions: { 'full-pcpus-only': 'true' },
  reservedSystemCPUs: '0,16',
  // no cpu: next to reservedSystemCPUs kubelet overrides it, so it is not rendered (config/render.ts)
  systemReserved: { memory: '2Gi', pid: '100', 'ephemeral-storage': '256Mi' },
  kubeReserved: { memory: '1024Mi' }, // same quantity as the inventory, spelled differently
  evictionHard: {
    'memory.available': '500Mi',
    'nodefs.available': '10%',
    'nodefs.inodesFree': '5%',
    'imagefs.available': '15%',
    'imagefs.inodesFree': '5%',
  },
  registerWithTaints: [{ key: 'solana.org/validator', value: 'true', effect: 'NoSchedule' }],
  reservedMemory: [
    { numaNode: 0, limits: { memory: '2Gi' } },
    { numaNode: 1, limits: { memory: '1524Mi' } },
  ],
  memoryManagerPolicy: 'Static',
})

test('kubelet: the inventory policies and reservations pass; a none CPU manager fails', () => {
  allPass(kubeletConfig.evaluate({ kubeletConfig: perNode({ validator1: kubeletGood() }) }, inv))
  const rs = kubeletConfig.evaluate(
    {
      kubeletConfig: perNode({ validator1: { ...kubeletGood(), cpuManagerPolicy: 'none', reservedMemory: undefined } }),
    },
    inv,
  )
  assert.deepEqual(
    byStatus(rs, 'fail')
      .map((r) => r.target)
      .sort(),
    ['validator1/cpuManagerPolicy', 'validator1/reservedMemory'],
  )
  // a node still running a config rendered with the dead cpu reservations differs from what 02 renders now
  const stale = kubeletGood()
  const old = kubeletConfig.evaluate(
    {
      kubeletConfig: perNode({
        validator1: {
          ...stale,
          systemReserved: { ...stale.systemReserved, cpu: '1000m' },
          kubeReserved: { ...stale.kubeReserved, cpu: '1000m' },
        },
      }),
    },
    inv,
  )
  assert.deepEqual(
    byStatus(old, 'fail')
      .map((r) => r.target)
      .sort(),
    ['validator1/kubeReserved', 'validator1/systemReserved'],
  )
  // the check wants what config/render.ts renders: even a profile with cpu next to reservedSystemCpus (validation
  // refuses one) expects no cpu on the node
  const v = inv.validator!
  const withCpu = {
    ...inv,
    validator: {
      ...v,
      systemReserved: { ...v.systemReserved, cpu: '1000m' },
      kubeReserved: { ...v.kubeReserved, cpu: '1000m' },
    },
  }
  allPass(kubeletConfig.evaluate({ kubeletConfig: perNode({ validator1: kubeletGood() }) }, withCpu))
})

const storageGood = (): SourceData['storage'] =>
  perNode({
    validator1: [
      {
        name: 'ledger',
        mountPoint: '/var/mnt/ledger',
        filesystem: 'xfs',
        source: '/dev/nvme1n1p1',
        owner: { uid: 1000, gid: 1000, mode: '0750' },
        sizeBytes: 2e12,
        availableBytes: 1.5e12,
      },
      {
        name: 'accounts',
        mountPoint: '/var/mnt/accounts',
        filesystem: 'xfs',
        source: '/dev/nvme2n1p1',
        owner: { uid: 1000, gid: 1000, mode: 'drwxr-x---' },
      },
    ],
  })

test('storage: mounted xfs volumes with the right owner and mode pass; wrong fs, owner, or a full disk fail', () => {
  allPass(storageMounts.evaluate({ storage: storageGood() }, inv))
  const s = storageGood()
  s.values.validator1![0] = { ...s.values.validator1![0]!, filesystem: 'ext4', availableBytes: 0.01e12 }
  s.values.validator1![1] = { ...s.values.validator1![1]!, owner: { uid: 0, gid: 0, mode: '0755' } }
  const fails = byStatus(storageMounts.evaluate({ storage: s }, inv), 'fail').map((r) => r.target)
  assert.deepEqual(fails, ['validator1/ledger/fs', 'validator1/ledger/free', 'validator1/accounts/owner'])
  const unmounted = storageGood()
  unmounted.values.validator1![1] = { name: 'accounts', mountPoint: '/var/mnt/accounts' }
  assert.match(
    byStatus(storageMounts.evaluate({ storage: unmounted }, inv), 'fail')[0]!.message,
    /nothing is mounted at \/var\/mnt\/accounts/,
  )
})

test('storage: owner and mode are judged on the data dir, never the mount root; a missing data dir says run 05', () => {
  // the source reads the data dir (default <mountPoint>/data); what Talos made of the mount root is not looked at
  const good = storageMounts.evaluate({ storage: storageGood() }, inv)
  const owner = good.find((r) => r.target === 'validator1/ledger/owner')!
  assert.equal(owner.status, 'pass')
  assert.match(owner.message, /owner and mode of \/var\/mnt\/ledger\/data/)
  const missing = storageGood()
  missing.values.validator1![0] = { ...missing.values.validator1![0]!, owner: undefined, dataDirMissing: true }
  const fails = byStatus(storageMounts.evaluate({ storage: missing }, inv), 'fail')
  assert.deepEqual(
    fails.map((r) => r.target),
    ['validator1/ledger/owner'],
  )
  assert.match(fails[0]!.message, /\/var\/mnt\/ledger\/data does not exist on validator1: run 05-storage-tuning/)
  // an inventory's own dataDir is the one named
  const own = {
    ...inv,
    validator: {
      ...inv.validator!,
      storage: inv.validator!.storage!.map((s) => ({ ...s, dataDir: `${s.mountPoint}/solana` })),
    },
  }
  assert.match(
    storageMounts.evaluate({ storage: missing }, own).find((r) => r.target === 'validator1/ledger/owner')!.message,
    /\/var\/mnt\/ledger\/solana does not exist/,
  )
})

test('storage: lsSaysMissing reads "no such file or directory" for the node asked, alone or in a multi-node call', () => {
  const one =
    'error fetching logs: rpc error: code = Unknown desc = lstat /var/mnt/ledger/data: no such file or directory'
  assert.equal(lsSaysMissing(one, '/var/mnt/ledger/data', '10.5.0.3', 1), true)
  assert.equal(
    lsSaysMissing('rpc error: code = Unavailable desc = connection refused', '/var/mnt/ledger/data', '10.5.0.3', 1),
    false,
  )
  const many = '1 error occurred:\n\t* 10.5.0.3: lstat /var/mnt/ledger/data: no such file or directory\n'
  assert.equal(lsSaysMissing(many, '/var/mnt/ledger/data', '10.5.0.3', 2), true)
  assert.equal(lsSaysMissing(many, '/var/mnt/ledger/data', '10.5.0.4', 2), false)
})

test('storage: octalMode reads the inventory, ls -l letters and numbers alike', () => {
  assert.equal(octalMode('0750'), '0750')
  assert.equal(octalMode('750'), '0750')
  assert.equal(octalMode('drwxr-x---'), '0750')
  assert.equal(octalMode('drwxr-xr-x'), '0755')
  assert.equal(octalMode(0o700), '0700')
})

test("kubelet.reserved-whole-cores: passes when each reserved CPU's thread siblings are reserved too, fails naming the split core", () => {
  // inventory/lab.yaml reserves "0,16": the two threads of core 0 on validator-2socket
  allPass(reservedWholeCores.evaluate({ threadSiblings: perNode({ validator1: { 0: '0,16\n', 16: '0,16\n' } }) }, inv))
  const split = { ...inv, validator: { ...inv.validator!, reservedSystemCpus: '0,1' } }
  const rs = reservedWholeCores.evaluate(
    { threadSiblings: perNode({ validator1: { 0: '0,16\n', 1: '1,17\n' } }) },
    split,
  )
  assert.deepEqual(
    byStatus(rs, 'fail').map((r) => r.message),
    [
      'reservedSystemCPUs 0,1 splits SMT cores on validator1: CPU 0 without its sibling 16; CPU 1 without its sibling 17',
    ],
  )
  // without SMT each CPU is its own core
  allPass(reservedWholeCores.evaluate({ threadSiblings: perNode({ validator1: { 0: '0\n', 1: '1\n' } }) }, split))
})

test('kubelet.reserved-cpus-online: passes when every reserved CPU is online; fails naming the offline one, the cause and the fix', () => {
  const cmdline = (c: string) => perNode({ validator1: c })
  allPass(reservedCpusOnline.evaluate({ cpuOnline: perNode({ validator1: '0-31\n' }), cmdline: cmdline('talos') }, inv))
  // nosmt took the second thread of every core, CPU 16 among them (inventory/lab.yaml reserves "0,16")
  const [r] = reservedCpusOnline.evaluate(
    { cpuOnline: perNode({ validator1: '0-15\n' }), cmdline: cmdline('talos.platform=metal nosmt') },
    inv,
  )
  assert.equal(r!.status, 'fail')
  assert.deepEqual([r!.text.seen, r!.text.wanted], ['online 0-15', '0,16 online'])
  assert.equal(
    r!.message,
    'reserved CPU 16 is offline on validator1 (this boot\'s command line has nosmt (only the first thread of each core)): kubelet runs this boot, but its next start within it (a config apply, a crash) fails (not all reserved cpus: "0,16" are present in defaultCpuSet: "0-15"; kubernetes v1.33.1 cpumanager/policy_static.go validateState); reserve only online CPUs (validator.reservedSystemCpus "0"), then run 02 (it says how a reservedSystemCPUs change reaches a running node)',
  )
  // nothing on the command line: the firmware (SMT off in the BIOS) took it
  const [fw] = reservedCpusOnline.evaluate(
    { cpuOnline: perNode({ validator1: '0-15\n' }), cmdline: cmdline('talos.platform=metal') },
    inv,
  )
  assert.match(fw!.message, /nothing on the command line takes CPUs offline: SMT or cores disabled in the firmware/)
  // an unreadable node fails, it does not pass
  const [dead] = reservedCpusOnline.evaluate(
    { cpuOnline: perNode({}, { validator1: 'talosctl read: timed out' }), cmdline: cmdline('') },
    inv,
  )
  assert.equal(dead!.status, 'fail')
})

// ------------------------------------------------------------------------------------------ the table's words
// SEEN and WANTED in the table are what a person reads (`Running, healthy`, `3/3 Running`); the evidence itself is
// unchanged for --json. Each family: a right and a wrong value give the expected short text.

const words = (r: Result | undefined) => [r!.text.seen, r!.text.wanted]
const noJson = (rs: Result[]) => {
  for (const r of rs)
    for (const t of [r.text.seen, r.text.wanted])
      assert.doesNotMatch(t, /^[[{]|":/, `${r.check} ${r.target}: ${t} reads as JSON`)
}

test('words: cluster: nodes, services and static pods read like kubectl get', () => {
  const ok = nodesReady.evaluate({ k8sNodes: { items: goodNodes(), latencyMs: 1 } }, inv)
  assert.deepEqual(words(ok.find((r) => r.target === 'cp1')), ['Ready controlplane', 'Ready controlplane'])
  const nodes = goodNodes()
  nodes[1] = k8sNode('cp2', '172.20.0.3', { cp: true, ready: false })
  const bad = nodesReady.evaluate({ k8sNodes: { items: nodes, latencyMs: 1 } }, inv)
  assert.deepEqual(words(bad.find((r) => r.target === 'cp2')), ['NotReady controlplane', 'Ready controlplane'])

  const rows = [
    { node: 'cp1', id: 'etcd', state: 'Running', health: 'OK' },
    { node: 'cp2', id: 'etcd', state: 'Preparing', health: '?' },
    { node: 'cp3', id: 'etcd', state: 'Running', health: 'Fail' },
  ]
  const svc = etcdService.evaluate({ services: { rows, nodeErrors: {} } }, inv)
  assert.deepEqual(svc.map(words), [
    ['Running, healthy', 'Running, healthy'],
    ['Preparing', 'Running, healthy'],
    ['Running, unhealthy', 'Running, healthy'],
  ])

  const data = (pods: KubePod[]) => ({ k8sPods: { items: pods }, k8sNodes: { items: goodNodes(), latencyMs: 1 } })
  assert.deepEqual(words(staticPods.evaluate(data(goodPods()), inv)[0]), ['3/3 Running', '3 pods Running'])
  const pending = goodPods().map((p) =>
    p.metadata.name === 'kube-scheduler-cp1' ? { ...p, status: { phase: 'Pending' } } : p,
  )
  assert.deepEqual(words(staticPods.evaluate(data(pending), inv)[0]), [
    '2/3 Running, scheduler Pending',
    '3 pods Running',
  ])
  noJson([...ok, ...bad, ...svc])
})

test('words: etcd: the leader by name, lag, db size of quota, member errors and alarms', () => {
  const status = etcdStatus()
  const leaderNode = status.rows.find((r) => r.memberId === status.rows[0]!.leader)!.node
  assert.deepEqual(words(etcdLeader.evaluate({ etcdStatus: status }, inv)[0]), [
    `leader ${leaderNode}`,
    'one agreed leader',
  ])
  const split = statusRows()
  split[2]!.leader = split[2]!.memberId
  assert.match(etcdLeader.evaluate({ etcdStatus: etcdStatus(split) }, inv)[0]!.text.seen, /^2 leaders named: /)

  const lagging = statusRows()
  lagging[0]!.raftIndex -= 150
  const lag = etcdRaftLag.evaluate({ etcdStatus: etcdStatus(lagging) }, inv)
  assert.deepEqual(words(lag.find((r) => r.target === lagging[0]!.node)), ['lag 150', 'lag ≤ 100'])
  assert.deepEqual(words(lag.find((r) => r.target === lagging[1]!.node)), ['lag 0', 'lag ≤ 100'])

  const sized = statusRows()
  sized[0]!.dbSize = 0.2 * 1024 ** 2
  sized[1]!.dbSize = 1.7 * 1024 ** 3
  const db = etcdDbSize.evaluate({ etcdStatus: etcdStatus(sized) }, inv)
  assert.deepEqual(words(db.find((r) => r.target === sized[0]!.node)), ['0.2 MiB of 2 GiB', '< 80% of 2 GiB'])
  assert.deepEqual(words(db.find((r) => r.target === sized[1]!.node)), ['1.7 GiB of 2 GiB', '< 80% of 2 GiB'])

  const erring = statusRows()
  erring[1]!.errors = ['etcdserver: mvcc: database space exceeded']
  const health = etcdHealthy.evaluate({ etcdStatus: etcdStatus(erring) }, inv)
  assert.deepEqual(words(health.find((r) => r.target === erring[1]!.node)), ['1 error', 'no errors'])
  assert.deepEqual(words(health.find((r) => r.target === erring[0]!.node)), ['no errors', 'no errors'])
  const alarms = ['cp1', 'cp2'].map((node) => ({ node, memberId: 'a49c021e76e707db', alarm: 'NOSPACE' }))
  assert.deepEqual(words(etcdAlarms.evaluate({ etcdAlarms: { alarms } }, inv)[0]), [
    'NOSPACE on a49c021e76e707db',
    'no alarms',
  ])
  assert.deepEqual(words(etcdAlarms.evaluate({ etcdAlarms: { alarms: [] } }, inv)[0]), ['no alarms', 'no alarms'])

  const m = etcdMembers.evaluate({ etcdMembers: { members: members(), from: 'cp1' } }, inv)
  assert.deepEqual(words(m[0]), ['cp1 at 172.20.0.2', 'cp1 at 172.20.0.2'])
  const moved = members()
  moved[0]!.peerUrls = ['https://172.20.0.99:2380']
  const mv = etcdMembers.evaluate({ etcdMembers: { members: moved, from: 'cp2' } }, inv)
  assert.deepEqual(words(mv[0]), ['cp1 at 172.20.0.99', 'cp1 at 172.20.0.2'])
  noJson([...db, ...m, ...mv])
})

test('words: hugepages: page counts and the hugepages= split', () => {
  const cmd = hugepagesCmdline.evaluate({ cmdline: perNode({ validator1: CMDLINE }) }, inv)
  assert.deepEqual(words(cmd.find((r) => r.target === 'validator1/hugepages')), [
    'hugepages=0:4,1:4',
    'hugepages=0:4,1:4',
  ])
  const skewed = CMDLINE.replace('hugepages=0:4,1:4', 'hugepages=0:8,1:0')
  const bad = hugepagesCmdline.evaluate({ cmdline: perNode({ validator1: skewed }) }, inv)
  assert.deepEqual(words(bad.find((r) => r.target === 'validator1/hugepages')), [
    'hugepages=0:8,1:0',
    'hugepages=0:4,1:4',
  ])
  assert.deepEqual(words(cmd.find((r) => r.target === 'validator1/default_hugepagesz')), ['1 GiB', '1 GiB'])
  const small = CMDLINE.replace('default_hugepagesz=1G', 'default_hugepagesz=2M')
  const sz = hugepagesCmdline.evaluate({ cmdline: perNode({ validator1: small }) }, inv)
  assert.deepEqual(words(sz.find((r) => r.target === 'validator1/default_hugepagesz')), ['2 MiB', '1 GiB'])
  assert.deepEqual(sz.find((r) => r.target === 'validator1/default_hugepagesz')!.evidence, {
    seen: '2048 kB',
    wanted: '1048576 kB',
  })
  const mem = MEMINFO.replace('HugePages_Total:       8', 'HugePages_Total:       1')
  const total = hugepagesMeminfo.evaluate({ meminfo: perNode({ validator1: mem }) }, inv)
  assert.deepEqual(words(total.find((r) => r.target.endsWith('HugePages_Total'))), ['1 page', '8 pages'])
  const numa = hugepagesNuma.evaluate(
    { hugepagesSysfs: perNode({ validator1: hugepagesBySize(topo(sysfs({ nr: [4, 2] })), [1048576]) }) },
    inv,
  )
  assert.deepEqual(numa.map(words), [
    ['4 pages', '4 pages'],
    ['2 pages', '4 pages'],
  ])
  noJson([...cmd, ...bad, ...total, ...numa])
})

test('words: isolation, numa, kubelet, storage and kernel: counts, taints, key=value, sizes', () => {
  const data = { k8sNodes: { items: goodNodes(), latencyMs: 1 }, k8sPods: { items: goodPods() } }
  const labels = Object.keys(inv.validator!.labels!).length
  assert.deepEqual(words(validatorLabels.evaluate(data, inv)[0]), [
    `${labels}/${labels} label${labels === 1 ? '' : 's'}`,
    `${labels} label${labels === 1 ? '' : 's'}`,
  ])
  const untainted = goodNodes().map((n) => (n.metadata.name === 'validator1' ? { ...n, spec: { taints: [] } } : n))
  assert.deepEqual(words(validatorTaints.evaluate({ k8sNodes: { items: untainted, latencyMs: 1 } }, inv)[0]), [
    'none',
    'solana.org/validator=true:NoSchedule',
  ])
  const intruded = { ...data, k8sPods: { items: [...goodPods(), pod('monitoring', 'grafana-5d9f', 'validator1')] } }
  assert.deepEqual(words(foreignPods.evaluate(intruded, inv)[0]), ['1 foreign pod', 'no foreign pods'])
  assert.deepEqual(words(foreignPods.evaluate(data, inv)[0]), ['2 pods, all tolerate', 'no foreign pods'])

  const n = numaTopology.evaluate({ numa: perNode({ validator1: toNumaView(topo(sysfs())) }) }, inv)[0]!
  assert.deepEqual(words(n), ['2 nodes, 32+32 cpus', '2 nodes'])
  const noCpu = numaTopology.evaluate({ numa: perNode({ validator1: toNumaView(topo(sysfs({ cpus1: '' }))) }) }, inv)
  assert.equal(noCpu[0]!.text.seen, '2 nodes, 32+0 cpus')

  const kc = kubeletConfig.evaluate(
    { kubeletConfig: perNode({ validator1: { ...kubeletGood(), cpuManagerPolicy: 'none' } }) },
    inv,
  )
  assert.deepEqual(words(kc.find((r) => r.target === 'validator1/cpuManagerPolicy')), ['none', 'static'])
  assert.match(kc.find((r) => r.target === 'validator1/systemReserved')!.text.seen, /^memory=2Gi, pid=100, /)
  assert.equal(kc.find((r) => r.target === 'validator1/reservedMemory')!.text.seen, 'node 0: 2Gi, node 1: 1524Mi')

  const s = storageGood()
  s.values.validator1![1] = { ...s.values.validator1![1]!, owner: { uid: 0, gid: 0, mode: '0755' } }
  const st = storageMounts.evaluate({ storage: s }, inv)
  assert.deepEqual(words(st.find((r) => r.target === 'validator1/ledger/free')), ['0.5 TiB of 1.8 TiB', 'used ≤ 80%'])
  assert.deepEqual(words(st.find((r) => r.target === 'validator1/accounts/owner')), ['0:0 0755', '1000:1000 0750'])

  const args = kernelArgs.evaluate({ cmdline: perNode({ validator1: CMDLINE.replace('\n', ' iommu=on\n') }) }, inv)
  assert.deepEqual(words(args[0]), ['iommu=on', 'iommu=pt'])
  noJson([...kc, ...st, ...args, n])
})

test('words: the evidence for --json is untouched by the words', () => {
  const mem = MEMINFO.replace('HugePages_Total:       8', 'HugePages_Total:       6')
  const r = hugepagesMeminfo
    .evaluate({ meminfo: perNode({ validator1: mem }) }, inv)
    .find((x) => x.target.endsWith('HugePages_Total'))!
  assert.deepEqual(r.evidence, { seen: 6, wanted: 8 })
  assert.deepEqual(r.text, { seen: '6 pages', wanted: '8 pages' })
})
