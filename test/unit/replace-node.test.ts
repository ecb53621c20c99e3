// 12-replace-node's judgements, pure: quorum without the dead member, and what is still wrong with etcd's members.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assertQuorumWithout } from '../../steps/12-replace-node/assess.ts'
import { membershipProblems } from '../../steps/12-replace-node/steps.ts'
import { RefusedError } from '../../lib/runner/types.ts'
import type { EtcdView } from '../../steps/etcd-view.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import type { EtcdMemberRow } from '../../lib/talos/parse.ts'

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
