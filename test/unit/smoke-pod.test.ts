import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import {
  evaluateSmokePod,
  evaluateValidatorNode,
  podEndedMessage,
  schedulingFailure,
  smokePodManifest,
  type ObservedPod,
  type SmokeInventory,
} from '../../steps/07-smoke-pod/smoke-pod.ts'
import { findKubeNode, type KubeNode } from '../../lib/kube/kubectl.ts'

const inv = parse(readFileSync(new URL('../../inventory/lab.yaml', import.meta.url), 'utf8')) as SmokeInventory

const validatorKubeNode = (over: Partial<KubeNode> = {}): KubeNode => ({
  metadata: {
    name: 'validator1',
    labels: {
      'kubernetes.io/hostname': 'validator1',
      'solana.org/role': 'validator',
      'node.kubernetes.io/exclusive': 'solana',
    },
  },
  spec: { taints: [{ key: 'solana.org/validator', value: 'true', effect: 'NoSchedule' }] },
  status: {
    conditions: [{ type: 'Ready', status: 'True' }],
    allocatable: { cpu: '30', memory: '60Gi', pods: '110', 'hugepages-1Gi': '8Gi' },
    addresses: [{ type: 'InternalIP', address: '127.0.10.21' }],
  },
  ...over,
})

/** The manifest as the API server would return it once the kubelet runs it. */
function running(over: (p: any) => void = () => {}): ObservedPod {
  const p = structuredClone(smokePodManifest(inv)) as any
  p.metadata.uid = 'u1'
  p.spec.nodeName = 'validator1'
  p.status = {
    phase: 'Running',
    qosClass: 'Guaranteed',
    conditions: [{ type: 'PodScheduled', status: 'True' }],
    containerStatuses: [{ name: 'smoke', ready: true, state: { running: { startedAt: 'x' } } }],
  }
  over(p)
  return p
}

// Whether the real API server calls it Guaranteed and the real scheduler binds it to the validator only is the lab's to
// prove: deploy-e2e runs 07 --validator-shape against the real control plane.
test('manifest: requests equal limits (Guaranteed QoS), integer CPUs, hugepage emptyDir mounted', () => {
  const pod = smokePodManifest(inv, { cpus: 6, hugepages: '1Gi' })
  assert.equal(pod.spec.containers.length, 1)
  const c = pod.spec.containers[0]!
  assert.deepEqual(c.resources.requests, c.resources.limits)
  assert.equal(c.resources.limits.cpu, '6')
  assert.equal(c.resources.limits['hugepages-1Gi'], '1Gi')
  assert.deepEqual(pod.spec.volumes, [{ name: 'hugepages', emptyDir: { medium: 'HugePages-1Gi' } }])
  assert.equal(c.volumeMounts[0]!.name, 'hugepages')
})

test("manifest: by default the validator pod's requests from the inventory (validator.pod), else the built-in defaults", () => {
  const limits = smokePodManifest(inv).spec.containers[0]!.resources.limits
  assert.deepEqual(limits, { cpu: '4', memory: '4Gi', 'hugepages-1Gi': '2Gi' })
  const noPod = { ...inv, validator: { ...inv.validator, pod: undefined } }
  assert.deepEqual(smokePodManifest(noPod).spec.containers[0]!.resources.limits, {
    cpu: '2',
    memory: '1Gi',
    'hugepages-1Gi': '1Gi',
  })
  // flags still win
  assert.deepEqual(
    smokePodManifest(inv, { cpus: 2, memory: '2Gi', hugepages: '1Gi' }).spec.containers[0]!.resources.limits,
    { cpu: '2', memory: '2Gi', 'hugepages-1Gi': '1Gi' },
  )
})

test("manifest: selects the validator node by its labels and tolerates the validator's taint", () => {
  const pod = smokePodManifest(inv)
  const node = validatorKubeNode()
  for (const [k, v] of Object.entries(pod.spec.nodeSelector as Record<string, string>))
    assert.equal(node.metadata.labels?.[k], v, `nodeSelector ${k}`)
  assert.ok(Object.keys(pod.spec.nodeSelector).length >= 2, 'the labels are part of the selector')
  for (const taint of node.spec!.taints!)
    assert.ok(
      (pod.spec.tolerations as any[]).some(
        (t) => t.key === taint.key && t.effect === taint.effect && (t.operator === 'Exists' || t.value === taint.value),
      ),
      `toleration for ${taint.key}`,
    )
})

test('manifest: labels can be left out of the selector; bad sizes are refused', () => {
  const pod = smokePodManifest(inv, { requireLabels: false, nodeName: 'v-host' })
  assert.deepEqual(pod.spec.nodeSelector, { 'kubernetes.io/hostname': 'v-host' })
  assert.throws(() => smokePodManifest(inv, { cpus: 1.5 }), /whole number/)
  assert.throws(() => smokePodManifest(inv, { hugepages: '1536Mi' }), /whole number of 1Gi pages/)
  assert.throws(() => smokePodManifest({ nodes: [] }), /no node has profile: validator/)
})

test('evaluate: a running Guaranteed pod on the validator has no problems', () => {
  assert.deepEqual(evaluateSmokePod(running(), inv), [])
})

test('evaluate: wrong node, not Guaranteed, fractional CPU, unequal request, not running', () => {
  const p = running((p) => {
    p.spec.nodeName = 'worker1'
    p.status.qosClass = 'Burstable'
    p.spec.containers[0].resources.limits.cpu = '1500m'
    p.spec.containers[0].resources.requests.cpu = '1500m'
    p.spec.containers[0].resources.requests.memory = '512Mi'
    p.status.phase = 'Pending'
  })
  const problems = evaluateSmokePod(p, inv).join('\n')
  assert.match(problems, /runs on worker1, not on the validator node validator1/)
  assert.match(problems, /QoS class is Burstable/)
  assert.match(problems, /cpu 1500m is not a whole number/)
  assert.match(problems, /memory request 512Mi != limit 4Gi/)
  assert.match(problems, /phase is Pending/)
})

test('evaluate: missing hugepages limit and volume, container not ready', () => {
  const p = running((p) => {
    delete p.spec.containers[0].resources.limits['hugepages-1Gi']
    delete p.spec.containers[0].resources.requests['hugepages-1Gi']
    p.spec.volumes = []
    p.status.containerStatuses[0].ready = false
  })
  const problems = evaluateSmokePod(p, inv).join('\n')
  assert.match(problems, /no hugepages-1Gi limit/)
  assert.match(problems, /no HugePages-1Gi emptyDir volume mounted/)
  assert.match(problems, /container smoke is not ready/)
})

test('schedulingFailure: the PodScheduled=False message, else the latest FailedScheduling event for this pod', () => {
  const msg =
    "0/5 nodes are available: 1 Insufficient hugepages-1Gi, 4 node(s) didn't match Pod's node affinity/selector."
  const pending = running((p) => {
    delete p.spec.nodeName
    p.status = {
      phase: 'Pending',
      qosClass: 'Guaranteed',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: msg }],
    }
  })
  assert.equal(schedulingFailure(pending), msg)
  assert.match(evaluateSmokePod(pending, inv).join('\n'), /phase is Pending, not Running: 0\/5 nodes are available/)

  const noCond = running((p) => {
    delete p.spec.nodeName
    p.status = { phase: 'Pending' }
  })
  const events = [
    {
      reason: 'FailedScheduling',
      message: 'old',
      involvedObject: { kind: 'Pod', name: 'talos-runbooks-smoke', uid: 'u1' },
      lastTimestamp: '2025-01-01T00:00:01Z',
    },
    {
      reason: 'FailedScheduling',
      message: 'other pod',
      involvedObject: { kind: 'Pod', name: 'x', uid: 'u2' },
      lastTimestamp: '2025-01-01T00:00:09Z',
    },
    {
      reason: 'FailedScheduling',
      message: 'newest',
      involvedObject: { kind: 'Pod', name: 'talos-runbooks-smoke', uid: 'u1' },
      lastTimestamp: '2025-01-01T00:00:05Z',
    },
    {
      reason: 'Scheduled',
      message: 'not a failure',
      involvedObject: { kind: 'Pod', name: 'talos-runbooks-smoke', uid: 'u1' },
      lastTimestamp: '2025-01-01T00:00:07Z',
    },
  ]
  assert.equal(schedulingFailure(noCond, events), 'newest')
  assert.equal(schedulingFailure(noCond, []), undefined)
  assert.equal(schedulingFailure(running(), events), undefined, 'a scheduled pod has no scheduling failure')
})

test('validator node preflight: Ready with hugepages → fine; missing, NotReady or no hugepages → named problems', () => {
  assert.deepEqual(evaluateValidatorNode(validatorKubeNode(), inv), [])
  assert.match(evaluateValidatorNode(undefined, inv).join(), /validator1 \(127\.0\.10\.21\) is not registered/)
  const notReady = validatorKubeNode({
    status: {
      conditions: [{ type: 'Ready', status: 'False', message: 'kubelet stopped posting' }],
      allocatable: { 'hugepages-1Gi': '0' },
    },
  })
  const problems = evaluateValidatorNode(notReady, inv).join('\n')
  assert.match(problems, /not Ready: kubelet stopped posting/)
  assert.match(problems, /no hugepages-1Gi allocatable/)
  assert.match(
    evaluateValidatorNode(validatorKubeNode(), inv, '16Gi').join(),
    /has 8Gi hugepages-1Gi allocatable, the smoke pod needs 16Gi/,
  )
})

test('findKubeNode: by name, else by InternalIP', () => {
  const other = {
    metadata: { name: 'talos-abc' },
    status: { addresses: [{ type: 'InternalIP', address: '127.0.10.21' }] },
  }
  assert.equal(findKubeNode([other], { name: 'validator1', address: '127.0.10.21' })?.metadata.name, 'talos-abc')
  assert.equal(findKubeNode([other], { name: 'validator1', address: '127.0.10.99' }), undefined)
})

test('a pod kubelet rejected at admission: the message carries its reason and message', () => {
  const pod: ObservedPod = {
    metadata: { name: 'smoke', namespace: 'solana' },
    spec: { nodeName: 'validator1' },
    status: {
      phase: 'Failed',
      reason: 'SMTAlignmentError',
      message: 'Pod was rejected: SMT Alignment Error: requested 3 cpus not multiple cpus per core = 2',
    },
  }
  assert.equal(
    podEndedMessage(pod),
    'pod solana/smoke ended Failed on validator1: SMTAlignmentError: Pod was rejected: SMT Alignment Error: requested 3 cpus not multiple cpus per core = 2',
  )
})

test('a pod that ended with a container reason and no pod reason: the container reason', () => {
  const pod: ObservedPod = {
    metadata: { name: 'smoke', namespace: 'solana' },
    spec: { nodeName: 'validator1' },
    status: {
      phase: 'Failed',
      containerStatuses: [{ name: 'c', state: { terminated: { reason: 'Error', message: 'exit 1' } } }],
    },
  }
  assert.equal(
    podEndedMessage(pod),
    'pod solana/smoke ended Failed on validator1: container c terminated: Error: exit 1',
  )
  assert.equal(podEndedMessage({ status: { phase: 'Succeeded' } }), 'pod ?/? ended Succeeded on ?')
})
