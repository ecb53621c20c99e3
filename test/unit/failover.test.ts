import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  FailoverTimeline,
  disruptedPods,
  formatTimeline,
  selectTarget,
  workloadBaseline,
  type Target,
} from '../../steps/08-failover/judge.ts'
import { evaluatePreflight, type EtcdMemberStatus, type PreflightInput } from '../../steps/cluster-health.ts'
import { watchFailover, type FailoverProbes } from '../../steps/08-failover/watch.ts'

const cps = [
  { name: 'cp1', address: '127.0.10.11' },
  { name: 'cp2', address: '127.0.10.12' },
  { name: 'cp3', address: '127.0.10.13' },
]
const ids: Record<string, string> = { cp1: '0a1b2c3d4e5f6071', cp2: '1122334455667788', cp3: '99aabbccddeeff00' }
const workers = [
  { name: 'validator1', address: '127.0.10.21' },
  { name: 'worker1', address: '127.0.10.22' },
]

function row(node: string, over: Partial<EtcdMemberStatus> = {}): EtcdMemberStatus {
  return { node, memberId: ids[node]!, leader: ids.cp2!, term: 4, learner: false, errors: '', ...over }
}

function healthy(over: Partial<PreflightInput> = {}): PreflightInput {
  return {
    controlPlanes: cps,
    etcd: cps.map((c) => row(c.name)),
    etcdErrors: {},
    members: cps.map((c) => ({ id: ids[c.name]!, hostname: c.name, learner: false })),
    alarms: [],
    api: { ok: true, nodes: [...cps, ...workers].map((n) => ({ name: n.name, ready: true })) },
    inventoryNodes: [...cps, ...workers],
    ...over,
  }
}

// ---------------------------------------------------------------- preflight

test('preflight: a healthy cluster is ok and names its leader', () => {
  const r = evaluatePreflight(healthy())
  assert.deepEqual(r.problems, [])
  assert.equal(r.ok, true)
  assert.deepEqual(r.leader, { node: 'cp2', memberId: ids.cp2, term: 4 })
  assert.equal(r.memberIds.cp3, ids.cp3)
})

test('preflight: a member that answers but whose etcd service Talos has not yet found healthy is not ready', () => {
  const svc = (health: string, message?: string) => ({ state: 'Running', health, message })
  const ok = { cp1: svc('OK'), cp2: svc('OK'), cp3: svc('OK') }
  assert.deepEqual(evaluatePreflight(healthy({ etcdService: ok })).problems, [])
  const r = evaluatePreflight(healthy({ etcdService: { ...ok, cp1: svc('Fail', 'context deadline exceeded') } }))
  assert.equal(r.ok, false)
  assert.deepEqual(r.problems, [
    'etcd service on cp1 (127.0.10.11) is Running, health Fail (context deadline exceeded)',
  ])
  assert.deepEqual(r.pendingHealth, [], 'a failed check is a verdict, not one to wait for')
  // not yet checked (machined's first check comes 5 s after etcd starts): a problem 08 waits out before refusing
  const pending = evaluatePreflight(healthy({ etcdService: { ...ok, cp3: svc('?') } }))
  assert.match(pending.problems.join(), /cp3 .* health \?/)
  assert.deepEqual(pending.pendingHealth, ['cp3'])
  assert.deepEqual(evaluatePreflight(healthy({ etcdService: ok })).pendingHealth, [])
  const stopped = evaluatePreflight(healthy({ etcdService: { ...ok, cp3: { state: 'Preparing', health: '?' } } }))
  assert.deepEqual(stopped.pendingHealth, [], 'a member not running has no check to wait for')
})

test('preflight: one member down → refuse, naming the node and why', () => {
  const r = evaluatePreflight(
    healthy({
      etcd: [row('cp1'), row('cp2')],
      etcdErrors: { cp3: 'rpc error: code = Unavailable desc = connection refused' },
    }),
  )
  assert.equal(r.ok, false)
  assert.match(
    r.problems.join('\n'),
    /etcd member on cp3 \(127\.0\.10\.13\) does not answer: rpc error: code = Unavailable/,
  )
})

test('preflight: two leaders → refuse', () => {
  const r = evaluatePreflight(healthy({ etcd: [row('cp1'), row('cp2'), row('cp3', { leader: ids.cp3 })] }))
  assert.equal(r.ok, false)
  assert.match(r.problems.join('\n'), /disagree on the leader \(2 leaders/)
})

test('preflight: an alarm → refuse, naming the member', () => {
  const r = evaluatePreflight(healthy({ alarms: [{ memberId: ids.cp1!, alarm: 'NOSPACE' }] }))
  assert.equal(r.ok, false)
  assert.match(r.problems.join('\n'), /etcd alarm NOSPACE on member 0a1b2c3d4e5f6071 \(cp1\)/)
})

test('preflight: API down, a worker NotReady, a member without leader, a learner → each refused', () => {
  assert.match(
    evaluatePreflight(healthy({ api: { ok: false, error: 'connection refused' } })).problems.join(),
    /Kubernetes API does not answer: connection refused/,
  )
  const notReady = healthy()
  ;(notReady.api as { nodes: { name: string; ready: boolean; reason?: string }[] }).nodes[4] = {
    name: 'worker1',
    ready: false,
    reason: 'NodeStatusUnknown',
  }
  assert.match(
    evaluatePreflight(notReady).problems.join(),
    /node worker1 \(127\.0\.10\.22\) is not Ready: NodeStatusUnknown/,
  )
  assert.match(
    evaluatePreflight(
      healthy({ etcd: [row('cp1', { leader: '0000000000000000' }), row('cp2'), row('cp3')] }),
    ).problems.join(),
    /cp1 .* knows no leader/,
  )
  const learner = healthy({
    members: [...cps.map((c) => ({ id: ids[c.name]!, hostname: c.name, learner: c.name === 'cp3' }))],
  })
  assert.match(evaluatePreflight(learner).problems.join(), /2 voting member\(s\)/)
})

// ---------------------------------------------------------------- target

test('target: the leader by default; --node picks a control plane; anything else is refused', () => {
  const pre = evaluatePreflight(healthy())
  assert.deepEqual(selectTarget(pre, cps), { name: 'cp2', address: '127.0.10.12', memberId: ids.cp2, wasLeader: true })
  assert.deepEqual(selectTarget(pre, cps, 'cp3'), {
    name: 'cp3',
    address: '127.0.10.13',
    memberId: ids.cp3,
    wasLeader: false,
  })
  assert.throws(() => selectTarget(pre, cps, 'worker1'), /--node worker1 is not a control-plane node .*cp1, cp2, cp3/)
  assert.throws(() => selectTarget({ ...pre, leader: undefined }, cps), /no etcd leader known/)
})

// ---------------------------------------------------------------- timeline

const leaderTarget: Target = { name: 'cp2', address: '127.0.10.12', memberId: ids.cp2!, wasLeader: true }
const remaining = [
  { ...cps[0]!, memberId: ids.cp1! },
  { ...cps[2]!, memberId: ids.cp3! },
]
const endpoints = ['127.0.10.11:6443', '127.0.10.13:6443', '127.0.10.10:6443']
const newTimeline = (target = leaderTarget) =>
  new FailoverTimeline({ target, remaining, initialLeader: { memberId: ids.cp2!, term: 4 }, apiEndpoints: endpoints })

const etcdOk = (node: string, startedAt: number, at: number, leader: string, term: number) => ({
  kind: 'etcd' as const,
  node,
  startedAt,
  at,
  ok: true as const,
  memberId: ids[node]!,
  leader,
  term,
})
const etcdFail = (node: string, startedAt: number, at: number) => ({
  kind: 'etcd' as const,
  node,
  startedAt,
  at,
  ok: false as const,
  error: 'connection refused',
})
const api = (endpoint: string, startedAt: number, at: number, ok: boolean) => ({
  kind: 'api' as const,
  endpoint,
  startedAt,
  at,
  ok,
  ...(ok ? {} : { error: 'etcdserver: leader changed' }),
})
const wl = (startedAt: number, at: number, disrupted: string[] = []) => ({
  kind: 'workloads' as const,
  startedAt,
  at,
  ok: true as const,
  disrupted,
})

test('timeline: leader killed → stale reports ignored, election seen, new leader, RTOs', () => {
  const tl = newTimeline()
  tl.observe(etcdFail('cp2', 10, 60))
  // followers still name the dead leader until their election timeout: not a recovery
  assert.deepEqual(tl.observe(etcdOk('cp1', 20, 300, ids.cp2!, 4)), [])
  assert.equal(tl.etcdRecovered, false)
  tl.observe(api('127.0.10.10:6443', 50, 400, false))
  const noLeader = tl.observe(etcdOk('cp3', 700, 1000, '0000000000000000', 5))
  assert.deepEqual(
    noLeader.map((e) => e.type),
    ['etcd-no-leader'],
  )
  const elected = tl.observe(etcdOk('cp1', 1050, 1250, ids.cp3!, 5))
  assert.deepEqual(
    elected.map((e) => e.type),
    ['etcd-new-leader'],
  )
  assert.equal(elected[0]!.uncertaintyMs, 200)
  // an older probe finishing late with the pre-election view must not undo the election
  assert.deepEqual(tl.observe(etcdOk('cp1', 900, 1300, ids.cp2!, 4)), [])
  assert.equal(tl.etcdRecovered, true)
  assert.equal(tl.settled, false)
  assert.deepEqual(
    tl.observe(etcdOk('cp3', 1200, 1350, ids.cp3!, 5)).map((e) => e.type),
    ['etcd-agreed'],
  )
  for (const ep of endpoints) tl.observe(api(ep, 1400, 1500, true))
  assert.equal(tl.settled, false, 'workloads must be looked at after recovery')
  tl.observe(wl(1500, 1600))
  assert.equal(tl.settled, true)

  const s = tl.summary()
  assert.equal(s.passed, true, s.problems.join('; '))
  assert.equal(s.targetUnreachableMs, 60)
  assert.equal(s.etcdRtoMs, 1250)
  assert.equal(s.etcdAgreedMs, 1350)
  assert.deepEqual(s.newLeader, { node: 'cp3', memberId: ids.cp3, term: 5, atMs: 1250, uncertaintyMs: 200 })
  assert.equal(s.apiRtoMs, 1500)
  assert.deepEqual(s.apiOutages, [{ endpoint: '127.0.10.10:6443', fromMs: 400, toMs: 1500 }])
  assert.equal(s.workloadsStayedUp, true)
  assert.equal(s.resolution.cp1!.observations, 2, 'the stale cp1 observation is not counted')
  assert.equal(s.resolution.cp1!.medianGapMs, 950)
  assert.ok(formatTimeline(tl.events, s).some((l) => /etcd RTO: 1250 ms \(new leader cp3, term 5/.test(l)))
})

test('timeline: leadership transferred without an observed gap still counts as a new leader', () => {
  const tl = newTimeline()
  const ev = tl.observe(etcdOk('cp3', 0, 150, ids.cp1!, 5))
  assert.deepEqual(
    ev.map((e) => e.type),
    ['etcd-new-leader'],
  )
  assert.equal(tl.summary().etcdRtoMs, 150)
})

test('timeline: a follower taken down → leader kept, etcd RTO 0, API never down → API RTO 0', () => {
  const target: Target = { name: 'cp3', address: '127.0.10.13', memberId: ids.cp3!, wasLeader: false }
  const tl = new FailoverTimeline({
    target,
    remaining: [
      { ...cps[0]!, memberId: ids.cp1! },
      { ...cps[1]!, memberId: ids.cp2! },
    ],
    initialLeader: { memberId: ids.cp2!, term: 4 },
    apiEndpoints: ['127.0.10.10:6443'],
  })
  assert.deepEqual(
    tl.observe(etcdOk('cp1', 0, 100, ids.cp2!, 4)),
    [],
    'before the target is seen down, nothing to conclude',
  )
  tl.observe(etcdFail('cp3', 50, 120))
  assert.deepEqual(
    tl.observe(etcdOk('cp1', 100, 200, ids.cp2!, 4)).map((e) => e.type),
    ['etcd-leader-kept'],
  )
  assert.deepEqual(
    tl.observe(etcdOk('cp2', 150, 220, ids.cp2!, 4)).map((e) => e.type),
    ['etcd-agreed'],
  )
  tl.observe(api('127.0.10.10:6443', 100, 180, true))
  tl.observe(wl(200, 300))
  const s = tl.summary()
  assert.equal(s.etcdRtoMs, 0)
  assert.equal(s.newLeader, undefined)
  assert.equal(s.apiRtoMs, 0)
  assert.equal(s.passed, true, s.problems.join('; '))
})

test('timeline: no election, API still down, pods disrupted → failed with each reason', () => {
  const tl = newTimeline()
  tl.observe(etcdFail('cp2', 0, 50))
  tl.observe(etcdOk('cp1', 0, 100, '0000000000000000', 5))
  tl.observe(api('127.0.10.11:6443', 0, 100, false))
  tl.observe(wl(0, 200, ['default/web-1 (Pending)']))
  tl.observe(wl(300, 500, []))
  const s = tl.summary()
  assert.equal(s.passed, false)
  const p = s.problems.join('\n')
  assert.match(p, /elected no new leader/)
  assert.match(p, /API not answering at 127\.0\.10\.11:6443, 127\.0\.10\.13:6443, 127\.0\.10\.10:6443/)
  assert.match(p, /disrupted: default\/web-1 \(Pending\)/)
  assert.equal(s.apiRtoMs, undefined)
  assert.deepEqual(
    tl.events.filter((e) => e.type.startsWith('workloads')).map((e) => e.type),
    ['workloads-disrupted', 'workloads-ok'],
  )
})

test('timeline: a target that never stops answering fails the drill', () => {
  const tl = newTimeline()
  tl.observe(etcdOk('cp2', 0, 100, ids.cp2!, 4))
  assert.match(tl.summary().problems.join(), /cp2 never stopped answering/)
})

// ---------------------------------------------------------------- workloads

test('workloads: baseline excludes the target node; gone, recreated, not ready are disrupted', () => {
  const pod = (name: string, node: string, over: Record<string, unknown> = {}) => ({
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { nodeName: node },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    ...over,
  })
  const before = [
    pod('a', 'worker1'),
    pod('b', 'cp2'),
    pod('c', 'cp1'),
    pod('d', 'validator1'),
    pod('e', 'worker1', { status: { phase: 'Pending' } }),
  ]
  const base = workloadBaseline(before, 'cp2')
  assert.deepEqual([...base.keys()].sort(), ['default/a', 'default/c', 'default/d'])
  assert.deepEqual(disruptedPods(base, before), [])
  const after = [
    pod('a', 'worker1', { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] } }),
    { ...pod('c', 'cp1'), metadata: { name: 'c', namespace: 'default', uid: 'new' } },
  ]
  assert.deepEqual(disruptedPods(base, after), [
    'default/a (Running, not ready)',
    'default/c (recreated)',
    'default/d (gone)',
  ])
})

// ---------------------------------------------------------------- poller (fake probes, no processes)

test('watchFailover: overlapping probes feed the timeline until it settles', async () => {
  const tl = newTimeline()
  let calls = 0
  let maxConcurrent = 0
  let running = 0
  const probes: FailoverProbes = {
    async etcd(n) {
      calls++
      running++
      maxConcurrent = Math.max(maxConcurrent, running)
      const n0 = calls
      await new Promise((r) => setTimeout(r, 30))
      running--
      if (n.name === 'cp2') throw new Error('connection refused')
      // the first few answers still name the dead leader, later ones the new one
      return n0 < 8
        ? { memberId: ids[n.name]!, leader: ids.cp2!, term: 4 }
        : { memberId: ids[n.name]!, leader: ids.cp1!, term: 5 }
    },
    async api() {
      await new Promise((r) => setTimeout(r, 5))
    },
    async workloads() {
      return []
    },
  }
  const seen: string[] = []
  const r = await watchFailover(tl, probes, {
    etcdNodes: cps,
    apiEndpoints: endpoints,
    t0: performance.now(),
    intervalMs: 5,
    maxInFlight: 3,
    workloadIntervalMs: 20,
    timeoutMs: 10_000,
    lingerMs: 50,
    onEvent: (e) => seen.push(e.type),
  })
  assert.equal(r.settled, true)
  assert.equal(r.timedOut, false)
  assert.ok(maxConcurrent > 1, 'probes of one node overlap')
  assert.ok(
    seen.includes('target-unreachable') && seen.includes('etcd-new-leader') && seen.includes('etcd-agreed'),
    seen.join(','),
  )
  assert.equal(tl.summary().newLeader?.node, 'cp1')
})

test('watchFailover: gives up at the timeout with the reason in the summary', async () => {
  const tl = newTimeline()
  const probes: FailoverProbes = {
    async etcd(n) {
      if (n.name === 'cp2') throw new Error('connection refused')
      return { memberId: ids[n.name]!, leader: '0', term: 5 }
    },
    async api() {},
    async workloads() {
      return []
    },
  }
  const r = await watchFailover(tl, probes, {
    etcdNodes: cps,
    apiEndpoints: endpoints,
    t0: performance.now(),
    intervalMs: 5,
    timeoutMs: 200,
  })
  assert.equal(r.timedOut, true)
  assert.equal(r.settled, false)
  assert.match(tl.summary().problems.join(), /elected no new leader/)
})
