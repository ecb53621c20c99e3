// The lab rescue hosts over real SSH with ssh2 (what the runbooks use): host key pinning against the
// fingerprint file, the simulated rescue commands, streaming an image to a disk and booting it.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Client } from 'ssh2'
import { isAlive, portOpen } from '../../lab/processes.ts'
import { REPO_ROOT, type LabCluster, type LabNode } from '../../lab/state.ts'

const tmp = mkdtempSync(join(tmpdir(), 'rescue-ssh-'))
const LAB = join(tmp, 'lab')
const PORT = 2243
const INV = join(tmp, 'lab.yaml')
writeFileSync(
  INV,
  `cluster:
  name: rescue-lab
  target: lab
  endpoint: https://127.0.43.10:6443
  talosVersion: v1.10.3
defaults:
  rescue: { user: root, port: ${PORT} }
nodes:
  - { name: cp1, address: 127.0.43.11, role: controlplane, installDisk: /dev/sda, lab: { hardware: controlplane } }
  - { name: v1, address: 127.0.43.21, role: worker, profile: validator, installDisk: /dev/nvme0n1, lab: { hardware: validator-2socket } }
`,
)

function lab(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'lab/cli.ts'), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, TALOS_LAB_DIR: LAB } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}
const node = (name: string) => JSON.parse(readFileSync(join(LAB, 'nodes', name, 'node.json'), 'utf8')) as LabNode
const fingerprintFile = (name: string) => readFileSync(join(LAB, 'ssh', name, 'host_key.fingerprint'), 'utf8').trim()
const commandsLog = (name: string) => {
  const f = join(LAB, 'ssh', name, 'commands.log')
  return existsSync(f) ? readFileSync(f, 'utf8') : ''
}
/** `SHA256:<base64, no padding>` of the raw host key blob ssh2 hands the verifier: ssh-keygen -lf's format. */
const fingerprintOf = (key: Buffer) => 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '')
const IMAGE = () => join(LAB, 'images', 'metal-amd64.raw')
const sha256File = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex')

interface Conn {
  client: Client
  seen: string[]
}
function connect(host: string, expected: string): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const client = new Client()
    const seen: string[] = []
    client
      .once('ready', () => resolve({ client, seen }))
      .once('error', (e) => reject(Object.assign(e, { seen })))
      .connect({
        host,
        port: PORT,
        username: 'root',
        privateKey: readFileSync(join(LAB, 'ssh', 'id_ed25519')),
        readyTimeout: 20000,
        hostVerifier: (key: Buffer) => {
          seen.push(fingerprintOf(key))
          return fingerprintOf(key) === expected
        },
      })
  })
}
function exec(c: Conn, command: string, stdin?: Readable): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    c.client.exec(command, (err, ch) => {
      if (err) return reject(err)
      let stdout = ''
      let stderr = ''
      ch.on('data', (d: Buffer) => (stdout += d))
      ch.stderr.on('data', (d: Buffer) => (stderr += d))
      ch.once('close', (code: number | null) => resolve({ code: code ?? 255, stdout, stderr }))
      if (stdin) stdin.pipe(ch)
      else ch.end()
    })
  })
}

describe('lab rescue SSH', () => {
  let cp1: Conn
  let v1: Conn
  let pids: number[] = []

  before(async () => {
    const r = await lab(['up', '--inventory', INV])
    assert.equal(r.code, 0, r.stderr)
    pids = (JSON.parse(readFileSync(join(LAB, 'lab.json'), 'utf8')) as LabCluster).processes.map((p) => p.pid)
  })
  after(async () => {
    cp1?.client.end()
    v1?.client.end()
    await lab(['down'])
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    rmSync(tmp, { recursive: true, force: true })
  })

  test('a wrong pinned fingerprint is refused before any command runs', async () => {
    const wrong = 'SHA256:' + Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')
    const logBefore = commandsLog('cp1')
    await assert.rejects(connect('127.0.43.11', wrong), (e: Error & { seen: string[] }) => {
      assert.deepEqual(e.seen, [fingerprintFile('cp1')], 'the verifier saw the real host key')
      return true
    })
    assert.equal(commandsLog('cp1'), logBefore, 'nothing reached the rescue shell')
  })

  test('the operator key connects when the host key matches the fingerprint file (ssh-keygen -lf format)', async () => {
    cp1 = await connect('127.0.43.11', fingerprintFile('cp1'))
    v1 = await connect('127.0.43.21', fingerprintFile('v1'))
    assert.notEqual(fingerprintFile('cp1'), fingerprintFile('v1'), 'each host has its own key')
    const u = await exec(cp1, 'uname -a')
    assert.equal(u.code, 0)
    assert.match(u.stdout, /^Linux rescue \S+ .* x86_64 GNU\/Linux\n$/)
    const os = await exec(cp1, 'cat /etc/os-release')
    assert.match(os.stdout, /^ID=debian$/m)
    assert.match(commandsLog('cp1'), /"uname -a"\n.*"cat \/etc\/os-release"\n$/)
  })

  test('lsblk JSON lists exactly the node hardware disks', async () => {
    for (const [c, name] of [
      [cp1, 'cp1'],
      [v1, 'v1'],
    ] as const) {
      const r = await exec(c, 'lsblk -b -J -o NAME,SIZE,MODEL,SERIAL,TYPE')
      assert.equal(r.code, 0, r.stderr)
      const devs = (
        JSON.parse(r.stdout) as { blockdevices: { name: string; size: number; model: string | null; type: string }[] }
      ).blockdevices
      assert.deepEqual(
        devs.map((d) => [`/dev/${d.name}`, d.size, d.model ?? '', d.type]),
        node(name).hardware.disks.map((d) => [d.dev, d.sizeBytes, d.model, 'disk']),
      )
    }
  })

  test('unknown commands and devices fail like the real tools', async () => {
    const nf = await exec(cp1, 'fdisk -l')
    assert.equal(nf.code, 127)
    assert.equal(nf.stderr, 'sh: 1: fdisk: not found\n')
    const dd = await exec(cp1, 'dd of=/dev/sdz bs=4M', createReadStream(IMAGE()))
    assert.equal(dd.code, 1)
    assert.match(dd.stderr, /dd: failed to open '\/dev\/sdz'/)
    assert.equal(existsSync(join(LAB, 'ssh', 'cp1', 'disks', 'sdz.img')), false)
    const never = await exec(cp1, 'sha256sum /dev/sda')
    assert.equal(never.code, 1, 'a disk never written has nothing to checksum')
  })

  test('dd streams the image to /dev/sda and sha256sum reads back the image checksum', async () => {
    const expected = readFileSync(`${IMAGE()}.sha256`, 'utf8').split(/\s+/)[0]!
    assert.equal(sha256File(IMAGE()), expected)
    const w = await exec(cp1, 'dd of=/dev/sda bs=4M', createReadStream(IMAGE()))
    assert.equal(w.code, 0, w.stderr)
    const size = readFileSync(IMAGE()).length
    assert.match(w.stderr, new RegExp(`^${size} bytes .* copied`, 'm'))
    const s = await exec(cp1, 'sync && sha256sum /dev/sda')
    assert.equal(s.code, 0, s.stderr)
    assert.equal(s.stdout, `${expected}  /dev/sda\n`)
    const h = await exec(cp1, `head -c ${size} /dev/sda | sha256sum`)
    assert.equal(h.stdout, `${expected}  -\n`)
  })

  test('reboot with the image on the disk boots Talos (maintenance) and the rescue sshd goes away', async () => {
    const r = await exec(cp1, 'reboot')
    assert.equal(r.code, 0, r.stderr)
    const n = node('cp1')
    assert.equal(n.stage, 'maintenance')
    assert.equal(n.talosVersion, 'v1.10.3')
    assert.equal(n.installDisk, '/dev/sda')
    const deadline = Date.now() + 10000
    while ((await portOpen('127.0.43.11', PORT)) && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 100))
    assert.equal(await portOpen('127.0.43.11', PORT), false)
    const st = JSON.parse((await lab(['status', '--json'])).stdout) as {
      nodes: { name: string; ssh: { up: boolean } }[]
    }
    assert.equal(st.nodes.find((x) => x.name === 'cp1')!.ssh.up, false)
    assert.equal(st.nodes.find((x) => x.name === 'v1')!.ssh.up, true)
  })

  test('the compressed .zst written as-is does not boot; zstd -dc | dd does', async () => {
    const zst = join(LAB, 'images', 'metal-amd64.raw.zst')
    const raw = await exec(v1, 'dd of=/dev/nvme0n1 bs=4M status=none', createReadStream(zst))
    assert.equal(raw.code, 0)
    assert.equal(raw.stderr, '', 'status=none prints nothing')
    const r1 = await exec(v1, 'reboot')
    assert.equal(r1.code, 0)
    assert.match(r1.stderr, /nothing bootable.*zstd/)
    assert.equal(node('v1').stage, 'off')

    const w = await exec(v1, 'zstd -dc | dd of=/dev/nvme0n1 bs=4M', createReadStream(zst))
    assert.equal(w.code, 0, w.stderr)
    const s = await exec(v1, 'sha256sum /dev/nvme0n1')
    assert.equal(s.stdout.split(' ')[0], sha256File(IMAGE()))
    assert.equal((await exec(v1, 'reboot')).code, 0)
    assert.equal(node('v1').stage, 'maintenance')
    assert.equal(node('v1').installDisk, '/dev/nvme0n1')
  })
})
