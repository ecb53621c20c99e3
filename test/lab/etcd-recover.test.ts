// Talos's etcd disaster recovery in the lab (127.0.120.x, three control planes, real etcd): the etcd-data-loss fault
// leaves etcd crash-looping; a graceful reset is refused without quorum and `bootstrap --recover-from` refuses a
// data dir that is not empty; `reset --graceful=false` wipes it and etcd waits in Preparing; a copied `db` needs
// --recover-skip-hash-check (without it the failed restore leaves the data dir non-empty, as etcdutl does, until it is
// wiped again); the snapshot restores a REAL data dir (key A back, key B gone) and the other wiped members join as
// learners and are promoted. Driven by the real talosctl against the lab's Talos API: machined answers
// reset and bootstrap before the work is done, so each step waits for etcd's service state. (A graceful reset without
// quorum fails in the background at leaving etcd: test/lab/real-talosctl-power.test.ts.)
import { NODE, TSX } from '../bin.ts'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestLab, pollUntil, type TestLab } from '../../lab/testlab.ts'
import { REPO_ROOT } from '../../lab/state.ts'

const P = '127.0.120'
const CPS = ['cp1', 'cp2', 'cp3']
let lab: TestLab

const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const etcd = (i: number) => lab.etcd(`cp${i}`, 3000)
const labCli = (...args: string[]) =>
  spawnSync(NODE, [...TSX, 'lab/cli.ts', ...args], { cwd: REPO_ROOT, env: lab.env, encoding: 'utf8' })

async function voters(): Promise<string[]> {
  const m = await lab.run(['-n', `${P}.11`, 'etcd', 'members'])
  if (m.code !== 0) return []
  return rows(m.stdout)
    .slice(1)
    .filter((r) => r[5] === 'false')
    .map((r) => r[2]!)
    .sort()
}

/** The member id of a hostname in `etcd members` as cp1 sees them. */
async function memberId(host: string): Promise<string | undefined> {
  const m = await lab.run(['-n', `${P}.11`, 'etcd', 'members'])
  return rows(m.stdout).find((r) => r[2] === host)?.[1]
}

const until = (what: string, ok: () => Promise<boolean>, ms = 60_000) => pollUntil(what, ok, ms)

const etcdState = (i: number) => lab.serviceState(`${P}.1${i}`, 'etcd')

describe('lab: etcd quorum lost for good, recovered from a snapshot', { timeout: 600_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 3, workers: 0 })
    for (const n of lab.nodes) await lab.install(n.name, lab.renderConfig(n.role))
    const b = await lab.run(['-n', `${P}.11`, 'bootstrap'])
    assert.equal(b.code, 0, b.stderr)
    await until('three voting members', async () => (await voters()).length === 3)
  })
  after(async () => {
    await lab?.cleanup()
  })

  const snap = () => join(lab.dir, 'snap.db')

  it('a snapshot with key A; key B written after it; every member loses its data', async () => {
    await etcd(1).put('/drill/a', 'A')
    const s = await lab.run(['-n', `${P}.12`, 'etcd', 'snapshot', snap()])
    assert.equal(s.code, 0, s.stderr)
    await etcd(1).put('/drill/b', 'B')
    // a copy of the member's bbolt file, as `talosctl cp /var/lib/etcd/member/snap/db` takes it: no sha256 trailer
    // (taken once etcd's backend has committed B: its batch interval is 100 ms; before that B is only in the WAL)
    await sleep(1000)
    copyFileSync(join(lab.dir, 'nodes', 'cp3', 'etcd', 'member', 'snap', 'db'), join(lab.dir, 'copied.db'))
    for (const n of CPS) {
      const f = labCli('fault', n, 'etcd-data-loss')
      assert.equal(f.status, 0, f.stderr)
      assert.match(f.stdout, /etcd data destroyed/)
    }
    await until('etcd crash-looping on cp1', async () => (await etcdState(1)) === 'Waiting')
    const svc = await lab.run(['-n', `${P}.11`, 'service', 'etcd'])
    assert.match(svc.stdout, /STATE\s+Waiting/)
    assert.match(svc.stdout, /going to restart forever/)
    // heal cannot bring lost data back
    const h = labCli('heal', 'cp1')
    assert.equal(h.status, 0, h.stderr)
    assert.match(h.stdout, /etcd-data-loss stays/)
    assert.equal(await etcdState(1), 'Waiting')
  })

  it('bootstrap --recover-from prints the snapshot status, then refuses a data dir that is not empty', async () => {
    const r = await lab.run(['-n', `${P}.11`, 'bootstrap', `--recover-from=${snap()}`])
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^recovering from snapshot ".*snap\.db": hash [0-9a-f]{8}, revision \d+, total keys \d+/)
    assert.match(r.stderr, /AlreadyExists desc = etcd data directory is not empty/)
  })

  /** Talos's disaster-recovery wipe on every control plane, one at a time: each comes back with etcd waiting. */
  async function wipeEtcdEverywhere(): Promise<void> {
    for (const i of [1, 2, 3]) {
      const r = await lab.run([
        '-n',
        `${P}.1${i}`,
        'reset',
        '--graceful=false',
        '--reboot',
        '--system-labels-to-wipe',
        'EPHEMERAL',
        '--wait=false',
      ])
      assert.equal(r.code, 0, `${r.stderr}\n${lab.explain(`cp${i}`)}`)
      // back from the reboot with an empty data dir: etcd waits for a bootstrap or a member to join
      await until(`cp${i} back with etcd Preparing`, async () => (await etcdState(i)) === 'Preparing')
    }
  }

  it('reset --graceful=false --reboot --system-labels-to-wipe EPHEMERAL: etcd waits in Preparing', async () => {
    await wipeEtcdEverywhere()
  })

  it('a copied db without --recover-skip-hash-check: etcd fails with the restore error; what the restore wrote stays, so a retry is refused until cp1 is wiped again', async () => {
    const copied = join(lab.dir, 'copied.db')
    const r = await lab.run(['-n', `${P}.11`, 'bootstrap', `--recover-from=${copied}`])
    assert.equal(r.code, 0, r.stderr)
    await until('etcd failed on cp1', async () => (await etcdState(1)) === 'Failed')
    const svc = await lab.run(['-n', `${P}.11`, 'service', 'etcd'])
    assert.match(svc.stdout, /STATE\s+Failed/)
    assert.match(svc.stdout, /error recovering from the snapshot: .*hash/)
    // etcdutl copied the db into member/snap before it checked the hash (v3_snapshot.go:414-428, :442)
    const again = await lab.run(['-n', `${P}.11`, 'bootstrap', `--recover-from=${copied}`, '--recover-skip-hash-check'])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /AlreadyExists desc = etcd data directory is not empty/)
    const w = await lab.run([
      '-n',
      `${P}.11`,
      'reset',
      '--graceful=false',
      '--reboot',
      '--system-labels-to-wipe',
      'EPHEMERAL',
      '--wait=false',
    ])
    assert.equal(w.code, 0, w.stderr)
    await until('cp1 back with etcd Preparing', async () => (await etcdState(1)) === 'Preparing')
  })

  it('with --recover-skip-hash-check the copied db restores (key B is in it); then all is lost and wiped again', async () => {
    const r = await lab.run([
      '-n',
      `${P}.11`,
      'bootstrap',
      `--recover-from=${join(lab.dir, 'copied.db')}`,
      '--recover-skip-hash-check',
    ])
    assert.equal(r.code, 0, r.stderr)
    await until('etcd running on cp1', async () => (await etcdState(1)) === 'Running')
    assert.equal((await etcd(1).get('/drill/b'))?.value, 'B')
    await until('three voting members', async () => (await voters()).join() === CPS.join())
    for (const n of CPS) assert.equal(labCli('fault', n, 'etcd-data-loss').status, 0)
    await wipeEtcdEverywhere()
  })

  it('the snapshot restores a real data dir: key A is back, key B is gone, cp2 and cp3 join and are promoted', async () => {
    const r = await lab.run(['-n', `${P}.11`, 'bootstrap', `--recover-from=${snap()}`])
    assert.equal(r.code, 0, r.stderr)
    await until('three voting members cp1..cp3', async () => (await voters()).join() === CPS.join())
    await until(
      'cp3 serves reads',
      async () =>
        (await etcd(3)
          .get('/drill/a')
          .catch(() => undefined)) !== undefined,
    )
    assert.equal((await etcd(3).get('/drill/a'))?.value, 'A')
    assert.equal(await etcd(3).get('/drill/b'), undefined)
    for (const i of [1, 2, 3]) await until(`etcd running on cp${i}`, async () => (await etcdState(i)) === 'Running')
  })

  it('a graceful reset with quorum leaves etcd first; the node rejoins as a new member', async () => {
    const before = await memberId('cp3')
    assert.ok(before)
    const r = await lab.run([
      '-n',
      `${P}.13`,
      'reset',
      '--reboot',
      '--system-labels-to-wipe',
      'EPHEMERAL',
      '--wait=false',
    ])
    assert.equal(r.code, 0, r.stderr)
    await until(
      'cp3 back as a voter with a new member id',
      async () => (await voters()).join() === CPS.join() && (await memberId('cp3')) !== before,
    )
    // a promoted member may still be opening its client port when the others already list it as a voter
    await until(
      "cp3 serves the cluster's data",
      async () =>
        (await etcd(3)
          .get('/drill/a')
          .catch(() => undefined)) !== undefined,
    )
    assert.equal((await etcd(3).get('/drill/a'))?.value, 'A')
  })
})
