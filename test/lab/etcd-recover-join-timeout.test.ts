// 11-etcd-recover's restore against two things Talos v1.10.3 does that a quick drill does not show
// (127.0.122.x, three control planes, real etcd, the real talosctl, the product's own steps/11-etcd-recover/recover.ts):
//  - a wiped control plane's etcd waits to join for constants.EtcdJoinTimeout (30 min on Talos; a lab setting, here a
//    few seconds), then fails with "failed to build initial etcd cluster" and stays Failed (services/etcd.go:314,
//    :513-516; system.go:186-198). The restore picks such a node (its data dir is empty: BootstrapEtcd reloads etcd
//    whatever its state), and the others that gave up join only after a reboot.
//  - a restore that fails its hash check has already written member/snap/db into the data dir (etcdutl's Restore,
//    v3_snapshot.go:414-428 before :442/:457), so a retry is refused with AlreadyExists "etcd data directory is not
//    empty" (v1alpha1_server.go:431-432); the product wipes that node again, and the retry succeeds.
import { NODE, TSX } from '../bin.ts'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { REPO_ROOT } from '../../lab/state.ts'
import type { Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { sharedShell } from '../../lib/host/shared-shell.ts'
import type { StepHandle } from '../../lib/runner/types.ts'
import {
  etcdService,
  pickRecoveryNode,
  rebootToJoin,
  restoreOn,
  talosAt,
  wipeNode,
} from '../../steps/11-etcd-recover/recover.ts'
import { etcdDataDir } from '../../steps/11-etcd-recover/judge.ts'

const P = '127.0.122'
/** The lab's etcd join timeout here (Talos: 30 minutes). */
const JOIN_TIMEOUT_MS = 15_000
let lab: TestLab
let c: Cluster

const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const labCli = (...args: string[]) =>
  spawnSync(NODE, [...TSX, 'lab/cli.ts', ...args], { cwd: REPO_ROOT, env: lab.env, encoding: 'utf8' })

async function voters(via: number): Promise<string[]> {
  const m = await lab.run(['-n', `${P}.1${via}`, 'etcd', 'members'])
  if (m.code !== 0) return []
  return rows(m.stdout)
    .slice(1)
    .filter((r) => r[5] === 'false')
    .map((r) => r[2]!)
    .sort()
}

const node = (i: number): InventoryNode =>
  ({ name: `cp${i}`, address: `${P}.1${i}`, role: 'controlplane', installDisk: '/dev/sda' }) as InventoryNode
const svc = (i: number) => etcdService(c, node(i), 15_000)
/** etcd's state on cp<i>, or undefined while it does not answer (polled, with a pause between calls). */
const stateOf = async (i: number) => {
  await sleep(300)
  return (await svc(i).catch(() => undefined))?.state
}
/** What `talosctl ls /var/lib/etcd` lists on cp<i>, through the product's wrapper. */
const etcdDir = (i: number) =>
  talosAt(c, node(i), { timeoutMs: 15_000, quiet: true }).lsNames(node(i).address, '/var/lib/etcd')
const step = {
  name: 'restore',
  index: 1,
  total: 1,
  dryRun: false,
  runId: 'test',
  signal: new AbortController().signal,
  progress: () => {},
  confirm: async () => true,
} as unknown as StepHandle
const opts = { timeoutMs: 90_000, callTimeoutMs: 15_000 }

describe(
  'lab: 11-etcd-recover after etcd gave up waiting to join, and after a restore that failed its hash check',
  { timeout: 240_000 },
  () => {
    before(async () => {
      lab = await createTestLab({ prefix: P, controlPlanes: 3, workers: 0, etcdJoinTimeoutMs: JOIN_TIMEOUT_MS })
      // the product's view of this lab: what steps/11-etcd-recover/recover.ts reads of a Cluster
      c = {
        inv: { nodes: [1, 2, 3].map(node) },
        talosctlBin: lab.talosctl,
        paths: { talosconfig: lab.talosconfig },
        talos: { dryRun: false, timeoutMs: 15_000 },
        shell: sharedShell({ talosconfig: lab.talosconfig, bins: [lab.talosctl] }),
      } as unknown as Cluster
      // bootstrapped right after the last install: cp2 and cp3 must join within the short join timeout
      for (const n of lab.nodes) await lab.install(n.name, lab.renderConfig(n.role))
      const b = await lab.run(['-n', `${P}.11`, 'bootstrap'])
      assert.equal(b.code, 0, b.stderr)
      // an install slower than the join timeout leaves that node's etcd Failed, as on Talos: a reboot joins it
      for (const i of [2, 3]) {
        await lab.until(`etcd on cp${i} joined or gave up`, async () =>
          ['Running', 'Failed'].includes((await stateOf(i)) ?? ''),
        )
        if ((await svc(i)).state === 'Failed') await rebootToJoin(c, node(i), step, opts)
      }
      await lab.until('three voting members', async () => (await voters(1)).length === 3, 60_000)
    })
    after(async () => {
      await lab?.cleanup()
    })

    const snap = () => join(lab.dir, 'snap.db')
    const bad = () => join(lab.dir, 'bad-hash.db')

    it('a snapshot with key A and a copy whose sha256 trailer does not match; all etcd data lost; each node wiped', async () => {
      await lab.etcd('cp1', 3000).put('/drill/a', 'A')
      const s = await lab.run(['-n', `${P}.12`, 'etcd', 'snapshot', snap()])
      assert.equal(s.code, 0, s.stderr)
      const b = readFileSync(snap())
      b[b.length - 1]! ^= 0xff // bbolt's status still reads it; the restore's hash check fails
      writeFileSync(bad(), b)
      for (const n of ['cp1', 'cp2', 'cp3']) assert.equal(labCli('fault', n, 'etcd-data-loss').status, 0)
      // the product's wipe: each back with etcd waiting in Preparing
      for (const i of [1, 2, 3]) await wipeNode(c, node(i), step, opts)
      assert.equal((await svc(3)).state, 'Preparing')
      assert.deepEqual(await etcdDir(3), [])
    })

    it("after the join timeout every wiped node's etcd is Failed with Talos's message, and stays so", async () => {
      await lab.until(
        'etcd on cp1..cp3 to give up waiting to join',
        async () => (await Promise.all([1, 2, 3].map(stateOf))).every((s) => s === 'Failed'),
        JOIN_TIMEOUT_MS + 30_000,
      )
      const s = await svc(1)
      assert.match(s.event, /^Failed to run pre stage: failed to build initial etcd cluster: .*timeout/s)
      assert.equal(etcdDataDir(s.state, s.event), 'gave-up')
      const out = (await lab.run(['-n', `${P}.11`, 'service', 'etcd'])).stdout
      assert.match(out, /STATE\s+Failed/)
    })

    it('a restore that fails its hash check leaves the data dir non-empty: a retry is refused (AlreadyExists)', async () => {
      const r = await lab.run(['-n', `${P}.12`, 'bootstrap', `--recover-from=${bad()}`])
      assert.equal(r.code, 0, r.stderr)
      await lab.until('etcd on cp2 to fail the restore', async () =>
        /expected sha256/.test((await svc(2).catch(() => undefined))?.event ?? ''),
      )
      assert.equal((await svc(2)).state, 'Failed')
      assert.deepEqual(await etcdDir(2), ['member'])
      const again = await lab.run(['-n', `${P}.12`, 'bootstrap', `--recover-from=${snap()}`])
      assert.equal(again.code, 1)
      assert.match(again.stderr, /AlreadyExists desc = etcd data directory is not empty/)
    })

    it('the product restores on a node whose etcd gave up; a hash failure wipes it again, and the retry restores', async () => {
      // cp1 and cp3 gave up waiting to join (Failed): picked all the same, cp1 first
      assert.equal((await pickRecoveryNode(c, undefined, 15_000)).name, 'cp1')
      await assert.rejects(restoreOn(c, node(1), bad(), step, opts), (e: Error) => {
        assert.match(e.message, /etcd on cp1 failed to start from \S+bad-hash\.db: .*expected sha256/)
        assert.match(e.message, /had already written member\/snap\/db into cp1's \/var\/lib\/etcd/)
        assert.match(e.message, /it was wiped again and its etcd waits with an empty data dir: .* re-run/)
        return true
      })
      assert.equal((await svc(1)).state, 'Preparing')
      // the re-run: cp3 (gave up) would be picked first, --node cp1 picks the re-wiped one
      assert.equal((await pickRecoveryNode(c, undefined, 15_000)).name, 'cp3')
      assert.equal((await pickRecoveryNode(c, 'cp1', 15_000)).name, 'cp1')
      const at = await restoreOn(c, node(1), snap(), step, opts)
      assert.ok(at instanceof Date)
      assert.equal((await lab.etcd('cp1', 3000).get('/drill/a'))?.value, 'A')
    })

    it('cp3, whose etcd gave up, never joins by itself; rebooted, it joins; cp2 (failed restore) joins once wiped', async () => {
      await sleep(3000)
      assert.equal((await svc(3)).state, 'Failed')
      assert.deepEqual(await voters(1), ['cp1'])
      await rebootToJoin(c, node(3), step, opts)
      // cp2's failed restore left data: wiped, it joins the restored member
      const w = await lab.run([
        '-n',
        `${P}.12`,
        'reset',
        '--graceful=false',
        '--reboot',
        '--system-labels-to-wipe',
        'EPHEMERAL',
        '--wait=false',
      ])
      assert.equal(w.code, 0, w.stderr)
      await lab.until('three voting members cp1..cp3', async () => (await voters(1)).join() === 'cp1,cp2,cp3', 60_000)
    })
  },
)
