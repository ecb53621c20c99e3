// `npm run lab -- up|status|fault|heal|down` end to end, with real sshd (and a real etcd for etcd-crash),
// in a temp lab dir on 127.0.40.x. Everything started is stopped in after(), even when a test fails.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { isAlive, portOpen } from '../../lab/processes.ts'
import { REPO_ROOT, type LabCluster, type LabNode } from '../../lab/state.ts'
import { realTalosctl } from '../../lab/go-builds.ts'

const tmp = mkdtempSync(join(tmpdir(), 'lab-lifecycle-'))
const LAB = join(tmp, 'lab')
const PORT = 2240

const inventory = (target: string) => `cluster:
  name: lifecycle-lab
  target: ${target}
  endpoint: https://127.0.40.10:6443
  talosVersion: v1.10.3
defaults:
  rescue: { user: root, port: ${PORT} }
nodes:
  - { name: cp1, address: 127.0.40.11, role: controlplane, installDisk: /dev/sda, lab: { hardware: controlplane } }
  - { name: w1, address: 127.0.40.21, role: worker, installDisk: /dev/sda, lab: { hardware: worker } }
`
const INV = join(tmp, 'lab.yaml')
const PROD = join(tmp, 'prod.yaml')
writeFileSync(INV, inventory('lab'))
writeFileSync(PROD, inventory('production'))

interface Run {
  code: number
  stdout: string
  stderr: string
}
function lab(args: string[], labDir = LAB): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'lab/cli.ts'), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, TALOS_LAB_DIR: labDir } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}
const node = (name: string) => JSON.parse(readFileSync(join(LAB, 'nodes', name, 'node.json'), 'utf8')) as LabNode
const cluster = () => JSON.parse(readFileSync(join(LAB, 'lab.json'), 'utf8')) as LabCluster
const sshdPid = (name: string) => cluster().processes.find((p) => p.kind === 'sshd' && p.node === name)?.pid
async function statusJson(): Promise<{
  nodes: {
    name: string
    stage: string
    ssh: { up: boolean; pid?: number }
    etcd: { running: boolean }
    faults: Record<string, unknown>
  }[]
}> {
  const r = await lab(['status', '--json'])
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout)
}

describe('lab lifecycle', () => {
  const seenPids = new Set<number>()
  const remember = () => {
    if (!existsSync(join(LAB, 'lab.json'))) return
    for (const p of cluster().processes) seenPids.add(p.pid)
    for (const n of ['cp1', 'w1']) {
      const x = node(n)
      if (x.etcd.pid) seenPids.add(x.etcd.pid)
      if (x.kubeApi.pid) seenPids.add(x.kubeApi.pid)
    }
  }

  before(async () => {
    process.env.TALOS_LAB_DIR = LAB // for the in-process node-services calls below
  })
  after(async () => {
    await lab(['down'])
    for (const pid of seenPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    rmSync(tmp, { recursive: true, force: true })
  })

  test('up refuses an inventory whose target is not lab, and creates nothing', async () => {
    const other = join(tmp, 'prod-lab')
    const r = await lab(['up', '--inventory', PROD], other)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /target is "production"/)
    assert.equal(existsSync(other), false)
  })

  test('up creates the lab state and one listening sshd per node', async () => {
    const r = await lab(['up', '--inventory', INV])
    assert.equal(r.code, 0, r.stderr)
    remember()
    assert.match(r.stdout, /cp1\s+127\.0\.40\.11/)
    const c = cluster()
    assert.deepEqual(c.nodes, ['cp1', 'w1'])
    assert.equal(c.endpoint, 'https://127.0.40.10:6443')
    for (const name of ['cp1', 'w1']) {
      const n = node(name)
      assert.equal(n.stage, 'off')
      assert.ok(n.hardware.disks.some((d) => d.dev === '/dev/sda'))
      assert.equal(n.etcd.clientUrl, `https://${n.address}:2379`)
      assert.match(readFileSync(join(LAB, 'ssh', name, 'host_key.fingerprint'), 'utf8'), /^SHA256:[A-Za-z0-9+/]{43}\n$/)
      const pid = sshdPid(name)
      assert.ok(pid && isAlive(pid), `sshd of ${name} recorded and alive`)
      assert.equal(await portOpen(n.address, PORT), true)
    }
    assert.equal(statSync(join(LAB, 'ssh', 'id_ed25519')).mode & 0o777, 0o600)
    assert.ok(existsSync(join(LAB, 'images', 'metal-amd64.raw')))
  })

  test('up starts the machine API daemon and the Talos API server; a machine that is off has no Talos API', async () => {
    for (const kind of ['machine-api', 'talos-api'] as const) {
      const p = cluster().processes.find((x) => x.kind === kind)
      assert.ok(p && isAlive(p.pid), `no ${kind} process recorded in lab.json`)
    }
    assert.ok(statSync(join(LAB, 'machine-api.sock')).isSocket())
    const r = await new Promise<Run>((resolve) =>
      execFile(
        realTalosctl(),
        ['-n', '127.0.40.11', 'get', 'disks', '--insecure'],
        { cwd: tmp, env: { ...process.env, TALOS_LAB_DIR: LAB } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    )
    assert.equal(r.code, 1)
    assert.match(r.stderr, /dial tcp 127\.0\.40\.11:50000: connect: connection refused/)
  })

  test('status --json reports every node with its rescue sshd up', async () => {
    const s = await statusJson()
    assert.deepEqual(
      s.nodes.map((n) => [n.name, n.stage, n.ssh.up, n.ssh.pid]),
      [
        ['cp1', 'off', true, sshdPid('cp1')],
        ['w1', 'off', true, sshdPid('w1')],
      ],
    )
  })

  test('up on a healthy lab says so and exits 0 without touching it', async () => {
    const before = sshdPid('cp1')
    const r = await lab(['up', '--inventory', INV])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /lab already up/)
    assert.equal(sshdPid('cp1'), before)
  })

  test('unknown node or fault kind is a usage error (exit 2) listing the valid ones', async () => {
    const a = await lab(['fault', 'cp9', 'down'])
    assert.equal(a.code, 2)
    assert.match(a.stderr, /unknown node "cp9".*cp1, w1/)
    const b = await lab(['fault', 'cp1', 'meltdown'])
    assert.equal(b.code, 2)
    assert.match(b.stderr, /down, etcd-crash, slow, api-down/)
    const c = await lab(['heal', 'nope'])
    assert.equal(c.code, 2)
  })

  test('slow sets slowMs (--ms) and heal clears it', async () => {
    assert.equal((await lab(['fault', 'w1', 'slow', '--ms', '1234'])).code, 0)
    assert.equal(node('w1').faults.slowMs, 1234)
    assert.equal((await lab(['fault', 'cp1', 'slow'])).code, 0)
    assert.equal(node('cp1').faults.slowMs, 8000)
    const h = await lab(['heal', 'w1'])
    assert.equal(h.code, 0, h.stderr)
    assert.deepEqual(node('w1').faults, {})
    assert.equal(node('cp1').faults.slowMs, 8000, 'heal touches only its node')
    await lab(['heal', 'cp1'])
  })

  test('down makes the machine unreachable, SSH included; heal brings the rescue sshd back', async () => {
    const old = sshdPid('w1')!
    const r = await lab(['fault', 'w1', 'down'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(node('w1').faults.down, true)
    assert.equal(isAlive(old), false)
    assert.equal((await statusJson()).nodes.find((n) => n.name === 'w1')!.ssh.up, false)
    const h = await lab(['heal', 'w1'])
    assert.equal(h.code, 0, h.stderr)
    remember()
    assert.deepEqual(node('w1').faults, {})
    assert.equal((await statusJson()).nodes.find((n) => n.name === 'w1')!.ssh.up, true)
  })

  test('etcd-crash SIGKILLs the real etcd and keeps it down; heal restarts it from its data dir', async () => {
    const { etcdClient, startEtcd } = await import('../../lab/node-services.ts')
    const { updateNode } = await import('../../lab/state.ts')
    const { generateCa, b64 } = await import('../../lab/pki.ts')
    // make cp1 a configured, bootstrapped control plane running etcd (what 03/04 would have done); the
    // config carries the cluster CA because heal also brings back the lab API server, and the etcd CA its etcd's
    // certificates come from
    const ca = generateCa('kubernetes')
    const etcdCa = generateCa('etcd')
    const pem = (c: { crt: string; key: string }, i = '    ') => `\n${i}crt: ${b64(c.crt)}\n${i}key: ${b64(c.key)}\n`
    const cfg = `version: v1alpha1\nmachine:\n  type: controlplane\ncluster:\n  clusterName: lifecycle-lab\n  controlPlane:\n    endpoint: https://127.0.40.10:6443\n  ca:${pem(ca)}  etcd:\n    ca:${pem(etcdCa, '      ')}`
    writeFileSync(join(LAB, 'nodes', 'cp1', 'config.yaml'), cfg, { mode: 0o600 })
    updateNode('cp1', (n) => {
      n.stage = 'running'
      n.bootstrapped = true
    })
    await startEtcd('cp1', 'new')
    remember()
    const pid = node('cp1').etcd.pid!
    assert.ok(isAlive(pid))
    await etcdClient(node('cp1')).put('drill', 'before-crash')
    // mutual TLS, as Talos runs etcd (client-cert-auth): a client that trusts the etcd CA but has no certificate of
    // its own gets no answer
    const { request } = await import('node:https')
    const trust = readFileSync(join(LAB, 'nodes', 'cp1', 'etcd-pki', 'ca.crt'))
    const anonymous = await new Promise<string>((resolve) => {
      const url = `${node('cp1').etcd.clientUrl}/v3/maintenance/status`
      const req = request(url, { method: 'POST', ca: trust }, (res) => resolve(`answered ${res.statusCode}`))
      req.on('error', (e) => resolve(e.message))
      req.end('{}')
    })
    assert.doesNotMatch(anonymous, /^answered/)

    const r = await lab(['fault', 'cp1', 'etcd-crash'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(isAlive(pid), false)
    assert.equal(node('cp1').faults.etcdCrash, true)
    assert.equal(node('cp1').etcd.pid, undefined)

    const h = await lab(['heal', 'cp1'])
    assert.equal(h.code, 0, h.stderr)
    remember()
    const after = node('cp1')
    assert.deepEqual(after.faults, {})
    assert.ok(after.etcd.pid && after.etcd.pid !== pid && isAlive(after.etcd.pid))
    const kv = await etcdClient(node('cp1')).range('drill')
    assert.equal(kv[0]?.value, 'before-crash', 'restarted from its data dir, not a fresh member')
  })

  test("etcd's concurrency mutex as machined takes it (lab/etcd-mutex.ts): one holder at a time, TryLock refused while held", async () => {
    const { etcdClient } = await import('../../lab/node-services.ts')
    const { openSession, tryLock, withLock } = await import('../../lab/etcd-mutex.ts')
    const c = etcdClient(node('cp1'), 3000)
    const key = 'talos:v1:manifestApplyMutex'
    const order: string[] = []
    let letGo = () => {}
    const held = new Promise<void>((r) => (letGo = r))
    const first = withLock(c, key, async () => {
      order.push('first in')
      await held
      order.push('first out')
    })
    while (!order.length) await new Promise((r) => setTimeout(r, 50))
    const second = withLock(c, key, async () => void order.push('second in'))
    const s = await openSession(c)
    await assert.rejects(tryLock(c, s, key), /mutex: Locked by another session/)
    await s.close()
    await new Promise((r) => setTimeout(r, 1000)) // four of the waiter's polls
    assert.deepEqual(order, ['first in'], 'the second holder waits for the first')
    letGo()
    await Promise.all([first, second])
    assert.deepEqual(order, ['first in', 'first out', 'second in'])
    assert.deepEqual(await c.list(`${key}/`), [], 'every key deleted on unlock')
  })

  test('down stops every recorded process and removes the lab dir; a second down is a no-op', async () => {
    remember()
    assert.ok(seenPids.size >= 2)
    const r = await lab(['down'])
    assert.equal(r.code, 0, r.stderr)
    for (const pid of seenPids) assert.equal(isAlive(pid), false, `pid ${pid} still alive after down`)
    assert.equal(existsSync(LAB), false)
    const again = await lab(['down'])
    assert.equal(again.code, 0)
    assert.match(again.stdout, /no lab running/)
  })
})
