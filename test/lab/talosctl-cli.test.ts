// The lab talosctl's command line, formats and error rules (no etcd needed): gen secrets/config with real PKI,
// tabwriter output against the real samples, maintenance/CA/fault connection errors, apply-config semantics.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { X509Certificate, createPublicKey } from 'node:crypto'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { createTestLab, runTalosctl, type TestLab } from '../../lab/talosctl/testlab.ts'
import { table } from '../../lab/talosctl/tabwriter.ts'
import { setOwner } from '../../lab/file-owners.ts'
import { ownerFromLs } from '../../checks/engine/sources.ts'
import { parseTable } from '../../lib/talos/parse.ts'

const P = '127.0.51'
const SAMPLES = new URL('../fixtures/samples/talosctl/', import.meta.url)
let lab: TestLab
const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/))
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8')

describe('lab talosctl CLI', { timeout: 120_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1, cluster: 'clitest' })
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('tabwriter reproduces the real etcd status table (docs strip trailing blanks)', () => {
    const sample = readFileSync(new URL('etcd-status-3-nodes.txt', SAMPLES), 'utf8')
    const cells = sample
      .trimEnd()
      .split('\n')
      .map((l) => l.split(/\s{2,}/))
    // rebuild the rows as talosctl prints them: every column tab-terminated, the empty ERRORS cell last
    const out = table(cells.map((c, i) => (i === 0 ? c : [...c, ''])))
    assert.equal(
      out
        .split('\n')
        .map((l) => l.trimEnd())
        .join('\n')
        .trimEnd(),
      sample.trimEnd(),
    )
  })

  it('gen secrets writes a 0600 bundle in the real layout with real CAs and tokens', () => {
    assert.equal(statSync(lab.secretsFile).mode & 0o777, 0o600)
    const b = parseYaml(readFileSync(lab.secretsFile, 'utf8'))
    assert.deepEqual(Object.keys(b), ['cluster', 'secrets', 'trustdinfo', 'certs'])
    assert.deepEqual(Object.keys(b.certs), ['etcd', 'k8s', 'k8saggregator', 'k8sserviceaccount', 'os'])
    assert.match(b.secrets.bootstraptoken, /^[a-z0-9]{6}\.[a-z0-9]{16}$/)
    assert.match(b.trustdinfo.token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/)
    assert.equal(Buffer.from(b.secrets.secretboxencryptionsecret, 'base64').length, 32)
    const os = new X509Certificate(unb64(b.certs.os.crt))
    assert.equal(os.ca, true)
    assert.equal(os.publicKey.asymmetricKeyType, 'ed25519')
    assert.equal(new X509Certificate(unb64(b.certs.etcd.crt)).ca, true)
    assert.equal(createPublicKey(unb64(b.certs.k8sserviceaccount.key)).asymmetricKeyType, 'ec')
  })

  it('gen config --output-types talosconfig: 0600, os:admin client cert signed by the OS CA', async () => {
    assert.equal(statSync(lab.talosconfig).mode & 0o777, 0o600)
    const tc = parseYaml(readFileSync(lab.talosconfig, 'utf8'))
    assert.equal(tc.context, 'clitest')
    const ctx = tc.contexts.clitest
    assert.deepEqual(ctx.endpoints, [`${P}.11`])
    assert.deepEqual(ctx.nodes, [`${P}.11`])
    const ca = new X509Certificate(unb64(ctx.ca))
    const crt = new X509Certificate(unb64(ctx.crt))
    assert.ok(crt.verify(ca.publicKey))
    assert.match(crt.subject, /O=os:admin/)
    const again = await lab.run([
      'gen',
      'config',
      'clitest',
      'https://x:6443',
      '--with-secrets',
      lab.secretsFile,
      '--output-types',
      'talosconfig',
      '-o',
      lab.talosconfig,
    ])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /already exists, use --force to overwrite/)
  })

  it('maintenance mode: --insecure answers without NODE, secure calls fail TLS verification', async () => {
    const v = await lab.run(['-n', `${P}.11`, 'version', '--insecure'])
    assert.equal(v.code, 0, v.stderr)
    assert.match(v.stdout, /^Server:\n\tNODE:        127\.0\.51\.11\n\tTag:         v1\.10\.3$/m)
    const ms = await lab.run(['-n', `${P}.11`, 'get', 'machinestatus', '--insecure', '-o', 'json'])
    assert.equal(ms.code, 0, ms.stderr)
    const j = JSON.parse(ms.stdout)
    assert.deepEqual(Object.keys(j), ['metadata', 'node', 'spec'])
    assert.equal(j.node, '')
    assert.equal(j.metadata.type, 'MachineStatuses.runtime.talos.dev')
    assert.equal(j.spec.stage, 'maintenance')
    const secure = await lab.run(['-n', `${P}.11`, 'get', 'disks'])
    assert.equal(secure.code, 1)
    assert.match(
      secure.stderr,
      /^rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"/,
    )
  })

  it('unknown hosts, downed and slow nodes fail as dead hosts do', async () => {
    const unknown = await lab.run(['-e', `${P}.99`, '-n', `${P}.99`, 'version'])
    assert.equal(unknown.code, 1)
    assert.match(
      unknown.stderr,
      /error getting version: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 127\.0\.51\.99:50000: connect: no route to host"/,
    )
    lab.update('w1', (n) => (n.faults.down = true))
    const down = await lab.run(['-n', `${P}.21`, 'get', 'disks', '--insecure'])
    assert.equal(down.code, 1)
    assert.match(down.stderr, /dial tcp 127\.0\.51\.21:50000: connect: connection refused/)
    lab.update('w1', (n) => delete n.faults.down)
  })

  it('apply-config: install from maintenance, then live sysctls and upgrade-only kernel args', async () => {
    const cpCfg = join(lab.dir, 'cp.yaml')
    writeFileSync(cpCfg, lab.renderConfig('controlplane', { sysctls: { 'vm.swappiness': '1' } }))
    const wCfg = join(lab.dir, 'w.yaml')
    writeFileSync(wCfg, lab.renderConfig('worker', { sysctls: { 'vm.swappiness': '0' }, modules: ['tcp_bbr'] }))
    for (const [addr, f] of [
      [`${P}.11`, cpCfg],
      [`${P}.21`, wCfg],
    ]) {
      const r = await lab.run(['-n', addr, 'apply-config', '--insecure', '-f', f])
      assert.equal(r.code, 0, r.stderr)
    }
    assert.equal(statSync(join(lab.dir, 'nodes/w1/config.yaml')).mode & 0o777, 0o600)
    const mods = await lab.run(['-n', `${P}.21`, '-e', `${P}.11`, 'read', '/proc/modules'])
    assert.equal(mods.code, 0, mods.stderr)
    // tcp_bbr is built into the Talos kernel (CONFIG_TCP_CONG_BBR=y): loading it is a no-op, /proc/modules never lists it
    assert.doesNotMatch(mods.stdout, /^tcp_bbr /m)
    const builtin = await lab.run([
      '-n',
      `${P}.21`,
      '-e',
      `${P}.11`,
      'read',
      '/usr/lib/modules/6.12.28-talos/modules.builtin',
    ])
    assert.match(builtin.stdout, /^kernel\/net\/ipv4\/tcp_bbr\.ko$/m)
    const cmdlineBefore = lab.node('w1').cmdline
    const changed = join(lab.dir, 'w2.yaml')
    writeFileSync(
      changed,
      lab.renderConfig('worker', {
        sysctls: { 'vm.swappiness': '7' },
        modules: ['tcp_bbr'],
        extraKernelArgs: ['iommu=pt'],
      }),
    )
    const live = await lab.run(['-n', `${P}.21`, 'apply-config', '-f', changed])
    assert.equal(live.code, 0, live.stderr)
    assert.match(live.stderr, /Applied configuration without a reboot/)
    assert.match(live.stderr, /next upgrade/)
    assert.equal(lab.node('w1').cmdline, cmdlineBefore)
    const sys = await lab.run(['-n', `${P}.21`, 'get', 'sysctls', '-o', 'yaml'])
    assert.match(sys.stdout, /id: proc\.sys\.vm\.swappiness[\s\S]*current: "?7"?/)
    const up = await lab.run([
      '-n',
      `${P}.21`,
      'upgrade',
      '--image',
      'ghcr.io/siderolabs/installer:v1.10.3',
      '--wait=false',
    ])
    assert.equal(up.code, 0, up.stderr)
    assert.match(lab.node('w1').cmdline, /iommu=pt/)
    const dry = await lab.run(['-n', `${P}.21`, 'apply-config', '-f', changed, '--dry-run'])
    assert.match(
      dry.stderr,
      /^Dry run summary:\nApplied configuration without a reboot \(skipped in dry-run\)\.\nConfig diff:\n\nNo changes\./,
    )
  })

  it('ls -l: talosctl v1.10.3 columns; owner and mode as a chown/chmod on the node set them, root otherwise', async () => {
    const root = join(lab.dir, 'nodes', 'w1', 'root')
    mkdirSync(join(root, 'var/mnt/ledger'), { recursive: true })
    setOwner(root, '/var/mnt/ledger', { uid: 1000, gid: 1000 })
    setOwner(root, '/var/mnt/ledger', { mode: '0750' })
    const r = await lab.run(['-n', `${P}.21`, 'ls', '-l', '/var/mnt/ledger'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.stdout.split('\n')[0]!.trim().split(/\s+/), [
      'NODE',
      'MODE',
      'UID',
      'GID',
      'SIZE(B)',
      'LASTMOD',
      'LABEL',
      'NAME',
    ])
    // what the runbooks and checks parse (lib/checks/sources.ts), as from a real node
    assert.deepEqual(ownerFromLs(r.stdout, `${P}.21`), { uid: 1000, gid: 1000, mode: 'drwxr-x---' })
    const row = parseTable(r.stdout).find((x) => x.NAME === '.')!
    assert.match(row.LASTMOD!, /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$/, 'Go "Jan _2 15:04:05"')
    assert.equal(row.LABEL, '')
    const proc = await lab.run(['-n', `${P}.21`, 'ls', '-l', '/proc'])
    assert.deepEqual(ownerFromLs(proc.stdout, `${P}.21`)?.uid, 0)
  })

  it('multi-node get: healthy nodes answer, the failed one is reported, exit 1', async () => {
    lab.update('w1', (n) => (n.faults.down = true))
    const r = await lab.run(['-n', `${P}.11,${P}.21`, 'get', 'machinestatus'])
    lab.update('w1', (n) => delete n.faults.down)
    assert.equal(r.code, 1)
    const t = rows(r.stdout)
    assert.deepEqual(t[0], ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION', 'STAGE', 'READY'])
    assert.deepEqual(
      t.slice(1).map((x) => x[0]),
      [`${P}.11`],
    )
    assert.match(
      r.stderr,
      /^1 error occurred:\n\t\* rpc error: code = Unavailable .*127\.0\.51\.21:50000: connect: connection refused"\n\n\n$/,
    )
  })

  it('a talosconfig from another CA is refused once configured', async () => {
    const other = join(lab.dir, 'other-secrets.yaml')
    assert.equal((await lab.run(['gen', 'secrets', '-o', other])).code, 0)
    const tc = join(lab.dir, 'other-talosconfig')
    assert.equal(
      (
        await lab.run([
          'gen',
          'config',
          'clitest',
          'https://x:6443',
          '--with-secrets',
          other,
          '--output-types',
          'talosconfig',
          '-o',
          tc,
          '-e',
          `${P}.11`,
        ])
      ).code,
      0,
    )
    const r = await lab.run(['--talosconfig', tc, '-n', `${P}.11`, 'get', 'hostname'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /x509: certificate signed by unknown authority/)
    const ok = await lab.run(['-n', `${P}.11`, 'get', 'hostname'])
    assert.equal(ok.code, 0, ok.stderr)
    assert.deepEqual(rows(ok.stdout)[1], [`${P}.11`, 'network', 'HostnameStatus', 'hostname', '1', 'cp1'])
  })

  it('kubeconfig writes a 0600 admin kubeconfig for the cluster', async () => {
    const out = join(lab.dir, 'kubeconfig')
    const r = await lab.run(['-n', `${P}.11`, 'kubeconfig', out])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(statSync(out).mode & 0o777, 0o600)
    const kc = parseYaml(readFileSync(out, 'utf8'))
    assert.equal(kc['current-context'], 'admin@clitest')
    const again = await lab.run(['-n', `${P}.11`, 'kubeconfig', out, '--merge=false'])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /already exists, use --force to overwrite/)
  })

  it('cobra-style errors: unknown command, unknown flag, wrong arg count', async () => {
    const c = await runTalosctl(['frobnicate'], lab.env)
    assert.equal(c.code, 1)
    assert.match(c.stderr, /^unknown command "frobnicate" for "talosctl"\n/)
    const f = await runTalosctl(['get', 'disks', '--nope'], lab.env)
    assert.equal(f.code, 1)
    assert.match(f.stderr, /^unknown flag: --nope\n\nUsage:\n  talosctl get <type> \[<id>\] \[flags\]/)
    const a = await runTalosctl(['read'], lab.env)
    assert.equal(a.code, 1)
    assert.match(a.stderr, /^accepts 1 arg\(s\), received 0\n/)
    const s = await runTalosctl(['etcd', 'nosuch'], lab.env)
    assert.match(s.stderr, /^unknown command "nosuch" for "talosctl etcd"/)
  })
})
