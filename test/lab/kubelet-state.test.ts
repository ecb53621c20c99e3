// The lab kubelet refuses to start after a resource-manager change on a running node, as a real one does (issue 13,
// item 9): `talosctl service kubelet` shows Talos restarting it forever, `talosctl logs kubelet` kubelet's own error;
// the documented way through (reset --system-labels-to-wipe EPHEMERAL --reboot) brings it back with the new settings.
// Driven by the real talosctl against the lab's Talos API.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments, stringify } from 'yaml'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'

const P = '127.0.94'
let lab: TestLab
const W = `${P}.21`

/** The test lab's worker config with the validator's kubelet resource managers. */
function workerConfig(reservedMemory: string[]): string {
  const docs = parseAllDocuments(lab.renderConfig('worker')).map((d) => d.toJS())
  docs[0].machine.kubelet = {
    ...docs[0].machine.kubelet,
    extraConfig: {
      cpuManagerPolicy: 'static',
      reservedSystemCPUs: '0',
      memoryManagerPolicy: 'Static',
      reservedMemory: [{ numaNode: 0, limits: { memory: reservedMemory[0] } }],
    },
  }
  return docs.map((d) => stringify(d)).join('---\n')
}

describe('lab kubelet: checkpoint validation after a policy change', { timeout: 120_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1 })
    // the endpoint answers the authenticated API once configured
    await lab.install('cp1', lab.renderConfig('controlplane'))
    await lab.install('w1', workerConfig(['1Gi']))
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('kubelet starts and writes its checkpoints', async () => {
    await lab.until(
      'the memory manager checkpoint',
      async () => (await lab.run(['-n', W, 'read', '/var/lib/kubelet/memory_manager_state'])).code === 0,
    )
    const r = await lab.run(['-n', W, 'read', '/var/lib/kubelet/memory_manager_state'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).policyName, 'Static')
    assert.equal(lab.node('w1').kubeletError, undefined)
  })

  it('a reservedMemory change applied live: kubelet exits at start, Talos restarts it forever', async () => {
    const f = join(lab.dir, 'w1-changed.yaml')
    writeFileSync(f, workerConfig(['2Gi']), { mode: 0o600 })
    const r = await lab.run(['-n', W, 'apply-config', '-f', f])
    assert.equal(r.code, 0, r.stderr)
    // kubelet's settings apply without a reboot: machined restarts kubelet, which now refuses its checkpoint
    assert.match(r.stderr, /Applied configuration without a reboot/)
    await lab.until('kubelet failing', async () =>
      /STATE\s+Waiting/.test((await lab.run(['-n', W, 'service', 'kubelet'])).stdout),
    )
    const svc = await lab.run(['-n', W, 'service', 'kubelet'])
    assert.equal(svc.code, 0, svc.stderr)
    assert.match(svc.stdout, /STATE\s+Waiting/)
    assert.match(
      svc.stdout,
      /Error running Containerd\(kubelet\), going to restart forever: task "kubelet" failed: exit code 1/,
    )
    const logs = await lab.run(['-n', W, 'logs', 'kubelet'])
    assert.equal(logs.code, 0, logs.stderr)
    assert.match(
      logs.stdout,
      // kubelet's structured log line (its JSON format: msg and err as fields)
      /"msg":"Failed to start ContainerManager".*"err":"start memory manager error: \[memorymanager\] the expected machine state is different from the real one"/,
    )
  })

  it('reset --system-labels-to-wipe EPHEMERAL --reboot wipes the checkpoints: kubelet starts with the new settings', async () => {
    const r = await lab.run([
      '-n',
      W,
      '-e',
      `${P}.11`,
      'reset',
      '--graceful=false',
      '--reboot',
      '--system-labels-to-wipe=EPHEMERAL',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(lab.node('w1').kubeletError, undefined)
    const svc = await lab.run(['-n', W, 'service', 'kubelet'])
    assert.doesNotMatch(svc.stdout, /Waiting/)
    const partial = await lab.run(['-n', W, 'reset', '--reboot', '--system-labels-to-wipe=STATE'])
    assert.equal(partial.code, 1)
    assert.match(partial.stderr, /Unimplemented desc = the lab simulates only the reset that wipes EPHEMERAL alone/)
  })
})
