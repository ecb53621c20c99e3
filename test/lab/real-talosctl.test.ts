// The real talosctl v1.10.3 (built by the preflight, lab/go-builds.ts) against the lab's Talos API server
// (lab/talos-api: Talos's own gRPC services and resource types in front of the lab's machine model). Each test states
// what a real machine answers, with the source that says so, and fails when the lab answers otherwise.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createTestLab, type RunResult, type TestLab } from '../../lab/talosctl/testlab.ts'
import { realTalosctl } from '../../lab/go-builds.ts'
import { startTalosApi, startTalosctlDaemon } from '../../lab/talosctl-daemon.ts'
import { portOpen } from '../../lab/processes.ts'

const P = '127.0.53'
const CP = `${P}.11`
let lab: TestLab
let talosctl: string

function real(args: string[], env: NodeJS.ProcessEnv = lab.env): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(talosctl, args, { env })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('the real talosctl against the lab Talos API', { timeout: 180_000 }, () => {
  const saved = process.env.TALOS_LAB_DIR
  before(async () => {
    talosctl = realTalosctl()
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1, cluster: 'realtest' })
    process.env.TALOS_LAB_DIR = lab.dir
    await startTalosctlDaemon()
    await startTalosApi()
    await waitFor('the maintenance API', () => portOpen(CP, 50000))
  })
  after(async () => {
    await lab?.cleanup()
    if (saved === undefined) delete process.env.TALOS_LAB_DIR
    else process.env.TALOS_LAB_DIR = saved
  })

  it('is talosctl v1.10.3 itself', async () => {
    const r = await real(['version', '--client', '--short'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Talos v1\.10\.3/)
  })

  it('maintenance mode refuses `version --insecure`: Version needs os:admin there (maintenance/server.go assertAdminRole)', async () => {
    const r = await real(['-n', CP, 'version', '--insecure'])
    assert.equal(r.code, 1, r.stdout)
    assert.match(r.stderr, /API is not implemented in maintenance mode/)
  })

  it('maintenance mode answers `get disks --insecure` with Talos\'s Disk resource and columns', async () => {
    const r = await real(['-n', CP, 'get', 'disks', '--insecure'])
    assert.equal(r.code, 0, r.stderr)
    const header = r.stdout.split('\n')[0]!
    // block.Disk's print columns (pkg/machinery/resources/block/disk.go ResourceDefinition)
    for (const col of ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION', 'SIZE', 'READ ONLY', 'TRANSPORT', 'ROTATIONAL', 'WWID', 'MODEL', 'SERIAL'])
      assert.ok(header.includes(col), `${col} in ${header}`)
    assert.match(r.stdout, /\bDisk\b/)
    assert.match(r.stdout, /\bsda\b|\bnvme0n1\b/)
  })

  it('a maintenance machine needs --insecure: without it TLS fails as against an unknown authority', async () => {
    const r = await real(['--talosconfig', lab.talosconfig, '-e', CP, '-n', CP, 'version'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /certificate signed by unknown authority|authentication handshake failed/)
  })
})
