// 11-etcd-recover's judgements: when a restore is allowed at all, which control planes get their etcd data wiped,
// what the confirmation says is lost, and the RPO/RTO lines.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  etcdDataDir,
  formatRecovery,
  judgeRecovery,
  lossSummary,
  type NodeEtcd,
} from '../../steps/11-etcd-recover/judge.ts'

const cp = (i: number, o: Partial<NodeEtcd>): NodeEtcd => ({ name: `cp${i}`, address: `10.0.0.1${i}`, ...o })
const status = (leader: string, errors = '') => ({ memberId: 'a1', leader, learner: false, errors, raftIndex: 42 })

test('a member that knows a leader means quorum: refused, nothing to wipe', () => {
  const v = judgeRecovery([
    cp(1, { state: 'Running', status: status('a1') }),
    cp(2, { state: 'Waiting' }),
    cp(3, { state: 'Waiting' }),
  ])
  assert.match(v.refusal!, /^etcd has quorum \(cp1 follows leader a1\): there is nothing to recover/)
  assert.match(v.refusal!, /Nothing was changed\.$/)
  assert.deepEqual(v.needWipe, [])
})

test('a control plane that does not answer, or in maintenance mode: refused, naming it', () => {
  const v = judgeRecovery([
    cp(1, { state: 'Waiting' }),
    cp(2, { unreachable: 'connection refused' }),
    cp(3, { maintenance: true }),
  ])
  assert.match(v.refusal!, /cp2: 10\.0\.0\.12 does not answer \(connection refused\); cp3: in maintenance mode/)
  assert.match(v.refusal!, /Bring cp2, cp3 back/)
})

test('quorum lost for good: every member with a data dir is wiped, those in Preparing are not', () => {
  const v = judgeRecovery([
    cp(1, { state: 'Waiting', lastEvent: 'going to restart forever' }),
    cp(2, { state: 'Preparing' }),
    cp(3, { state: 'Running', status: status('0') }),
  ])
  assert.equal(v.refusal, undefined)
  assert.deepEqual(v.needWipe, ['cp1', 'cp3'])
  assert.deepEqual(v.waiting, ['cp2'])
  assert.deepEqual(v.gaveUp, [])
  assert.deepEqual(v.survivors, ['cp3'])
})

test('the loss summary names the snapshot time, a survivor that may be newer, and a stopped member', () => {
  const nodes = [
    cp(1, { state: 'Finished' }),
    cp(2, { state: 'Waiting' }),
    cp(3, { state: 'Running', status: status('0') }),
  ]
  const lines = lossSummary({
    file: '/b/etcd-cp1.db',
    takenAt: new Date('2026-01-01T00:00:00Z'),
    revision: 1234,
    totalKeys: 99,
    now: new Date('2026-01-01T00:05:00Z'),
    verdict: judgeRecovery(nodes),
    nodes,
  })
  assert.match(lines[1]!, /2026-01-01T00:00:00\.000Z \(5m ago\), revision 1234, 99 keys/)
  assert.match(lines[2]!, /everything written to etcd after 2026-01-01T00:00:00\.000Z/)
  assert.match(lines[3]!, /cp3 \(etcd runs without quorum, raft index 42\).*--snapshot FILE/)
  assert.match(lines[4]!, /etcd on cp1 is stopped, not crashed/)
})

test('RPO is the snapshot age at the restore; RTO runs from the start to the API answering', () => {
  const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s))
  const lines = formatRecovery({
    snapshotFile: 'etcd-cp1.db',
    takenAt: t(0),
    revision: 7,
    recoveredAt: t(40),
    startedAt: t(20),
    apiAt: t(50),
    healthyAt: t(80),
  })
  assert.match(lines[0]!, /^RPO {2}40 s \(40\.0 s\): the cluster is back at 2026-01-01T00:00:00\.000Z, revision 7/)
  assert.match(lines[1]!, /^RTO {2}30\.0 s from this run's start to the Kubernetes API answering/)
  assert.match(lines[2]!, /60\.0 s until every etcd member voted/)
})

test("etcd that gave up waiting to join (Failed after Talos's join timeout) has an empty data dir: not wiped, restorable", () => {
  const gaveUp =
    'Failed to run pre stage: failed to build initial etcd cluster: failed to build cluster arguments: 1 error(s) occurred:\n\ttimeout'
  assert.equal(etcdDataDir('Failed', gaveUp), 'gave-up')
  assert.equal(etcdDataDir('Preparing', 'Running pre state'), 'waiting')
  // Preparing is also a node with data in etcd's pre stage (image pull, PKI wait): `talosctl ls /var/lib/etcd` tells
  assert.equal(etcdDataDir('Preparing', 'Running pre state', []), 'waiting')
  assert.equal(etcdDataDir('Preparing', 'Running pre state', ['member']), 'has-data')
  assert.deepEqual(
    judgeRecovery([cp(1, { state: 'Preparing', dataDir: ['member'] }), cp(2, { state: 'Preparing', dataDir: [] })])
      .needWipe,
    ['cp1'],
  )
  // a failed restore wrote into the data dir before it failed (etcdutl): it must be wiped again
  assert.equal(
    etcdDataDir(
      'Failed',
      'Failed to run pre stage: error recovering from the snapshot: expected sha256 [1 2], got [3 4]',
    ),
    'has-data',
  )
  assert.equal(etcdDataDir('Failed', undefined), 'has-data')
  assert.equal(etcdDataDir('Waiting', 'going to restart forever'), 'has-data')
  assert.equal(etcdDataDir(undefined, undefined), 'has-data')
  const v = judgeRecovery([
    cp(1, { state: 'Failed', lastEvent: gaveUp }),
    cp(2, { state: 'Preparing' }),
    cp(3, {
      state: 'Failed',
      lastEvent: 'Failed to run pre stage: error recovering from the snapshot: snapshot missing hash',
    }),
  ])
  assert.equal(v.refusal, undefined)
  assert.deepEqual(v.waiting, ['cp1', 'cp2'])
  assert.deepEqual(v.gaveUp, ['cp1'])
  assert.deepEqual(v.needWipe, ['cp3'])
})
