// A learner added for a machine that never started blocks that machine's join, in the lab as on Talos (127.0.151.x,
// three control planes, real etcd, the real talosctl). Talos's join (v1.10.3 services/etcd.go addMember) removes only
// a member named like the node, then adds its peer URL as a learner; a learner that was added but never started has
// no name, so every add fails with etcd's "Peer URLs already exists" until someone removes it. 12-replace-node finds
// it by its peer URL (steps/12-replace-node/assess.ts deadMachineMembers) and removes it through a healthy member;
// then the join goes through at the next attempt. Also: `etcd members` on a member without a leader fails as Talos's
// does (require-leader), and its etcd service's health check fails. ~90 s.
import { NODE, TSX } from '../bin.ts'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { labBinary } from '../../lab/tools.ts'
import { REPO_ROOT } from '../../lab/state.ts'
import { parseEtcdMembers, parseService, type ServiceStatus } from '../../lib/talos/parse.ts'
import { deadMachineMembers } from '../../steps/12-replace-node/assess.ts'
import type { InventoryNode } from '../../config/inventory.ts'

const P = '127.0.151'
const CP2 = { name: 'cp2', address: `${P}.12`, role: 'controlplane' } as InventoryNode
let lab: TestLab

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const labCli = (...args: string[]) =>
  spawnSync(NODE, [...TSX, 'lab/cli.ts', ...args], { cwd: REPO_ROOT, env: lab.env, encoding: 'utf8' })
/** etcdctl at cp1 with the admin certificate of its etcd (as machined's client). */
const etcdctl = (...args: string[]) => {
  const pki = (f: string) => join(lab.dir, 'nodes', 'cp1', 'etcd-pki', f)
  const tls = [`--cacert=${pki('ca.crt')}`, `--cert=${pki('admin.crt')}`, `--key=${pki('admin.key')}`]
  return spawnSync(labBinary('etcdctl', '/usr/bin/etcdctl'), [`--endpoints=https://${P}.11:2379`, ...tls, ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    encoding: 'utf8',
  })
}

/**
 * etcdctl, again while etcd answers "unhealthy cluster": with --strict-reconfig-check (etcd's default) a member add,
 * even of a learner, waits until the member has been connected to every voting peer for 5 s (etcd v3.5
 * server/etcdserver/server.go mayAddMember, HealthInterval), which a member removal just before can break. Talos's
 * join retries it the same way (services/etcd.go addMember, every 3 s).
 */
async function addRefusedWhileUnhealthy(...args: string[]) {
  let r = etcdctl(...args)
  for (let i = 0; i < 30 && r.status !== 0 && /unhealthy cluster/.test(r.stderr); i++) {
    await sleep(1000)
    r = etcdctl(...args)
  }
  return r
}

/** `talosctl etcd members` as cp1 sees them, parsed by the product's parser. */
async function members() {
  const m = await lab.run(['-n', `${P}.11`, 'etcd', 'members'])
  assert.equal(m.code, 0, m.stderr)
  return parseEtcdMembers(m.stdout)
}
const voters = async () =>
  (await lab.run(['-n', `${P}.11`, 'etcd', 'members'])).code === 0
    ? (await members())
        .filter((m) => !m.learner)
        .map((m) => m.hostname)
        .sort()
        .join()
    : ''
const etcdState = (addr: string) => lab.serviceState(addr, 'etcd')

describe('lab: an unnamed leftover learner blocks a join until it is removed', { timeout: 240_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 3, workers: 0 })
    for (const n of lab.nodes) await lab.install(n.name, lab.renderConfig(n.role))
    const b = await lab.run(['-n', `${P}.11`, 'bootstrap'])
    assert.equal(b.code, 0, b.stderr)
    await lab.until('three voting members', async () => (await voters()) === 'cp1,cp2,cp3', 60_000)
  })
  after(async () => {
    await lab?.cleanup()
  })

  let leftover = ''

  it("cp2 dies after Talos's join removed its member and added a learner: the learner has no name", async () => {
    assert.equal(labCli('fault', 'cp2', 'disk-loss').status, 0)
    assert.equal(labCli('heal', 'cp2').status, 0) // boots blank: maintenance mode
    // what addMember (etcd.go:283-298) leaves when the machine dies right after MemberAddAsLearner
    const id = (await members()).find((m) => m.hostname === 'cp2')!.id
    const rm = etcdctl('member', 'remove', id)
    assert.equal(rm.status, 0, rm.stderr)
    const add = await addRefusedWhileUnhealthy('member', 'add', 'cp2', `--peer-urls=https://${P}.12:2380`, '--learner')
    assert.equal(add.status, 0, add.stderr)
    const ms = await members()
    const unnamed = ms.filter((m) => m.hostname === '')
    assert.equal(unnamed.length, 1, JSON.stringify(ms))
    assert.equal(unnamed[0]!.learner, true)
    // 12's assess counts it as the dead machine's (by its peer URL), and nothing else
    assert.deepEqual(
      deadMachineMembers(CP2, ms).map((m) => m.id),
      [unnamed[0]!.id],
    )
    leftover = unnamed[0]!.id
  })

  it('the new cp2\'s join fails with etcd\'s "Peer URLs already exists" and retries; etcd waits in Preparing', async () => {
    assert.ok(leftover, 'the leftover learner of the case above')
    await lab.install('cp2', lab.renderConfig('controlplane'))
    const log = join(lab.dir, 'machine-api.log')
    await lab.until(
      'the join to be refused',
      () => /cp2: etcd join: .*etcdserver: Peer URLs already exists/.test(readFileSync(log, 'utf8')),
      30_000,
    )
    await sleep(7000) // two more of Talos's 3 s attempts
    assert.equal(await etcdState(`${P}.12`), 'Preparing', lab.explain('cp2'))
    const ms = await members()
    assert.deepEqual(
      ms.map((m) => m.hostname || m.id).sort(),
      ['cp1', 'cp3', leftover].sort(),
      'the leftover is neither reused nor removed by the join',
    )
  })

  it('12 removes the leftover through a healthy member (talosctl etcd remove-member): cp2 joins and is promoted', async () => {
    const rm = await lab.run(['-n', `${P}.11`, 'etcd', 'remove-member', leftover])
    assert.equal(rm.code, 0, rm.stderr)
    await lab.until('cp2 voting', async () => (await voters()) === 'cp1,cp2,cp3', 30_000)
    await lab.until('cp2 etcd Running', async () => (await etcdState(`${P}.12`)) === 'Running', 30_000)
    assert.ok(!(await members()).some((m) => m.id === leftover))
  })

  it('etcd members on a member without a leader fails with "etcdserver: no leader" (require-leader)', async () => {
    assert.equal(labCli('fault', 'cp2', 'etcd-crash').status, 0)
    assert.equal(labCli('fault', 'cp3', 'etcd-crash').status, 0)
    let r = await lab.run(['-n', `${P}.11`, 'etcd', 'members'])
    for (let i = 0; i < 40 && r.code === 0; i++) {
      await sleep(250)
      r = await lab.run(['-n', `${P}.11`, 'etcd', 'members'])
    }
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /etcdserver: no leader/)
    // and machined's health check of cp1's etcd (a quorum read every 20 s, 15 s each: lab/etcd-health.ts) fails
    // within one period and one timeout, while the member itself still runs
    const t0 = Date.now()
    let svc: ServiceStatus | undefined
    await lab.until(
      "cp1's etcd service failing its health check",
      async () => {
        svc = parseService((await lab.run(['-n', `${P}.11`, 'service', 'etcd'])).stdout)[0]
        return svc?.health === 'Fail'
      },
      40_000,
    )
    assert.equal(svc!.state, 'Running')
    // etcd answers a read without quorum "request timed out" (its own timeout, before the check's 15 s)
    assert.match(
      svc!.lastHealthMessage ?? '',
      /^(context deadline exceeded|etcdserver: (request timed out|no leader))$/,
    )
    assert.ok(Date.now() - t0 <= 37_000, `health Fail after ${Date.now() - t0} ms`)
    for (const cp of ['cp2', 'cp3']) {
      const h = labCli('heal', cp)
      assert.equal(h.status, 0, h.stderr)
    }
    await lab.until('three voting members again', async () => (await voters()) === 'cp1,cp2,cp3', 30_000)
  })
})
