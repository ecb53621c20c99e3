// The lab machines' upgrade behaviour that 09-upgrade relies on, driven by the real talosctl (127.0.98.x, one control
// plane with real etcd, one worker): after an upgrade `get extensions` names the Image Factory schematic of the image
// it booted, until then it reports the boot it runs, a boot-fail fault brings the node back on its previous
// installation, and a control plane's real etcd is
// restarted by the upgrade's reboot and answers again. (The upgrade call itself, an unknown image, rollback and the
// etcd upgrade lock: test/lab/real-talosctl-power.test.ts.)
import { NODE, TSX } from '../bin.ts'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { REPO_ROOT } from '../../lab/state.ts'

const P = '127.0.98'
const W = `${P}.21`
const SCHEMATIC = '376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba'
const factory = (tag: string) => `factory.talos.dev/installer/${SCHEMATIC}:${tag}`
let lab: TestLab

const labCli = (...args: string[]) => {
  const r = spawnSync(NODE, [...TSX, 'lab/cli.ts', ...args], { cwd: REPO_ROOT, env: lab.env, encoding: 'utf8' })
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
}
/** The server's Talos tag, or undefined while the machine does not answer. */
const tagOf = async (addr: string) =>
  /Tag:\s+(\S+)/.exec((await lab.run(['-n', addr, 'version'])).stdout.split('Server:')[1] ?? '')?.[1]

/** Upgrades the machine and waits until it answers again on a new boot (machined answers before it reboots). */
async function upgrade(addr: string, image: string): Promise<void> {
  const before = await lab.bootId(addr)
  assert.ok(before)
  const r = await lab.run(['-n', addr, 'upgrade', '--image', image, '--wait=false'])
  assert.equal(r.code, 0, r.stderr)
  await lab.waitNewBoot(addr, before)
}

describe('lab machines: upgrade boots the image, a failed boot falls back, etcd restarts', { timeout: 300_000 }, () => {
  before(async () => {
    // the pull's simulated time is not under test here
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1, cluster: 'upgradetest', imagePullMs: 100 })
    for (const n of lab.nodes)
      await lab.install(
        n.name,
        lab.renderConfig(n.role, { extraKernelArgs: n.role === 'worker' ? ['hugepages=0:4'] : [] }),
      )
    const b = await lab.run(['-n', `${P}.11`, 'bootstrap'])
    assert.equal(b.code, 0, b.stderr)
    await lab.until('etcd', async () => (await lab.run(['-n', `${P}.11`, 'etcd', 'status'])).code === 0, 60_000)
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('upgrade reboots the worker into the image version, its schematic and the config kernel args', async () => {
    const before = await lab.run(['-n', W, 'get', 'extensions'])
    assert.equal(before.code, 0, before.stderr)
    assert.doesNotMatch(before.stdout, /schematic/, 'the ghcr.io installer carries no schematic')
    await upgrade(W, factory('v1.10.4'))
    assert.equal(await tagOf(W), 'v1.10.4')
    const ext = await lab.run(['-n', W, 'get', 'extensions'])
    assert.equal(ext.code, 0, ext.stderr)
    assert.match(
      ext.stdout,
      new RegExp(`^${W.replaceAll('.', '\\.')} +runtime +ExtensionStatus +\\S+ +\\d+ +schematic +${SCHEMATIC} *$`, 'm'),
    )
    assert.match((await lab.run(['-n', W, 'read', '/proc/cmdline'])).stdout, /hugepages=0:4/)
  })

  it('until it reboots, an upgraded node reports the boot it runs: its old Talos version and /proc/cmdline', async () => {
    const old = await lab.bootId(W)
    assert.ok(old)
    const cmdline = (await lab.run(['-n', W, 'read', '/proc/cmdline'])).stdout
    const r = await lab.run(['-n', W, 'upgrade', '--image', factory('v1.10.5'), '--wait=false'])
    assert.equal(r.code, 0, r.stderr)
    // sample while the upgrade installs and goes down; a sample counts when the boot ID read after it is still the
    // old one (machined's version.Tag is compiled into the running machined; the kernel's cmdline is the running one)
    const onOldBoot: { tag?: string; cmdline: string }[] = []
    for (;;) {
      const [tag, cmd] = [await tagOf(W), (await lab.run(['-n', W, 'read', '/proc/cmdline'])).stdout]
      if ((await lab.bootId(W)) !== old) break
      onOldBoot.push({ tag, cmdline: cmd })
    }
    assert.ok(onOldBoot.length > 0, 'the node answered on its old boot after the upgrade call')
    for (const s of onOldBoot) {
      if (s.tag !== undefined) assert.equal(s.tag, 'v1.10.4', 'the tag of the running machined')
      if (s.cmdline) assert.equal(s.cmdline, cmdline)
    }
    await lab.waitNewBoot(W, old)
    assert.equal(await tagOf(W), 'v1.10.5')
  })

  it('a boot-fail fault: the upgraded image does not boot and the node comes back on its previous installation', async () => {
    labCli('fault', 'w1', 'boot-fail')
    await upgrade(W, factory('v1.10.6'))
    assert.equal(await tagOf(W), 'v1.10.5')
    labCli('heal', 'w1')
  })

  it('upgrading the control plane restarts its real etcd, which answers again on the new version', async () => {
    const pid = lab.node('cp1').etcd.pid
    assert.ok(pid)
    await upgrade(`${P}.11`, factory('v1.10.4'))
    assert.equal(await tagOf(`${P}.11`), 'v1.10.4')
    await lab.until('etcd answering', async () => (await lab.run(['-n', `${P}.11`, 'etcd', 'status'])).code === 0)
    assert.notEqual(lab.node('cp1').etcd.pid, pid)
  })
})
