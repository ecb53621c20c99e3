// The real talosctl v1.10.3 against the lab's Talos API server for machined's power methods (reboot, shutdown, reset,
// upgrade, rollback) and the event stream their --wait watches. What each test asserts is what a real machine does,
// per v1.10.3 internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go and cmd/talosctl/cmd/talos/*.go:
// the call answers first and the machine goes down afterwards; an upgrade answers only after its image is pulled.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestLab, versionFromAll, type RunResult, type TestLab } from '../../lab/testlab.ts'
import { realTalosctl } from '../../lab/go-builds.ts'
import { portOpen } from '../../lab/processes.ts'
import { loadNode, paths } from '../../lab/state.ts'
import { registerSchematic } from '../../lab/factory.ts'
import { factoryInstallerImage } from '../../lib/talos/schematic.ts'
import { powerOnMachine } from '../../lab/machine-power.ts'
import { UPGRADE_MUTEX_PREFIX } from '../../lab/etcd-upgrade-lock.ts'

const P = '127.0.54'
const CP = `${P}.11`
const W = `${P}.21`
/** The simulated cold pull of every installer image in this lab (lab/registry.ts TALOS_LAB_IMAGE_PULL_MS). */
const PULL_MS = 3000
let lab: TestLab
let talosctl: string
let gen: string

function real(args: string[], env: NodeJS.ProcessEnv = lab.env): Promise<RunResult & { ms: number }> {
  const t0 = Date.now()
  return new Promise((resolve, reject) => {
    const p = spawn(talosctl, args, { env })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 }))
  })
}

const as = (args: string[]) => real(['--talosconfig', join(gen, 'talosconfig'), '-e', CP, ...args])

async function waitFor(what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The machine's boot id, through the API (what talosctl's --wait compares). */
async function bootId(addr: string): Promise<string> {
  const r = await as(['-n', addr, 'read', '/proc/sys/kernel/random/boot_id'])
  assert.equal(r.code, 0, r.stderr)
  return r.stdout.trim()
}

/** The Talos version the machine runs: the server's Tag in `talosctl version` (the client's comes first). */
async function tag(addr: string): Promise<string> {
  const r = await as(['-n', addr, 'version'])
  assert.equal(r.code, 0, r.stderr)
  return [...r.stdout.matchAll(/Tag:\s+(\S+)/g)].at(-1)?.[1] ?? ''
}

/** After a call that acknowledged a reboot: the API goes away, then answers again. */
async function goesDownAndComesBack(addr: string): Promise<void> {
  await waitFor(`${addr} to go down`, async () => !(await portOpen(addr, 50000)), 15_000)
  await waitFor(`${addr} to come back`, async () => (await as(['-n', addr, 'version'])).code === 0, 60_000)
}

describe('the real talosctl: reboot, shutdown, reset, upgrade, rollback', { timeout: 600_000 }, () => {
  const saved = { dir: process.env.TALOS_LAB_DIR, pull: process.env.TALOS_LAB_IMAGE_PULL_MS }
  before(async () => {
    talosctl = realTalosctl()
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1, cluster: 'powertest', imagePullMs: PULL_MS })
    process.env.TALOS_LAB_DIR = lab.dir
    process.env.TALOS_LAB_IMAGE_PULL_MS = String(PULL_MS) // the daemon's environment: its registry's pull time
    await waitFor('the maintenance API', () => portOpen(CP, 50000))
    gen = join(lab.dir, 'gen')
    const secrets = join(lab.dir, 'real-secrets.yaml')
    assert.equal((await real(['gen', 'secrets', '-o', secrets])).code, 0)
    const g = await real(['gen', 'config', 'powertest', `https://${CP}:6443`, '--with-secrets', secrets, '-o', gen])
    assert.equal(g.code, 0, g.stderr)
    for (const [addr, file] of [
      [CP, 'controlplane.yaml'],
      [W, 'worker.yaml'],
    ] as const) {
      const a = await real(['apply-config', '--insecure', '-n', addr, '--file', join(gen, file)])
      assert.equal(a.code, 0, a.stderr)
    }
    await waitFor(
      'both machines configured',
      async () => versionFromAll(await as(['-n', `${CP},${W}`, 'version']), [CP, W]),
      60_000,
    )
    assert.equal((await as(['-n', CP, 'bootstrap'])).code, 0)
    await waitFor('etcd', async () => (await as(['-n', CP, 'etcd', 'status'])).code === 0, 60_000)
  })
  after(async () => {
    await lab?.cleanup()
    for (const [k, v] of [
      ['TALOS_LAB_DIR', saved.dir],
      ['TALOS_LAB_IMAGE_PULL_MS', saved.pull],
    ] as const)
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
  })

  it('reboot --wait=false returns on the acknowledgement; then the machine goes down and comes back on the same version', async () => {
    const before = await bootId(W)
    const r = await as(['-n', W, 'reboot', '--wait=false'])
    assert.equal(r.code, 0, r.stderr)
    // machined answers with the actor id and reboots in the background (v1alpha1_server.go:350-366): the API was
    // still up when talosctl returned, and goes down only now
    await goesDownAndComesBack(W)
    assert.notEqual(await bootId(W), before)
    assert.equal(await tag(W), 'v1.10.3')
    assert.equal(
      loadNode('w1').bootedVia,
      'kexec',
      'a default reboot kexecs (v1alpha1_sequencer_tasks.go KexecPrepare)',
    )
  })

  it('reboot --mode powercycle skips kexec; an invalid mode is refused by talosctl itself', async () => {
    const bad = await as(['-n', W, 'reboot', '--mode', 'bogus', '--wait=false'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /invalid reboot mode: "bogus"/)
    const r = await as(['-n', W, 'reboot', '--mode', 'powercycle', '--wait=false'])
    assert.equal(r.code, 0, r.stderr)
    await goesDownAndComesBack(W)
    assert.equal(loadNode('w1').bootedVia, 'firmware', 'POWERCYCLE reaches machined and skips kexec (tasks.go:1660)')
  })

  it('reboot with --wait (the default) follows the event stream until the boot id changed', async () => {
    const before = await bootId(W)
    const r = await as(['-n', W, 'reboot', '--timeout', '2m'])
    assert.equal(r.code, 0, r.stderr)
    // the tracker's lines without a terminal (cmd/talosctl/pkg/talos/action/tracker.go runReporter, node.go)
    assert.match(r.stderr, /actor ID: [0-9a-f-]{36}/)
    assert.match(r.stderr, /events check condition met/)
    assert.match(r.stderr, /post check passed/)
    assert.notEqual(await bootId(W), before)
  })

  it('rollback without a previous installation is refused by the bootloader (grub/revert.go:59)', async () => {
    const r = await as(['-n', W, 'rollback'])
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      /error executing rollback: [\s\S]*code = Unknown desc = cannot rollback to "", label does not exist/,
    )
    assert.ok(await portOpen(W, 50000), 'the machine did not reboot')
  })

  it('upgrade --wait=false answers only after the image is pulled; the machine comes back on the new version and kernel cmdline', async () => {
    const id = registerSchematic('customization:\n  extraKernelArgs:\n    - lab.upgrade=1\n')
    const image = factoryInstallerImage(id, 'v1.10.4')
    const r = await as(['-n', W, 'upgrade', '--image', image, '--wait=false'])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(r.ms >= PULL_MS, `the upgrade call took ${r.ms} ms, less than the image pull (${PULL_MS} ms)`)
    assert.match(r.stdout, /NODE\s+ACK\s+STARTED/)
    assert.match(r.stdout, new RegExp(`${W.replaceAll('.', '\\.')}\\s+Upgrade request received`))
    await goesDownAndComesBack(W)
    assert.equal(await tag(W), 'v1.10.4')
    const cmdline = await as(['-n', W, 'read', '/proc/cmdline'])
    assert.match(cmdline.stdout, /lab\.upgrade=1/)
  })

  it("upgrade to an image the registry does not have is refused with machined's and containerd's words", async () => {
    const image = 'ghcr.io/siderolabs/installer:v9.9.9'
    const r = await as(['-n', W, 'upgrade', '--image', image, '--wait=false'])
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      /error validating installer image "ghcr\.io\/siderolabs\/installer:v9\.9\.9": failed to pull image "ghcr\.io\/siderolabs\/installer:v9\.9\.9": failed to resolve reference "ghcr\.io\/siderolabs\/installer:v9\.9\.9": ghcr\.io\/siderolabs\/installer:v9\.9\.9: not found/,
    )
    assert.equal(await tag(W), 'v1.10.4')
  })

  it('rollback boots the previous installation: version and kernel cmdline', async () => {
    const r = await as(['-n', W, 'rollback'])
    assert.equal(r.code, 0, r.stderr)
    await goesDownAndComesBack(W)
    assert.equal(await tag(W), 'v1.10.3')
    const cmdline = await as(['-n', W, 'read', '/proc/cmdline'])
    assert.doesNotMatch(cmdline.stdout, /lab\.upgrade=1/)
  })

  it("a control plane upgrades only under etcd's upgrade mutex, checked after the pull; --stage installs at the next boot", async () => {
    const etcd = lab.etcd('cp1')
    const lease = await etcd.grantLease(60)
    await etcd.createIfAbsent(`${UPGRADE_MUTEX_PREFIX}${BigInt(lease).toString(16)}`, '', lease)
    const image = 'ghcr.io/siderolabs/installer:v1.10.4'
    const locked = await as(['-n', CP, 'upgrade', '--image', image, '--wait=false'])
    assert.equal(locked.code, 1)
    assert.match(
      locked.stderr,
      /failed to acquire upgrade mutex: error trying to lock etcd upgrade mutex: mutex: Locked by another session/,
    )
    assert.ok(locked.ms >= PULL_MS, 'machined pulls before it takes the lock')
    assert.equal((await etcd.list(UPGRADE_MUTEX_PREFIX)).length, 1, 'the refused call left no key of its own')
    await etcd.revokeLease(lease)
    // the image is in containerd since the first call: no pull this time (image.WithSkipIfAlreadyPulled)
    const r = await as(['-n', CP, 'upgrade', '--image', image, '--stage', '--wait=false'])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(r.ms < PULL_MS, `a warm pull took ${r.ms} ms`)
    await goesDownAndComesBack(CP)
    assert.equal(await tag(CP), 'v1.10.4')
    await waitFor('etcd back', async () => (await as(['-n', CP, 'etcd', 'status'])).code === 0, 60_000)
    // released when the call returned (its 60 s lease would still hold it otherwise)
    assert.equal((await etcd.list(UPGRADE_MUTEX_PREFIX)).length, 0, 'the upgrade released the mutex')
  })

  it('reset refuses a label with no volume (VolumeStatus lookup) before acknowledging anything', async () => {
    const r = await as(['-n', W, 'reset', '--system-labels-to-wipe', 'NOPE', '--reboot', '--wait=false'])
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      /failed to get volume status with label "NOPE": resource VolumeStatuses\.block\.talos\.dev\(runtime\/NOPE@undefined\) doesn't exist/,
    )
  })

  it('a graceful reset of the only control plane fails in the background at leaving etcd; --wait shows the sequence error; machined reboots', async () => {
    const marker = join(paths.etcdData('cp1'), 'member')
    assert.ok(existsSync(marker))
    const before = await bootId(CP)
    const r = await as(['-n', CP, 'reset', '--system-labels-to-wipe', 'EPHEMERAL', '--reboot', '--timeout', '2m'])
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      /sequence error: sequence failed: error running phase 4 in reset sequence: task 1\/1: failed, failed to leave cluster: /,
    )
    assert.ok(existsSync(marker), 'nothing was wiped')
    // a failed sequence is fatal to machined: it stops its services and reboots after a 10 s countdown (v1.10.3
    // internal/app/machined/main.go:285-314 and handle); the machine comes back with its data
    await goesDownAndComesBack(CP)
    assert.notEqual(await bootId(CP), before, 'the machine rebooted')
    assert.ok(existsSync(marker), 'the reboot wiped nothing either')
    await waitFor('etcd back', async () => (await as(['-n', CP, 'etcd', 'status'])).code === 0, 60_000)
  })

  it('reset --graceful=false --reboot --system-labels-to-wipe EPHEMERAL --wait=false wipes /var (kubelet state) and reboots', async () => {
    const kubeletDir = join(paths.root('w1'), 'var/lib/kubelet')
    mkdirSync(kubeletDir, { recursive: true })
    writeFileSync(join(kubeletDir, 'lab-marker'), 'before the reset')
    const r = await as([
      '-n',
      W,
      'reset',
      '--graceful=false',
      '--reboot',
      '--system-labels-to-wipe',
      'EPHEMERAL',
      '--wait=false',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(existsSync(join(kubeletDir, 'lab-marker')), 'the reset runs after the answer')
    await goesDownAndComesBack(W)
    assert.ok(!existsSync(join(kubeletDir, 'lab-marker')), 'EPHEMERAL (/var) was wiped')
    assert.ok(existsSync(paths.config('w1')), 'STATE (the machine config) was kept')
  })

  it('shutdown --force waits for stopAllServices and the machine stays off until its BMC powers it on', async () => {
    const r = await as(['-n', W, 'shutdown', '--force', '--timeout', '2m'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /events check condition met/)
    await waitFor('w1 powered off', () => loadNode('w1').power === 'off', 15_000)
    await waitFor('w1 API gone', async () => !(await portOpen(W, 50000)), 5_000)
    await powerOnMachine('w1')
    await waitFor('w1 back', async () => (await as(['-n', W, 'version'])).code === 0, 30_000)
  })
})
