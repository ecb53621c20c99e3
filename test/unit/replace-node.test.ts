// 12-replace-node's judgements, pure: quorum without the dead member, and what is still wrong with etcd's members.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assertQuorumWithout, deadMachineMembers, isPeerUrlOf } from '../../steps/12-replace-node/assess.ts'
import { membershipProblems, removeDeadMembers, waitPromoted } from '../../steps/12-replace-node/steps.ts'
import type { Cluster } from '../../config/cluster.ts'
import type { StepHandle } from '../../lib/runner/types.ts'
import { RefusedError } from '../../lib/runner/types.ts'
import type { EtcdView } from '../../steps/etcd-view.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { parseEtcdMembers, type EtcdMemberRow } from '../../lib/talos/parse.ts'

const cp = (i: number) => ({ name: `cp${i}`, address: `10.0.0.1${i}`, role: 'controlplane' }) as InventoryNode
const cps = [cp(1), cp(2), cp(3)]
const running = { state: 'Running', health: 'OK' } as unknown as EtcdView['service'][string]
const view = (v: Partial<EtcdView>): EtcdView => ({ service: {}, unreachable: {}, maintenance: {}, members: [], ...v })

test('quorum without cp2: cp1 and cp3 running is 2 of 2, fine; the members to act through are returned', () => {
  const v = view({ service: { cp1: running, cp3: running }, maintenance: { cp2: 'in maintenance mode' } })
  assert.deepEqual(
    assertQuorumWithout(cp(2), cps, v, 'inv.yaml').map((n) => n.name),
    ['cp1', 'cp3'],
  )
})

test('quorum without cp2 while cp3 is down: refused (exit 3), names cp3 and 11-etcd-recover', () => {
  const v = view({ service: { cp1: running }, unreachable: { cp3: 'connection refused' } })
  assert.throws(
    () => assertQuorumWithout(cp(2), cps, v, 'inv.yaml'),
    (e: Error) =>
      e instanceof RefusedError &&
      /only 1 of the 2 other members run etcd \(2 needed\); cp3: 10\.0\.0\.13 does not answer \(connection refused\)/.test(
        e.message,
      ) &&
      /npx zx runbooks\/11-etcd-recover\.ts --inventory inv\.yaml\. Nothing was changed\./.test(e.message),
  )
})

const m = (hostname: string, learner = false, id = hostname.replace('cp', 'a')): EtcdMemberRow => ({
  id,
  hostname,
  peerUrls: [],
  clientUrls: [],
  learner,
})

test('membership: every control plane once, voting, nobody else; each deviation named', () => {
  const names = ['cp1', 'cp2', 'cp3']
  assert.deepEqual(membershipProblems(names, [m('cp1'), m('cp2'), m('cp3')]), [])
  assert.deepEqual(membershipProblems(names, [m('cp1'), m('cp3')]), ['cp2 is no member yet'])
  assert.deepEqual(membershipProblems(names, [m('cp1'), m('cp2', true), m('cp3')]), ['cp2 is still a learner'])
  assert.deepEqual(membershipProblems(names, [m('cp1'), m('cp2'), m('cp2', false, 'b2'), m('cp3')]), [
    '2 members are named cp2 (hostnames must be unique)',
  ])
  assert.deepEqual(membershipProblems(names, [m('cp1'), m('cp2'), m('cp3'), m('', true, 'ff')]), [
    'ff is still a learner',
    'member (not started) ff is no inventory control plane',
  ])
})

// Talos joins a node by removing only a member named like it, then MemberAddAsLearner with https://<address>:2380
// (v1.10.3 services/etcd.go addMember, formatEtcdURL); a learner added but never started has no name, and its peer URL
// makes every later add fail ("etcdserver: Peer URLs already exists"): 12 must remove it as the dead machine's.
const peer = (addr: string, scheme = 'https') => `${scheme}://${addr}:2380`
const row = (hostname: string, id: string, peerUrls: string[], learner = false): EtcdMemberRow => ({
  id,
  hostname,
  peerUrls,
  clientUrls: [],
  learner,
})

test("dead members: the one named like the node, and an unnamed member with the node's peer URL", () => {
  const members = [
    row('cp1', 'a1', [peer('10.0.0.11')]),
    row('cp2', 'a2', [peer('10.0.0.12')]),
    row('cp3', 'a3', [peer('10.0.0.13')]),
    row('', 'ff', [peer('10.0.0.12')], true),
  ]
  assert.deepEqual(
    deadMachineMembers(cp(2), members).map((x) => x.id),
    ['a2', 'ff'],
  )
  // only the unnamed leftover (the named member was removed by an earlier run)
  assert.deepEqual(
    deadMachineMembers(cp(2), [members[0]!, members[2]!, members[3]!]).map((x) => x.id),
    ['ff'],
  )
  // the lab's etcd speaks plain http on the same address and port
  assert.deepEqual(
    deadMachineMembers(cp(2), [row('', 'ee', [peer('10.0.0.12', 'http')], true)]).map((x) => x.id),
    ['ee'],
  )
})

test('dead members: an unnamed member with another peer URL, or a named one of another node, is not removed', () => {
  const members = [
    row('cp1', 'a1', [peer('10.0.0.11')]),
    row('cp3', 'a3', [peer('10.0.0.13')]),
    row('', 'f9', [peer('10.0.0.19')], true), // another machine joining
    row('', 'f8', ['https://10.0.0.12:2381'], true), // not etcd's peer port
    row('', 'f7', ['https://10.0.0.120:2380'], true), // a longer address with the node's as its prefix
  ]
  assert.deepEqual(deadMachineMembers(cp(2), members), [])
  assert.equal(isPeerUrlOf('https://[fd00::12]:2380', 'fd00::12'), true)
  assert.equal(isPeerUrlOf('not a url', '10.0.0.12'), false)
})

/** A Cluster whose talosctl answers etcd members / remove-member / status from `state`, recording who was asked. */
function fakeCluster(state: { members: EtcdMemberRow[]; learnerRefuses?: string; asked: string[]; removed: string[] }) {
  return {
    inv: { nodes: cps },
    talos: {
      async etcdMembers(addr: string) {
        state.asked.push(addr)
        // the joining node's own etcd, while a learner: MemberList is refused (etcd v3rpc/interceptor.go)
        if (addr === state.learnerRefuses)
          throw new Error('rpc error: code = Unavailable desc = etcdserver: rpc not supported for learner')
        return state.members
      },
      async etcdRemoveMember(_via: string, id: string) {
        state.removed.push(id)
        state.members = state.members.filter((x) => x.id !== id)
      },
      async etcdStatus(addrs: string[]) {
        return addrs.map((a) => ({ node: a, learner: false, errors: '' }))
      },
    },
  } as unknown as Cluster
}

test('remove-member removes the unnamed leftover learner through the healthy member and reads the list back', async () => {
  const state = {
    members: [
      row('cp1', 'a1', [peer('10.0.0.11')]),
      row('cp3', 'a3', [peer('10.0.0.13')]),
      row('', 'ff', [peer('10.0.0.12')], true),
    ],
    asked: [] as string[],
    removed: [] as string[],
  }
  const c = fakeCluster(state)
  const dead = deadMachineMembers(cp(2), state.members)
  assert.deepEqual(await removeDeadMembers(c, cp(1), dead, false), ['ff'])
  assert.deepEqual(state.removed, ['ff'])
  assert.deepEqual(state.asked, ['10.0.0.11'])
})

test('etcd-join asks a voting member (via) for the member list, never the joining learner, and sees the learner', async () => {
  const progress: string[] = []
  const step = { progress: (t: string) => progress.push(t) } as unknown as StepHandle
  const state = {
    members: [
      row('cp1', 'a1', [peer('10.0.0.11')]),
      row('cp2', 'b2', [peer('10.0.0.12')], true),
      row('cp3', 'a3', [peer('10.0.0.13')]),
    ],
    learnerRefuses: '10.0.0.12',
    asked: [] as string[],
    removed: [] as string[],
  }
  const c = fakeCluster(state)
  // promoted once the wait has seen the learner (a timer alone could fire before the first ask on a loaded host)
  const promote = setInterval(() => {
    if (state.asked.length === 0) return
    state.members = state.members.map((x) => ({ ...x, learner: false }))
    clearInterval(promote)
  }, 50)
  const members = await waitPromoted(c, cp(2), step, cp(3), 10_000)
  assert.deepEqual(
    members.map((x) => x.hostname),
    ['cp1', 'cp2', 'cp3'],
  )
  assert.ok(state.asked.length >= 2 && state.asked.every((a) => a === '10.0.0.13'), state.asked.join(','))
  assert.match(progress[0]!, /cp2 is still a learner \(seen as a learner\)/)
})

test('etcd-join without a known via asks the other control planes in turn, never the joining node', async () => {
  const step = { progress: () => {} } as unknown as StepHandle
  const state = {
    members: [
      row('cp1', 'a1', [peer('10.0.0.11')]),
      row('cp2', 'b2', [peer('10.0.0.12')]),
      row('cp3', 'a3', [peer('10.0.0.13')]),
    ],
    learnerRefuses: '10.0.0.11', // say cp1 does not answer: cp3 is asked next
    asked: [] as string[],
    removed: [] as string[],
  }
  await waitPromoted(fakeCluster(state), cp(2), step, undefined, 5_000)
  assert.deepEqual(state.asked, ['10.0.0.11', '10.0.0.13'])
})

test("talosctl etcd members' row of a learner that never started (no name, no client URL) is cp2's leftover", () => {
  const out = [
    'NODE        ID                 HOSTNAME   PEER URLS                CLIENT URLS              LEARNER',
    '10.0.0.11   3a1b2c3d4e5f6a7b   cp1        https://10.0.0.11:2380   https://10.0.0.11:2379   false',
    '10.0.0.11   6c5b4a3921a0b1c2   cp3        https://10.0.0.13:2380   https://10.0.0.13:2379   false',
    '10.0.0.11   9f8e7d6c5b4a3921              https://10.0.0.12:2380                            true',
  ].join('\n')
  assert.deepEqual(
    deadMachineMembers(cp(2), parseEtcdMembers(out)).map((x) => x.id),
    ['9f8e7d6c5b4a3921'],
  )
})
