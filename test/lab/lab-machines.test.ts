// What the lab machines answer to the real talosctl beyond the API's own rules (127.0.51.x, one control plane and one
// worker, no etcd needed): a machine that is down refuses connections as a dead host does, alone and among healthy
// nodes; a talosconfig of another CA is refused; the kernel's built-in modules; a live config change leaves the
// kernel command line to the next upgrade; `ls -l` shows the owner and mode a chown/chmod on the node set.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { setOwner } from '../../lab/file-owners.ts'
import { ownerFromLs } from '../../checks/engine/sources.ts'
import { parseTable } from '../../lib/talos/parse.ts'

const P = '127.0.51'
const CP = `${P}.11`
const W = `${P}.21`
let lab: TestLab
const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/))

describe('lab machines behind the real talosctl', { timeout: 180_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1, cluster: 'machinestest', imagePullMs: 100 })
  })
  after(async () => {
    await lab?.cleanup()
  })

  /** Sets or clears the down fault and waits until the Talos API server followed (it polls the model). */
  async function setDown(name: string, address: string, down: boolean) {
    lab.update(name, (n) => {
      if (down) n.faults.down = true
      else delete n.faults.down
    })
    await lab.until(`${name} ${down ? 'refusing' : 'answering'}`, async () => {
      const r = await lab.run(['-n', address, 'get', 'disks', '--insecure'])
      return down ? /connection refused/.test(r.stderr) : r.code === 0 || !/connection refused/.test(r.stderr)
    })
  }

  it('a machine that is down refuses connections on :50000, as a dead host', async () => {
    await setDown('w1', W, true)
    const r = await lab.run(['-n', W, 'get', 'disks', '--insecure'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`dial tcp ${W.replaceAll('.', '\\.')}:50000: connect: connection refused`))
    await setDown('w1', W, false)
  })

  it('installed with sysctls and tcp_bbr: the module is built into the Talos kernel, not loaded', async () => {
    await lab.install('cp1', lab.renderConfig('controlplane', { sysctls: { 'vm.swappiness': '1' } }))
    await lab.install('w1', lab.renderConfig('worker', { sysctls: { 'vm.swappiness': '0' }, modules: ['tcp_bbr'] }))
    const mods = await lab.run(['-n', W, 'read', '/proc/modules'])
    assert.equal(mods.code, 0, mods.stderr)
    // CONFIG_TCP_CONG_BBR=y: loading it is a no-op, /proc/modules never lists it
    assert.doesNotMatch(mods.stdout, /^tcp_bbr /m)
    const builtin = await lab.run(['-n', W, 'read', '/usr/lib/modules/6.12.28-talos/modules.builtin'])
    assert.equal(builtin.code, 0, builtin.stderr)
    assert.match(builtin.stdout, /^kernel\/net\/ipv4\/tcp_bbr\.ko$/m)
    assert.equal((await lab.run(['-n', W, 'read', '/proc/sys/vm/swappiness'])).stdout.trim(), '0')
  })

  it('a live config change sets sysctls now; new kernel args wait for the next upgrade', async () => {
    const cmdlineBefore = lab.node('w1').cmdline
    const changed = join(lab.dir, 'w-changed.yaml')
    writeFileSync(
      changed,
      lab.renderConfig('worker', {
        sysctls: { 'vm.swappiness': '7' },
        modules: ['tcp_bbr'],
        extraKernelArgs: ['iommu=pt'],
      }),
    )
    const live = await lab.run(['-n', W, 'apply-config', '-f', changed])
    assert.equal(live.code, 0, live.stderr)
    assert.match(live.stderr, /Applied configuration without a reboot/)
    await lab.until(
      'vm.swappiness 7',
      async () => (await lab.run(['-n', W, 'read', '/proc/sys/vm/swappiness'])).stdout.trim() === '7',
    )
    assert.equal(lab.node('w1').cmdline, cmdlineBefore)
    assert.doesNotMatch((await lab.run(['-n', W, 'read', '/proc/cmdline'])).stdout, /iommu=pt/)
    const boot = (await lab.bootId(W))!
    const up = await lab.run(['-n', W, 'upgrade', '--image', 'ghcr.io/siderolabs/installer:v1.10.3', '--wait=false'])
    assert.equal(up.code, 0, up.stderr)
    await lab.waitNewBoot(W, boot)
    assert.match((await lab.run(['-n', W, 'read', '/proc/cmdline'])).stdout, /iommu=pt/)
    const dry = await lab.run(['-n', W, 'apply-config', '-f', changed, '--dry-run'])
    assert.equal(dry.code, 0, dry.stderr)
    assert.match(dry.stderr, /^Dry run summary:\nApplied configuration without a reboot \(skipped in dry-run\)\.\n/)
    assert.match(dry.stderr, /No changes\./)
  })

  it('ls -l: owner and mode as a chown/chmod on the node set them, root otherwise', async () => {
    const root = join(lab.dir, 'nodes', 'w1', 'root')
    mkdirSync(join(root, 'var/mnt/ledger'), { recursive: true })
    setOwner(root, '/var/mnt/ledger', { uid: 1000, gid: 1000 })
    setOwner(root, '/var/mnt/ledger', { mode: '0750' })
    const r = await lab.run(['-n', W, 'ls', '-l', '/var/mnt/ledger'])
    assert.equal(r.code, 0, r.stderr)
    // what the runbooks and checks parse (checks/engine/sources.ts), as from a real node
    assert.deepEqual(ownerFromLs(r.stdout, W), { uid: 1000, gid: 1000, mode: 'drwxr-x---' })
    const row = parseTable(r.stdout).find((x) => x.NAME === '.')!
    assert.match(row.LASTMOD!, /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$/, 'Go "Jan _2 15:04:05"')
    const proc = await lab.run(['-n', W, 'ls', '-l', '/proc'])
    assert.equal(ownerFromLs(proc.stdout, W)?.uid, 0)
  })

  it('multi-node: the healthy node answers, the one that is down is reported, exit 1', async () => {
    await setDown('w1', W, true)
    const r = await lab.run(['-n', `${CP},${W}`, 'get', 'machinestatus'])
    await setDown('w1', W, false)
    assert.equal(r.code, 1)
    const t = rows(r.stdout)
    assert.deepEqual(t[0]!.slice(0, 4), ['NODE', 'NAMESPACE', 'TYPE', 'ID'])
    assert.deepEqual(
      t.slice(1).map((x) => x[0]),
      [CP],
      `${r.stdout}${r.stderr}`,
    )
    assert.match(r.stderr, new RegExp(`${W.replaceAll('.', '\\.')}.*connection refused`))
  })

  it('a talosconfig from another CA is refused once configured', async () => {
    const other = join(lab.dir, 'other-secrets.yaml')
    assert.equal((await lab.run(['gen', 'secrets', '-o', other])).code, 0)
    const gen = join(lab.dir, 'other')
    const g = await lab.run(['gen', 'config', 'machinestest', `https://${CP}:6443`, '--with-secrets', other, '-o', gen])
    assert.equal(g.code, 0, g.stderr)
    const tc = join(lab.dir, 'other-talosconfig')
    copyFileSync(join(gen, 'talosconfig'), tc)
    const r = await lab.run(['--talosconfig', tc, '-e', CP, '-n', CP, 'version'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /x509: certificate signed by unknown authority|authentication handshake failed/)
    const ok = await lab.run(['-n', CP, 'version'])
    assert.equal(ok.code, 0, ok.stderr)
  })
})
