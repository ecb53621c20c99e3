// The lab talosctl's upgrade path as 09-upgrade uses it (127.0.98.x, one control plane with real etcd, one worker):
// upgrade reboots into the image's version and the config's kernel args, an unknown image is refused before
// anything happens, `get extensions` names the Image Factory schematic, a boot-fail fault brings the node back on
// its previous installation, `rollback` swaps installations, a control plane's real etcd restarts, and
// `etcd snapshot` writes a 0600 snapshot of the real etcd.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestLab, type TestLab } from '../../lab/talosctl/testlab.ts'
import { REPO_ROOT } from '../../lab/state.ts'

const P = '127.0.98'
const SCHEMATIC = '376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba'
const factory = (tag: string) => `factory.talos.dev/installer/${SCHEMATIC}:${tag}`
let lab: TestLab

const labCli = (...args: string[]) => {
  const r = spawnSync('npx', ['tsx', 'lab/cli.ts', ...args], { cwd: REPO_ROOT, env: lab.env, encoding: 'utf8' })
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
}
const tagOf = async (addr: string) =>
  /Tag:\s+(\S+)/.exec((await lab.run(['-n', addr, 'version'])).stdout.split('Server:')[1] ?? '')?.[1]

describe('lab talosctl upgrade, rollback, extensions, etcd snapshot', { timeout: 180_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1, cluster: 'upgradetest' })
    for (const n of lab.nodes) {
      const f = join(lab.dir, `${n.name}.yaml`)
      writeFileSync(f, lab.renderConfig(n.role, { extraKernelArgs: n.role === 'worker' ? ['hugepages=0:4'] : [] }), {
        mode: 0o600,
      })
      const r = await lab.run(['-n', n.address, 'apply-config', '--insecure', '-f', f])
      assert.equal(r.code, 0, `${n.name}: ${r.stderr}`)
    }
    const b = await lab.run(['-n', `${P}.11`, 'bootstrap'])
    assert.equal(b.code, 0, b.stderr)
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('an installer image the registry does not have is refused, and the node keeps running what it ran', async () => {
    const r = await lab.run(['-n', `${P}.21`, 'upgrade', '--image', factory('v1.10.99'), '--wait=false'])
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      new RegExp(`error validating installer image "${factory('v1.10.99').replace(/[.]/g, '\\.')}": .*not found`),
    )
    assert.equal(await tagOf(`${P}.21`), 'v1.10.3')
    assert.equal(lab.node('w1').previousInstall, undefined)
  })

  it('upgrade reboots the worker into the image version, its schematic and the config kernel args', async () => {
    const before = (await lab.run(['-n', `${P}.21`, 'get', 'extensions'])).stdout
    assert.doesNotMatch(before, /schematic/, 'the ghcr.io installer carries no schematic')
    const r = await lab.run(['-n', `${P}.21`, 'upgrade', '--image', factory('v1.10.4'), '--wait=false'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(await tagOf(`${P}.21`), 'v1.10.4')
    const ext = await lab.run(['-n', `${P}.21`, 'get', 'extensions'])
    assert.equal(ext.code, 0, ext.stderr)
    assert.match(
      ext.stdout,
      new RegExp(`^${P.replace(/\./g, '\\.')}\\.21 +runtime +ExtensionStatus +0 +1 +schematic +${SCHEMATIC} *$`, 'm'),
    )
    const cmdline = (await lab.run(['-n', `${P}.21`, 'read', '/proc/cmdline'])).stdout
    assert.match(cmdline, /hugepages=0:4/)
  })

  it('a boot-fail fault: the upgraded image does not boot and the node comes back on its previous installation', async () => {
    labCli('fault', 'w1', 'boot-fail')
    const r = await lab.run(['-n', `${P}.21`, 'upgrade', '--image', factory('v1.10.5'), '--wait=false'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(await tagOf(`${P}.21`), 'v1.10.4')
    labCli('heal', 'w1')
  })

  it('rollback boots the other installation (after the failed boot: the image that failed); a node never upgraded has none', async () => {
    const r = await lab.run(['-n', `${P}.21`, 'rollback'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, '')
    assert.equal(await tagOf(`${P}.21`), 'v1.10.5')
    const back = await lab.run(['-n', `${P}.21`, 'rollback'])
    assert.equal(back.code, 0, back.stderr)
    assert.equal(await tagOf(`${P}.21`), 'v1.10.4')
    const none = await lab.run(['-n', `${P}.11`, 'rollback'])
    assert.equal(none.code, 1)
    assert.match(
      none.stderr,
      /^error executing rollback: 1 error occurred:\n\t\* 127\.0\.98\.11: rpc error: code = Unknown desc = previous UKI not found\n/,
    )
  })

  it('etcd snapshot writes the real etcd snapshot, 0600, and says where', async () => {
    const file = join(lab.dir, 'etcd.db')
    const r = await lab.run(['-n', `${P}.11`, 'etcd', 'snapshot', file])
    assert.equal(r.code, 0, r.stderr)
    const size = statSync(file).size
    assert.equal(r.stdout, `etcd snapshot saved to "${file}" (${size} bytes)\n`)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(size % 512, 32, 'etcd appends a sha256 to the bolt file')
    assert.equal(readFileSync(file).subarray(16, 20).readUInt32LE(0), 0xed0cdaed, 'a bbolt file (magic at offset 16)')
    const worker = await lab.run(['-n', `${P}.21`, 'etcd', 'snapshot', join(lab.dir, 'w.db')])
    assert.equal(worker.code, 1)
  })

  it('upgrading the control plane restarts its real etcd, which answers again on the new version', async () => {
    const pid = lab.node('cp1').etcd.pid
    const r = await lab.run(['-n', `${P}.11`, 'upgrade', '--image', factory('v1.10.4'), '--wait=false'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(await tagOf(`${P}.11`), 'v1.10.4')
    assert.notEqual(lab.node('cp1').etcd.pid, pid)
    let s = await lab.run(['-n', `${P}.11`, 'etcd', 'status'])
    for (let i = 0; i < 40 && s.code !== 0; i++) {
      await new Promise((res) => setTimeout(res, 250))
      s = await lab.run(['-n', `${P}.11`, 'etcd', 'status'])
    }
    assert.equal(s.code, 0, s.stderr)
  })
})
