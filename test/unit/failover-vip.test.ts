// 08-failover and the VIP (issue 13 item 4): the VIP endpoint is probed with overlapping calls, and the report says
// what the VIP did during the drill and what an abrupt loss of its holder would cost (Talos' 60 s election lease).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FailoverTimeline, VIP_ELECTION_LEASE_S, formatTimeline, vipLines } from '../../steps/08-failover/judge.ts'
import { watchFailover, type FailoverProbes } from '../../steps/08-failover/watch.ts'

const cps = [
  { name: 'cp1', address: '127.0.10.11', memberId: '1' },
  { name: 'cp2', address: '127.0.10.12', memberId: '2' },
]
const VIP = '127.0.10.10:6443'
const endpoints = ['127.0.10.12:6443', VIP]
const timeline = () =>
  new FailoverTimeline({
    target: { name: 'cp1', address: '127.0.10.11', memberId: '1', wasLeader: false },
    remaining: [cps[1]!],
    initialLeader: { memberId: '2', term: 3 },
    apiEndpoints: endpoints,
  })

test('the VIP is probed with overlapping calls, every other endpoint one at a time', async () => {
  const running = new Map<string, number>()
  const most = new Map<string, number>()
  const probes: FailoverProbes = {
    async etcd(n) {
      if (n.name === 'cp1') throw new Error('connection refused')
      return { memberId: '2', leader: '2', term: 3 }
    },
    async api(ep) {
      running.set(ep, (running.get(ep) ?? 0) + 1)
      most.set(ep, Math.max(most.get(ep) ?? 0, running.get(ep)!))
      await new Promise((r) => setTimeout(r, 40))
      running.set(ep, running.get(ep)! - 1)
    },
    async workloads() {
      return []
    },
  }
  await watchFailover(timeline(), probes, {
    etcdNodes: cps,
    apiEndpoints: endpoints,
    vipEndpoint: VIP,
    t0: performance.now(),
    intervalMs: 5,
    maxInFlight: 3,
    vipInFlight: 3,
    timeoutMs: 400,
    lingerMs: 300,
  })
  assert.equal(most.get('127.0.10.12:6443'), 1)
  assert.equal(most.get(VIP), 3)
})

test('the report says how long the VIP was dark and what an abrupt loss of its holder would cost', () => {
  assert.equal(VIP_ELECTION_LEASE_S, 60)
  const tl = timeline()
  for (const [at, ok] of [
    [100, true],
    [2100, false],
    [2350, true],
  ] as const)
    tl.observe(
      ok
        ? { kind: 'api', endpoint: VIP, startedAt: at - 50, at, ok }
        : { kind: 'api', endpoint: VIP, startedAt: at - 50, at, ok, error: 'connection refused' },
    )
  const s = tl.summary()
  const lines = vipLines(s, VIP)
  assert.match(lines[0]!, /VIP 127\.0\.10\.10:6443: dark 2100–2350 ms \(250 ms\): its holder resigned the election/)
  assert.match(lines[1]!, /abrupt loss of the VIP holder .* 40–60 s, more if it also led etcd .*TTL 60 s/)
  assert.ok(formatTimeline(tl.events, s, VIP).includes(lines[0]!))
  assert.match(vipLines(timeline().summary(), VIP)[0]!, /answered throughout/)
  // no VIP in the inventory: nothing to say
  assert.deepEqual(vipLines(s, undefined), [])
  assert.ok(!formatTimeline(tl.events, s).some((l) => /VIP/.test(l)))
})

test('the VIP is probed every 25 ms by default while the other endpoints keep the 100 ms interval', async () => {
  const started = new Map<string, number>()
  const probes: FailoverProbes = {
    async etcd() {
      return { memberId: '2', leader: '2', term: 3 }
    },
    async api(ep) {
      started.set(ep, (started.get(ep) ?? 0) + 1)
    },
    async workloads() {
      return []
    },
  }
  await watchFailover(timeline(), probes, {
    etcdNodes: [cps[1]!],
    apiEndpoints: endpoints,
    vipEndpoint: VIP,
    t0: performance.now(),
    timeoutMs: 1000,
    lingerMs: 1000,
  })
  const vip = started.get(VIP)!
  const node = started.get('127.0.10.12:6443')!
  // 1 s: ~10 probes of the node, ~40 of the VIP (timers on a loaded machine may stretch both)
  assert.ok(node >= 5 && node <= 11, `node endpoint probed ${node} times`)
  assert.ok(vip >= 2.5 * node, `VIP probed ${vip} times, the node endpoint ${node}`)
})
