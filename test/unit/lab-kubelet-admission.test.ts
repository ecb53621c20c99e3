// The lab kubelet's admission (lab/kubelet-admission.ts) against kubelet v1.33.1's rules: full-pcpus-only's
// SMTAlignmentError (cpumanager/policy_static.go:340-372), single-numa-node's TopologyAffinityError
// (topologymanager/policy_single_numa_node.go, topology_manager.go:41-55), and what is always admitted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { admitPod, rejectedStatus, type AdmissionSettings, type NodeResources } from '../../lab/kubelet-admission.ts'
import { hardwareProfile, coresOf } from '../../lab/hardware.ts'

const GiB = 1024 ** 3
const hw = hardwareProfile('validator-2socket')
/** validator-2socket: node 0 the even CPUs, node 1 the odd ones, core c = CPUs c and c+16; 2 GiB free per node. */
const node = (taken: number[] = [], freeMemory?: NodeResources['freeMemory']): NodeResources => ({
  numaCpus: hw.numaCpus,
  cores: coresOf(hw),
  taken,
  freeMemory,
})
/** What the product renders for the validator (config/render.ts kubeletExtraConfig). */
const validator: AdmissionSettings = {
  cpuPolicy: 'static',
  fullPcpusOnly: true,
  topologyPolicy: 'single-numa-node',
  topologyScope: 'container',
  memoryPolicy: 'Static',
  reserved: [0, 16],
}
const guaranteed = (cpus: number, memory: Record<string, number> = {}) => ({
  guaranteed: true,
  containers: [{ name: 'c', cpus, memory }],
})
const memory = { 0: { memory: 8 * GiB, 'hugepages-1Gi': 4 * GiB }, 1: { memory: 8 * GiB, 'hugepages-1Gi': 4 * GiB } }

test('validator-2socket has 2 threads per core and 16 CPUs per NUMA node (the cases below rely on it)', () => {
  assert.equal(coresOf(hw)[0]!.length, 2)
  assert.deepEqual(
    hw.numaCpus.map((x) => x.length),
    [16, 16],
  )
})

test('full-pcpus-only: an odd CPU count on 2 threads per core is an SMTAlignmentError', () => {
  assert.deepEqual(admitPod(validator, node([], memory), guaranteed(3)), {
    admit: false,
    reason: 'SMTAlignmentError',
    message: 'SMT Alignment Error: requested 3 cpus not multiple cpus per core = 2',
  })
})

test('without full-pcpus-only the same request is admitted', () => {
  assert.deepEqual(admitPod({ ...validator, fullPcpusOnly: false }, node([], memory), guaranteed(3)), { admit: true })
})

test('full-pcpus-only: more CPUs than the free whole cores outside the reserved cores hold', () => {
  // no topology policy, so only the CPU manager's own check: 32 CPUs - reserved core {0,16} - 20 taken = 10
  const s = { ...validator, topologyPolicy: 'none', memoryPolicy: 'None' }
  const taken = [...Array(20).keys()].map((i) => i + 1).filter((c) => c !== 16)
  taken.push(21)
  assert.deepEqual(admitPod(s, node(taken), guaranteed(12)), {
    admit: false,
    reason: 'SMTAlignmentError',
    message:
      'SMT Alignment Error: not enough free physical CPUs: available physical CPUs = 10, requested CPUs = 12, CPUs per core = 2',
  })
  assert.deepEqual(admitPod(s, node(taken), guaranteed(10)), { admit: true })
})

test('single-numa-node: more CPUs than any one NUMA node has free is a TopologyAffinityError', () => {
  const r = admitPod(validator, node([], memory), guaranteed(18))
  assert.deepEqual(r, {
    admit: false,
    reason: 'TopologyAffinityError',
    message: 'Resources cannot be allocated with Topology locality',
  })
  // 16 fit node 1 (node 0 has 14 free: 0 and 16 are reserved)
  assert.deepEqual(admitPod(validator, node([], memory), guaranteed(16)), { admit: true })
  // with node 1's CPUs partly taken, 16 fit nowhere
  assert.equal(admitPod(validator, node([1, 17]), guaranteed(16)).admit, false)
})

test('single-numa-node under the Static memory manager: huge pages no single node holds', () => {
  const r = admitPod(validator, node([], memory), guaranteed(4, { memory: GiB, 'hugepages-1Gi': 6 * GiB }))
  assert.equal(r.admit ? '' : r.reason, 'TopologyAffinityError')
  // CPUs on node 0 and memory on node 1 only: no one node holds both
  const split = { 0: { memory: 0, 'hugepages-1Gi': 0 }, 1: { memory: 8 * GiB, 'hugepages-1Gi': 4 * GiB } }
  const taken = hw.numaCpus[1]!.slice(0, 14)
  assert.equal(admitPod(validator, node(taken, split), guaranteed(4, { memory: GiB })).admit, false)
  assert.deepEqual(admitPod(validator, node([], memory), guaranteed(4, { memory: GiB, 'hugepages-1Gi': 2 * GiB })), {
    admit: true,
  })
})

test('topology policy none or best-effort admits what does not fit one NUMA node', () => {
  for (const topologyPolicy of ['none', 'best-effort'])
    assert.deepEqual(
      admitPod({ ...validator, topologyPolicy }, node([], memory), guaranteed(18, { 'hugepages-1Gi': 6 * GiB })),
      { admit: true },
      topologyPolicy,
    )
})

test('a pod that is not Guaranteed is always admitted', () => {
  assert.deepEqual(
    admitPod(validator, node([], memory), { guaranteed: false, containers: [{ name: 'c', cpus: 3, memory: {} }] }),
    {
      admit: true,
    },
  )
  assert.deepEqual(
    admitPod(validator, node([], memory), { guaranteed: false, containers: [{ name: 'c', cpus: 40, memory: {} }] }),
    { admit: true },
  )
})

test('a fractional CPU request gets no exclusive CPUs and no CPU check', () => {
  assert.deepEqual(admitPod(validator, node([], memory), guaranteed(1.5)), { admit: true })
})

test('container scope: each container is checked against what the ones before it took', () => {
  const pod = {
    guaranteed: true,
    containers: [
      { name: 'a', cpus: 14, memory: {} },
      { name: 'b', cpus: 16, memory: {} },
    ],
  }
  // a takes node 0's 14 free CPUs, b then needs all of node 1: admitted; with b taking 1 more it fits nowhere
  const afterA = node(hw.numaCpus[0]!.filter((c) => c !== 0 && c !== 16))
  assert.deepEqual(
    admitPod(validator, node(), pod, () => afterA),
    { admit: true },
  )
  const afterAOn1 = node(hw.numaCpus[1]!.slice(0, 14))
  assert.equal(admitPod(validator, node(), pod, () => afterAOn1).admit, false)
})

test('pod scope: the pod total must fit one NUMA node', () => {
  const pod = {
    guaranteed: true,
    containers: [
      { name: 'a', cpus: 10, memory: {} },
      { name: 'b', cpus: 10, memory: {} },
    ],
  }
  assert.equal(admitPod({ ...validator, topologyScope: 'pod' }, node(), pod).admit, false)
  assert.deepEqual(admitPod({ ...validator, topologyScope: 'container' }, node(), pod), { admit: true })
})

test("rejectPod's status: Failed, the reason, 'Pod was rejected: ' + the message", () => {
  const prev = {
    phase: 'Pending',
    qosClass: 'Guaranteed',
    conditions: [{ type: 'PodScheduled', status: 'True' }],
  }
  assert.deepEqual(rejectedStatus(prev, { reason: 'SMTAlignmentError', message: 'm' }, 'T'), {
    phase: 'Failed',
    conditions: [{ type: 'PodScheduled', status: 'True' }],
    reason: 'SMTAlignmentError',
    message: 'Pod was rejected: m',
    startTime: 'T',
    qosClass: 'Guaranteed',
  })
})
