// When may a runbook touch a bootstrapped cluster: judgeQuorum from what each control-plane node says about etcd.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { judgeQuorum } from '../../steps/quorum.ts'
import type { EtcdView } from '../../steps/etcd-view.ts'
import type { ServiceStatus } from '../../lib/talos/parse.ts'

const cps = [1, 2, 3].map((i) => ({ name: `cp${i}`, address: `10.0.0.1${i}` }))
const svc = (state: string, health = 'OK'): ServiceStatus => ({
  id: 'etcd',
  state,
  health,
  healthy: health === 'OK' ? true : health === 'Fail' ? false : undefined,
})
const view = (o: Partial<EtcdView>): EtcdView => ({ service: {}, unreachable: {}, members: [], ...o })

test('all three members up: ok, nothing down', () => {
  const v = judgeQuorum(cps, view({ service: { cp1: svc('Running'), cp2: svc('Running'), cp3: svc('Running') } }))
  assert.equal(v.ok, true)
  assert.deepEqual(v.alive, ['cp1', 'cp2', 'cp3'])
  assert.match(v.message, /all 3 members up/)
})

test('one of three down: quorum holds, the message names the missing node and why', () => {
  const v = judgeQuorum(
    cps,
    view({
      service: { cp1: svc('Running'), cp2: svc('Running') },
      unreachable: { cp3: 'rpc error: connection refused\nmore' },
    }),
  )
  assert.equal(v.ok, true)
  assert.deepEqual(Object.keys(v.down), ['cp3'])
  assert.match(
    v.message,
    /keeps quorum with 2 of 3 members \(cp1, cp2\); down: cp3: 10\.0\.0\.13 does not answer \(rpc error: connection refused\)/,
  )
})

test('two of three down (one unreachable, one crashed): quorum lost, refuse with what to do', () => {
  const v = judgeQuorum(
    cps,
    view({
      service: { cp1: svc('Running', 'Fail'), cp2: svc('Finished', '?') },
      unreachable: { cp3: 'connection refused' },
    }),
  )
  assert.equal(v.ok, false)
  assert.equal(v.needed, 2)
  assert.deepEqual(v.alive, ['cp1'])
  assert.match(v.message, /lost quorum: only 1 of 3 control-plane members can run \(2 needed\)/)
  assert.match(v.message, /cp2: etcd is Finished/)
  assert.match(v.message, /until 1 more is back/)
  assert.match(v.message, /Nothing was changed/)
})

test('before bootstrap every member is Preparing (or in maintenance mode): nothing to lose, ok', () => {
  const v = judgeQuorum(
    cps,
    view({
      service: { cp1: svc('Preparing', '?'), cp2: svc('Preparing', '?') },
      maintenance: { cp3: 'in maintenance mode' },
    }),
  )
  assert.equal(v.ok, true)
  assert.equal(v.bootstrapped, false)
  assert.match(
    v.message,
    /not bootstrapped yet: no quorum to lose \(cp1: etcd Preparing, cp2: etcd Preparing, cp3: maintenance mode\)/,
  )
})

test('no member Running and one silent: cannot tell, refuse naming it (it may run etcd)', () => {
  const v = judgeQuorum(
    cps,
    view({
      service: { cp1: svc('Preparing', '?'), cp2: svc('Preparing', '?') },
      unreachable: { cp3: 'connection refused' },
    }),
  )
  assert.equal(v.ok, false)
  assert.match(
    v.message,
    /cannot tell whether etcd was bootstrapped: cp1: etcd Preparing, cp2: etcd Preparing, but cp3: 10\.0\.0\.13 does not answer \(connection refused\)/,
  )
  assert.match(v.message, /Nothing was changed/)
})

test('no control plane answers at all: no evidence, refuse naming every one', () => {
  const v = judgeQuorum(
    cps,
    view({ unreachable: { cp1: 'no route to host', cp2: 'no route to host', cp3: 'timed out' } }),
  )
  assert.equal(v.ok, false)
  assert.match(v.message, /^no control-plane node answers/)
  for (const n of ['cp1', 'cp2', 'cp3']) assert.match(v.message, new RegExp(`${n}: 10\\.0\\.0\\.1\\d does not answer`))
})

test('a bootstrapped cluster whose members all stopped answering has lost quorum (members listed earlier count)', () => {
  const v = judgeQuorum(
    cps,
    view({
      unreachable: { cp1: 'x', cp2: 'y', cp3: 'z' },
      members: [{ id: 'a', hostname: 'cp1', peerUrls: [], clientUrls: [], learner: false } as never],
    }),
  )
  assert.equal(v.ok, false)
  assert.match(v.message, /only 0 of 3/)
  assert.match(v.message, /until 2 more are back/)
})

test('five control planes need three', () => {
  const five = [1, 2, 3, 4, 5].map((i) => ({ name: `cp${i}`, address: `10.0.0.1${i}` }))
  const running = Object.fromEntries(['cp1', 'cp2', 'cp3'].map((n) => [n, svc('Running')]))
  assert.equal(judgeQuorum(five, view({ service: running, unreachable: { cp4: 'x', cp5: 'y' } })).ok, true)
  assert.equal(
    judgeQuorum(
      five,
      view({ service: { cp1: svc('Running'), cp2: svc('Running') }, unreachable: { cp3: 'w', cp4: 'x', cp5: 'y' } }),
    ).ok,
    false,
  )
})

test('i16r: members crash-looping (Waiting, "going to restart forever") cannot vote: quorum lost, 11-etcd-recover named', () => {
  const looping: ServiceStatus = {
    ...svc('Waiting', '?'),
    events: [
      {
        state: 'Waiting',
        message: 'Error running Containerd(etcd), going to restart forever: task "etcd" failed: exit code 1',
        ago: '1s',
        agoMs: 1000,
      },
    ],
  }
  const v = judgeQuorum(cps, view({ service: { cp1: svc('Running', 'Fail'), cp2: looping, cp3: looping } }))
  assert.equal(v.ok, false)
  assert.deepEqual(Object.keys(v.down), ['cp2', 'cp3'])
  assert.match(v.down.cp2!, /crash-looping \(Error running Containerd\(etcd\), going to restart forever/)
  assert.match(v.message, /restore the newest snapshot with npx zx runbooks\/11-etcd-recover\.ts/)
  // a member waiting for its dependencies is not crash-looping
  const waiting = {
    ...svc('Waiting', '?'),
    events: [{ state: 'Waiting', message: 'Waiting for service "cri" to be "up"', ago: '1s', agoMs: 1000 }],
  }
  assert.equal(judgeQuorum(cps, view({ service: { cp1: svc('Running'), cp2: waiting, cp3: svc('Running') } })).ok, true)
})
