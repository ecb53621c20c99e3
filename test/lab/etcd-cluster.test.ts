// Real etcd behind the lab's Talos API, driven by the real talosctl: maintenance-mode rules, install via
// apply-config --insecure, bootstrap once into a 3-member cluster, the real "already bootstrapped" error, leadership
// transfer, a killed member.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'

const P = '127.0.50'
const re = (s: string) => s.replaceAll('.', '\\.')
let lab: TestLab

/** Rows of a talosctl table as arrays of cells (split on runs of 2+ spaces). */
const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/))

describe('real talosctl + lab machines + real etcd', { timeout: 240_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 3, workers: 1 })
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('maintenance mode answers --insecure only', async () => {
    const disks = await lab.run(['-n', `${P}.11`, 'get', 'disks', '--insecure'])
    assert.equal(disks.code, 0, disks.stderr)
    const r = rows(disks.stdout)
    assert.deepEqual(r[0].slice(0, 5), ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION'])
    assert.ok(r[0].includes('SIZE') && r[0].includes('MODEL'), disks.stdout)
    assert.ok(
      r.some((x) => x.includes('sda')),
      disks.stdout,
    )
    // the talosconfig's client certificate is for a CA the machine does not have yet
    const secure = await lab.run(['-n', `${P}.11`, 'version'])
    assert.equal(secure.code, 1)
    assert.match(secure.stderr, /x509: certificate signed by unknown authority/)
  })

  it('apply-config --insecure installs every node; --insecure is then refused', async () => {
    for (const n of lab.nodes) {
      const f = join(lab.dir, `${n.name}.yaml`)
      writeFileSync(f, lab.renderConfig(n.role, { extraKernelArgs: ['hugepages=2'] }), { mode: 0o600 })
      const r = await lab.run(['-n', n.address, 'apply-config', '--insecure', '-f', f])
      assert.equal(r.code, 0, `${n.name}: ${r.stderr}`)
    }
    // the maintenance service answers first and the machine installs on (internal/app/maintenance/server.go)
    for (const n of lab.nodes) {
      await lab.until(`${n.name} running`, () => lab.node(n.name).stage === 'running', 60_000)
      assert.match(lab.node(n.name).cmdline, /talos\.platform=metal .*hugepages=2/)
    }
    await lab.until('cp1 answering its authenticated API', async () => (await lab.run(['version'])).code === 0)
    const again = await lab.run(['-n', `${P}.11`, 'get', 'disks', '--insecure'])
    assert.equal(again.code, 1)
    // TLS 1.3: the server refuses the missing client certificate after the client's handshake is done, so the
    // client sees the refusal or the closed connection, whichever comes first
    assert.match(again.stderr, /code = Unavailable .*(certificate required|broken pipe|connection reset|EOF)/)
  })

  it('bootstrap once: three real etcd members, one leader', async () => {
    const b = await lab.run(['-n', `${P}.11`, 'bootstrap'])
    assert.equal(b.code, 0, b.stderr)
    // as on Talos, bootstrap returns once etcd exists on cp1; the other members join in the background
    let m = await lab.run(['-n', `${P}.11`, 'etcd', 'members'])
    for (let i = 0; i < 120 && rows(m.stdout).filter((r) => r[5] === 'false').length < 3; i++) {
      await new Promise((r) => setTimeout(r, 500))
      m = await lab.run(['-n', `${P}.11`, 'etcd', 'members'])
    }
    assert.equal(m.code, 0, m.stderr)
    const mr = rows(m.stdout)
    assert.deepEqual(mr[0], ['NODE', 'ID', 'HOSTNAME', 'PEER URLS', 'CLIENT URLS', 'LEARNER'])
    assert.deepEqual(
      mr
        .slice(1)
        .map((r) => r[2])
        .sort(),
      ['cp1', 'cp2', 'cp3'],
    )
    assert.ok(
      mr.slice(1).every((r) => r[5] === 'false'),
      m.stdout,
    )
    const s = await lab.run(['-n', `${P}.11,${P}.12,${P}.13`, 'etcd', 'status'])
    assert.equal(s.code, 0, s.stderr)
    const sr = rows(s.stdout)
    assert.equal(sr[0][0], 'NODE')
    assert.equal(sr.length, 4, s.stdout)
    const leaders = new Set(sr.slice(1).map((r) => r[4]))
    assert.equal(leaders.size, 1, s.stdout)
    const memberIds = sr.slice(1).map((r) => r[1])
    assert.ok(memberIds.includes([...leaders][0]), s.stdout)
  })

  it('a second bootstrap fails with the real Talos error', async () => {
    const r = await lab.run(['-n', `${P}.12`, 'bootstrap'])
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      new RegExp(
        `^error executing bootstrap: 1 error occurred:\\n\\t\\* ${re(P)}\\.12: rpc error: code = AlreadyExists desc = etcd data directory is not empty\\n`,
      ),
    )
  })

  it('forfeit-leadership moves the leader to another member', async () => {
    const status = async () =>
      rows((await lab.run(['-n', `${P}.11,${P}.12,${P}.13`, 'etcd', 'status'])).stdout).slice(1)
    const before = await status()
    const leader = before[0][4]
    const leaderNode = before.find((r) => r[1] === leader)![0]
    const f = await lab.run(['-n', leaderNode, 'etcd', 'forfeit-leadership'])
    assert.equal(f.code, 0, f.stderr)
    let now = leader
    for (let i = 0; i < 50 && now === leader; i++) {
      now = (await status())[0][4]
      if (now === leader) await new Promise((r) => setTimeout(r, 100))
    }
    assert.notEqual(now, leader)
    // a member that is not the leader has nothing to forfeit (internal/pkg/etcd/etcd.go ForfeitLeadership)
    const follower = (await status()).find((r) => r[1] !== now)![0]
    const none = await lab.run(['-n', follower, 'etcd', 'forfeit-leadership'])
    assert.equal(none.code, 0, none.stderr)
    assert.equal((await status())[0][4], now)
  })

  it("a killed etcd process shows up as that node's error in etcd status", async () => {
    const pid = lab.node('cp3').etcd.pid!
    process.kill(pid, 'SIGKILL')
    await new Promise((r) => setTimeout(r, 200))
    const s = await lab.run(['-n', `${P}.11,${P}.12,${P}.13`, 'etcd', 'status'])
    assert.equal(s.code, 0, s.stderr)
    const r = rows(s.stdout)
    assert.deepEqual(
      r
        .slice(1)
        .map((x) => x[0])
        .sort(),
      [`${P}.11`, `${P}.12`],
    )
    // cmd/talosctl/cmd/talos/etcd.go status: a response with errors is a warning, the rows that came are printed
    assert.match(s.stderr, new RegExp(`^WARNING: 1 error occurred:\\n\\t\\* ${re(P)}\\.13: rpc error: code = `))
    const single = await lab.run(['-n', `${P}.13`, 'etcd', 'status'])
    assert.equal(single.code, 1)
    assert.match(single.stderr, /^error getting status: 1 error occurred:/)
  })

  it('read serves the node sysroot; unknown flags are cobra errors', async () => {
    const r = await lab.run(['-n', `${P}.11`, 'read', '/proc/meminfo'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^MemTotal:\s+\d+ kB$/m)
    const c = await lab.run(['-n', `${P}.11`, 'read', '/proc/cmdline'])
    assert.match(c.stdout, /hugepages=2/)
    const u = await lab.run(['etcd', 'status', '--bogus'])
    assert.equal(u.code, 1)
    assert.match(u.stderr, /unknown flag: --bogus/)
  })
})
