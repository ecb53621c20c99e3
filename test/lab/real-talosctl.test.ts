// The real talosctl v1.10.3 (built by the preflight, lab/go-builds.ts) against the lab's Talos API server
// (lab/talos-api: Talos's own gRPC services and resource types in front of the lab's machine model). Each test states
// what a real machine answers, with the source that says so, and fails when the lab answers otherwise.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestLab, versionFromAll, type TestLab } from '../../lab/testlab.ts'

const P = '127.0.53'
const CP = `${P}.11`
const W = `${P}.21`
let lab: TestLab

describe('the real talosctl against the lab Talos API', { timeout: 180_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1, cluster: 'realtest' })
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('is talosctl v1.10.3 itself', async () => {
    const r = await lab.run(['version', '--client', '--short'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Talos v1\.10\.3/)
  })

  it('maintenance mode refuses `version --insecure`: Version needs os:admin there (maintenance/server.go assertAdminRole)', async () => {
    const r = await lab.run(['-n', CP, 'version', '--insecure'])
    assert.equal(r.code, 1, r.stdout)
    assert.match(r.stderr, /API is not implemented in maintenance mode/)
  })

  it("maintenance mode answers `get disks --insecure` with Talos's Disk resource and columns", async () => {
    const r = await lab.run(['-n', CP, 'get', 'disks', '--insecure'])
    assert.equal(r.code, 0, r.stderr)
    const header = r.stdout.split('\n')[0]!
    // block.Disk's print columns (pkg/machinery/resources/block/disk.go ResourceDefinition)
    for (const col of [
      'NODE',
      'NAMESPACE',
      'TYPE',
      'ID',
      'VERSION',
      'SIZE',
      'READ ONLY',
      'TRANSPORT',
      'ROTATIONAL',
      'WWID',
      'MODEL',
      'SERIAL',
    ])
      assert.ok(header.includes(col), `${col} in ${header}`)
    assert.match(r.stdout, /\bDisk\b/)
    assert.match(r.stdout, /\bsda\b|\bnvme0n1\b/)
  })

  it('a maintenance machine needs --insecure: without it TLS fails as against an unknown authority', async () => {
    const r = await lab.run(['--talosconfig', lab.talosconfig, '-e', CP, '-n', CP, 'version'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /certificate signed by unknown authority|authentication handshake failed/)
  })

  describe('configured by the real talosctl (gen config, apply-config --insecure)', () => {
    let gen: string
    const as = (args: string[]) => lab.run(['--talosconfig', join(gen, 'talosconfig'), '-e', CP, ...args])
    before(async () => {
      gen = join(lab.dir, 'gen')
      const secrets = join(lab.dir, 'real-secrets.yaml')
      const s = await lab.run(['gen', 'secrets', '-o', secrets])
      assert.equal(s.code, 0, s.stderr)
      const g = await lab.run(['gen', 'config', 'realtest', `https://${CP}:6443`, '--with-secrets', secrets, '-o', gen])
      assert.equal(g.code, 0, g.stderr)
      for (const [addr, file] of [
        [CP, 'controlplane.yaml'],
        [W, 'worker.yaml'],
      ] as const) {
        const a = await lab.run(['apply-config', '--insecure', '-n', addr, '--file', join(gen, file)])
        assert.equal(a.code, 0, a.stderr)
      }
      await lab.until(
        'both machines configured',
        async () => versionFromAll(await as(['-n', `${CP},${W}`, 'version']), [CP, W]),
        60_000,
      )
    })

    it('version answers through apid with each node in the NODE line', async () => {
      const r = await as(['-n', `${CP},${W}`, 'version'])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, new RegExp(`NODE:\\s+${CP.replaceAll('.', '\\.')}`))
      assert.match(r.stdout, new RegExp(`NODE:\\s+${W.replaceAll('.', '\\.')}`))
      assert.equal(r.stdout.match(/Tag:\s+v1\.10\.3/g)?.length, 3, r.stdout) // the client's and two servers'
    })

    it('apply-config --insecure on a configured machine fails: its apid requires a client certificate', async () => {
      const r = await lab.run(['apply-config', '--insecure', '-n', CP, '--file', join(gen, 'controlplane.yaml')])
      assert.equal(r.code, 1)
      // TLS 1.3: the server refuses the missing certificate after the client's handshake is done, so the client sees
      // the refusal or the closed connection, whichever comes first
      assert.match(r.stderr, /code = Unavailable .*(certificate required|broken pipe|connection reset|EOF)/)
    })

    it('`get mountstatus` is the block MountStatus: the runtime one has no automatic aliases (resources/runtime/mount_status.go)', async () => {
      const r = await as(['-n', CP, 'get', 'mountstatus', '-o', 'yaml'])
      assert.equal(r.code, 0, r.stderr)
      const rd = await as(['-n', CP, 'get', 'rd', 'mountstatuses.runtime.talos.dev', '-o', 'yaml'])
      assert.equal(rd.code, 0, rd.stderr)
      assert.match(rd.stdout, /skipAutomaticAliases: true/)
      const rdBlock = await as(['-n', CP, 'get', 'rd', 'mountstatuses.block.talos.dev', '-o', 'yaml'])
      assert.match(rdBlock.stdout, /- mountstatus\n/)
    })

    it('`get machineconfig` is two resources, persistent first, then v1alpha1 (resources/config/machine_config.go)', async () => {
      const r = await as(['-n', CP, 'get', 'machineconfig'])
      assert.equal(r.code, 0, r.stderr)
      const ids = r.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/)[3])
      assert.deepEqual(ids, ['persistent', 'v1alpha1'])
    })

    it('etcd cannot be restarted through the API; kubelet can (system/system.go APIRestart, services/kubelet.go)', async () => {
      const e = await as(['-n', CP, 'service', 'etcd', 'restart'])
      assert.equal(e.code, 1)
      assert.match(e.stderr, /service "etcd" doesn't support (restart|start) operation via API/)
      const k = await as(['-n', W, 'service', 'kubelet', 'restart'])
      assert.equal(k.code, 0, k.stderr)
      assert.match(k.stdout, /Service "kubelet" restarted/)
    })

    it('bootstrap, then `etcd status -n cp,worker` exits 0 with one row and a warning for the worker', async () => {
      const b = await as(['-n', CP, 'bootstrap'])
      assert.equal(b.code, 0, b.stderr)
      await lab.until('etcd', async () => (await as(['-n', CP, 'etcd', 'status'])).code === 0, 60_000)
      const r = await as(['-n', `${CP},${W}`, 'etcd', 'status'])
      assert.equal(r.code, 0, r.stderr)
      const rows = r.stdout.trim().split('\n').slice(1)
      assert.equal(rows.length, 1, r.stdout)
      assert.ok(rows[0]!.startsWith(CP))
      assert.match(r.stderr, /WARNING: .*etcd status is only available on control plane nodes/s)
      const again = await as(['-n', CP, 'bootstrap'])
      assert.equal(again.code, 1)
      assert.match(again.stderr, /AlreadyExists|etcd data directory is not empty/)
    })

    it('kubeconfig is generated by the machine from its config (pkg/kubeconfig GenerateAdmin)', async () => {
      const target = join(lab.dir, 'kubeconfig')
      const r = await as(['-n', CP, 'kubeconfig', target])
      assert.equal(r.code, 0, r.stderr)
      const kc = readFileSync(target, 'utf8')
      assert.match(kc, /admin@realtest/)
      assert.match(kc, new RegExp(`server: https://${CP.replaceAll('.', '\\.')}:6443`))
    })

    it('read, ls and mounts answer from the machine', async () => {
      const r = await as(['-n', CP, 'read', '/proc/cmdline'])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /talos/)
      const ls = await as(['-n', CP, 'ls', '-l', '/proc'])
      assert.equal(ls.code, 0, ls.stderr)
      assert.match(ls.stdout.split('\n')[0]!, /NODE\s+MODE\s+UID\s+GID\s+SIZE\(B\)\s+LASTMOD\s+LABEL\s+NAME/)
      const m = await as(['-n', CP, 'mounts'])
      assert.equal(m.code, 0, m.stderr)
      assert.match(m.stdout, /MOUNTED ON/)
    })
  })
})
