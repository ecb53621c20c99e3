// A bootstrap asked for while the control plane is still coming up, on a lab of its own (127.0.193.x). machined refuses
// it with FailedPrecondition until this boot's CRI is up ("bootstrap is not available yet") and until the clock is
// synchronised ("time is not in sync yet", after waiting 5 s for it): v1.10.3 v1alpha1_server.go:413-429, modelled in
// lab/machine-api/cluster.ts. Here the CRI comes up 3 s and the clock 45 s after the boot (a slow NTP server). Through
// the real talosctl: the bare call is refused while etcd still shows Waiting; 03's bootstrapWhenAllowed gives up after
// its timeout naming the refusal and where to look, and with a longer one keeps asking until it is allowed, once.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { loadInventory } from '../../config/inventory.ts'
import { Talosctl } from '../../lib/talos/talosctl.ts'
import { bootstrapWhenAllowed } from '../../steps/03-bootstrap/steps.ts'

const P = '127.0.193'
const CP = `${P}.11`
let lab: TestLab

describe('bootstrap before the machine allows it', { timeout: 180_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 0, criUpMs: 3000, timeSyncMs: 45_000 })
    await lab.install('cp1', lab.renderConfig('controlplane'))
  })
  after(async () => {
    await lab?.cleanup()
  })

  const talos = () => new Talosctl({ bin: lab.talosctl, talosconfig: lab.talosconfig, endpoints: [CP], quiet: true })
  const node = () => ({ ...loadInventory('inventory/lab.yaml').nodes[0]!, name: 'cp1', address: CP })
  const step = (progress: string[]) => ({
    progress: (t: string) => void progress.push(t),
    signal: new AbortController().signal,
  })

  it('the bare talosctl bootstrap is refused while etcd waits for the CRI and the clock', async () => {
    assert.equal(await lab.serviceState(CP, 'etcd'), 'Waiting')
    const r = await lab.run(['-n', CP, 'bootstrap'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /code = FailedPrecondition desc = (bootstrap is not available yet|time is not in sync yet)/)
  })

  it('bootstrapWhenAllowed gives up after its timeout, naming the refusal and where to look; nothing was bootstrapped', async () => {
    const progress: string[] = []
    await assert.rejects(bootstrapWhenAllowed({ talos: talos() }, node(), step(progress), 12_000), (e: Error) => {
      assert.match(
        e.message,
        /^cp1 still answers "time is not in sync yet" after \d+ s \(--bootstrap-timeout\): nothing was bootstrapped\. It is waiting for its clock to synchronise; look with: talosctl -n 127\.0\.193\.11 get timestatus/,
      )
      return true
    })
    assert.ok(progress.length >= 1, 'it said what it waits for')
    assert.notEqual(await lab.serviceState(CP, 'etcd'), 'Running')
  })

  it('with time enough it keeps asking and bootstraps once the clock is synchronised', async () => {
    const progress: string[] = []
    await bootstrapWhenAllowed({ talos: talos() }, node(), step(progress), 60_000)
    assert.ok(
      progress.some((p) => /waiting for its clock to synchronise/.test(p)),
      progress.join('\n'),
    )
    await lab.until('etcd Running', async () => (await lab.serviceState(CP, 'etcd')) === 'Running')
    // a second bootstrap is refused for good, not retried
    const again = await lab.run(['-n', CP, 'bootstrap'])
    assert.match(again.stderr, /AlreadyExists desc = etcd data directory is not empty/)
  })
})
