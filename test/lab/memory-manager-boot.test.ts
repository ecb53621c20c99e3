// The validator's Static memory manager across boots (issue 21, item 10). kubelet checkpoints each NUMA node's memory
// and huge pages in /var/lib/kubelet/memory_manager_state and exits at start when the machine differs; Talos keeps
// /var across upgrades and reboots. The lab machine moves memory between its NUMA nodes at every boot (kubernetes
// issue 131253) and its kubelet validates the checkpoint as kubelet v1.33 does. The validator's kubelet settings and
// machine.files come from the product's render; the node is driven with talosctl as an operator would: install, a
// huge page change through an upgrade (what 02 then 09 do), two plain reboots. Without the boot-time checkpoint reset
// the same node's kubelet stops at its next reboot.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, stringify } from 'yaml'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { loadInventory, type Inventory } from '../../config/inventory.ts'
import { renderMachineConfigs } from '../../config/render.ts'
import { judgeRuntimeSpec } from '../../lib/host/solana-limits.ts'
import { loadSecretsBundle } from '../../lib/talos/secrets-bundle.ts'

const P = '127.0.97'
const V = `${P}.21`
const REPO = fileURLToPath(new URL('../..', import.meta.url))
const GiB = 2 ** 30
let lab: TestLab

type Obj = Record<string, any>

/** The lab inventory with the validator's huge pages per NUMA node set to `pages`. */
function inventory(pages: [number, number]): Inventory {
  const inv = loadInventory(join(REPO, 'inventory/lab.yaml'))
  inv.validator!.hugepages[0]!.perNumaNode = pages
  return inv
}

/**
 * The test lab's worker config carrying what the product renders for the validator (kubelet extraConfig, machine
 * files, the base runtime spec overrides) and its installer; `files: false` leaves machine.files out, as the product rendered it before.
 */
async function validatorConfig(inv: Inventory, opts: { files?: boolean } = {}): Promise<string> {
  const rendered = renderMachineConfigs(inv, loadSecretsBundle(lab.secretsFile)).get('validator1')!
  const m = (parseAllDocuments(rendered)[0]!.toJS() as Obj).machine
  const docs = parseAllDocuments(lab.renderConfig('worker')).map((d) => d.toJS() as Obj)
  docs[0]!.machine.kubelet = { extraConfig: m.kubelet.extraConfig }
  if (m.files && opts.files !== false) docs[0]!.machine.files = m.files
  docs[0]!.machine.baseRuntimeSpecOverrides = m.baseRuntimeSpecOverrides
  docs[0]!.machine.install = { disk: '/dev/nvme0n1', image: await lab.validatorInstaller(inv) }
  const f = join(lab.dir, `validator-${Date.now()}.yaml`)
  writeFileSync(f, docs.map((d) => stringify(d)).join('---\n'), { mode: 0o600 })
  return f
}

const talosctl = async (...args: string[]) => {
  const r = await lab.run(['-n', V, '-e', `${P}.11`, ...args])
  assert.equal(r.code, 0, `talosctl ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}
const bootId = async () => (await lab.bootId(V))!
const kubeletState = () => lab.serviceState(V, 'kubelet')
const memTotals = async () =>
  Promise.all(
    [0, 1].map(async (n) => {
      const m = /MemTotal:\s+(\d+) kB/.exec(await talosctl('read', `/sys/devices/system/node/node${n}/meminfo`))
      return Number(m![1]) * 1024
    }),
  )
const checkpoint = async () => JSON.parse(await talosctl('read', '/var/lib/kubelet/memory_manager_state'))

/** After a boot: kubelet runs (Talos is not restarting it), and its checkpoint is this boot's machine. */
async function assertKubeletRunsWith(pages: number) {
  await lab.until('kubelet Running or Waiting', async () =>
    ['Running', 'Waiting'].includes((await kubeletState()) ?? ''),
  )
  const svc = await talosctl('service', 'kubelet')
  assert.doesNotMatch(svc, /Waiting|restart forever/, svc)
  assert.equal(lab.node('w1').kubeletError, undefined)
  const cp = await checkpoint()
  const totals = await memTotals()
  for (const n of [0, 1]) {
    assert.equal(cp.machineState[n].memoryMap['hugepages-1Gi'].total, pages * GiB, `node ${n} huge pages`)
    // inventory/lab.yaml's 2 MiB pool (128 pages per node) is a resource of its own in the checkpoint
    assert.equal(cp.machineState[n].memoryMap['hugepages-2Mi'].total, 128 * 2 * 2 ** 20, `node ${n} 2 MiB pages`)
    assert.equal(cp.machineState[n].memoryMap.memory.total, totals[n], `node ${n} MemTotal of this boot`)
  }
}

describe('the validator kubelet across a huge page change and reboots', { timeout: 180_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1 })
    // w1 is the validator machine: two sockets, UEFI (kernel args from the installer's schematic)
    lab.useValidatorHardware('w1', (n) => (n.profile = 'validator'))
    await lab.install('cp1', lab.renderConfig('controlplane'))
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('installed with 4 + 4 pages: kubelet checkpoints this machine', async () => {
    const f = await validatorConfig(inventory([4, 4]))
    await lab.install('w1', readFileSync(f, 'utf8'))
    assert.match(await talosctl('read', '/proc/cmdline'), /hugepages=0:4,1:4/)
    await assertKubeletRunsWith(4)
    // the rendered baseRuntimeSpecOverrides reached the CRI base spec, where solana.runtime-limits reads them
    const spec = await talosctl('read', '/etc/cri/conf.d/base-spec.json')
    assert.ok(
      judgeRuntimeSpec(spec).every((j) => j.ok),
      spec,
    )
  })

  it('6 + 6 pages: the new config (02), then the upgrade that boots the new kernel args (09); kubelet starts', async () => {
    const f = await validatorConfig(inventory([6, 6]))
    await talosctl('apply-config', '-f', f)
    const before = await bootId()
    const installer = await lab.validatorInstaller(inventory([6, 6]))
    await talosctl('upgrade', '--image', installer, '--wait=false')
    await lab.waitNewBoot(V, before)
    assert.match(await talosctl('read', '/proc/cmdline'), /hugepages=0:6,1:6/)
    await assertKubeletRunsWith(6)
  })

  it('rebooted twice: memory moved between the NUMA nodes each time, kubelet starts each time', async () => {
    let totals = await memTotals()
    for (let i = 0; i < 2; i++) {
      const before = await bootId()
      await talosctl('reboot', '--wait=false')
      await lab.waitNewBoot(V, before)
      const now = await memTotals()
      assert.notDeepEqual(now, totals, 'the boot moved memory between the NUMA nodes')
      assert.equal(now[0]! + now[1]!, totals[0]! + totals[1]!)
      totals = now
      await assertKubeletRunsWith(6)
    }
  })

  it('without the boot-time checkpoint reset (the config rendered before), the next boot stops kubelet', async () => {
    // machine.files is applied only at boot: apply-config --mode auto reboots the node (Talos CanApplyImmediate)
    const f = await validatorConfig(inventory([6, 6]), { files: false })
    const before = await bootId()
    const r = await lab.run(['-n', V, '-e', `${P}.11`, 'apply-config', '-f', f])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /Applied configuration with a reboot/)
    await lab.waitNewBoot(V, before)
    await lab.until('kubelet failing', async () => (await kubeletState()) === 'Waiting')
    assert.match(
      lab.node('w1').kubeletError ?? '',
      /start memory manager error: \[memorymanager\] the expected machine state is different from the real one/,
    )
    assert.match(await talosctl('service', 'kubelet'), /STATE\s+Waiting/)
  })
})
