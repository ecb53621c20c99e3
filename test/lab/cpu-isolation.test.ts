// CPU isolation checked by its effects (issue 24 item 2), on a lab of its own (127.0.86.x): cp1 and two validator-shaped
// machines (validator-2socket: 32 CPUs, 3 NVMe drives, 2 NIC ports) booted on UEFI, so their kernel args come only
// from the installer's schematic. w1 installs the schematic the inventory renders for the validator
// (irqaffinity=0,16 cpufreq.default_governor=performance …), w2 the plain installer. The cpu checks run through the
// real talosctl and the production sources: every one passes on w1; on w2 the NIC IRQs sit on validator CPUs and
// fire there, and the governor is the kernel's default schedutil.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseDocument } from 'yaml'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { loadInventory } from '../../config/inventory.ts'
import { renderNodeSchematic } from '../../config/render.ts'
import { cpuChecks } from '../../checks/defs/cpu.ts'
import { runChecks } from '../../checks/engine/runner.ts'
import { probeTalos, SOURCES } from '../../checks/engine/sources.ts'
import type { CheckInventory } from '../../checks/engine/inventory.ts'
import type { Report } from '../../checks/engine/types.ts'
import { Talosctl } from '../../lib/talos/talosctl.ts'

const P = '127.0.86'
let lab: TestLab
const labInv = loadInventory('inventory/lab.yaml')

/** w1 and w2 as the inventory's validator (reservedSystemCpus "0,16" of inventory/lab.yaml). */
const inv: CheckInventory = {
  cluster: { name: 'testlab', target: 'lab', outputDir: 'out/testlab' },
  nodes: [
    { name: 'w1', address: `${P}.21`, role: 'worker', profile: 'validator' },
    { name: 'w2', address: `${P}.22`, role: 'worker', profile: 'validator' },
  ],
  validator: labInv.validator!,
}

/** A worker config that installs `image` to the validator's system disk. */
function configWith(image: string): string {
  const doc = parseDocument(lab.renderConfig('worker'))
  doc.setIn(['machine', 'install', 'image'], image)
  doc.setIn(['machine', 'install', 'disk'], '/dev/nvme0n1')
  return String(doc)
}

describe(
  'cpu checks on lab validators: the rendered schematic passes, the plain installer fails',
  { timeout: 180_000 },
  () => {
    let report: Report
    before(async () => {
      lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 2, imagePullMs: 100 })
      const validator = labInv.nodes.find((n) => n.profile === 'validator')!
      const id = await lab.registerSchematic(renderNodeSchematic(labInv, validator).yaml)
      for (const w of ['w1', 'w2']) lab.useValidatorHardware(w)
      // the workers answer through the control plane's apid, as on Talos
      await lab.install('cp1', lab.renderConfig('controlplane'))
      await Promise.all([
        lab.install('w1', configWith(`factory.talos.dev/metal-installer/${id}:v1.10.3`)),
        lab.install('w2', configWith('ghcr.io/siderolabs/installer:v1.10.3')),
      ])
      const talos = new Talosctl({
        bin: lab.talosctl,
        talosconfig: lab.talosconfig,
        endpoints: [`${P}.11`],
        quiet: true,
      })
      const noKube = { nodes: async () => [], pods: async () => [], csrs: async () => [] }
      report = await runChecks(cpuChecks, { inv, sources: SOURCES, ctx: { talos, kube: noKube }, probe: probeTalos })
    })
    after(async () => {
      await lab?.cleanup()
    })

    const results = (node: string) => report.results.filter((r) => r.target === node)
    const one = (id: string, node: string) => report.results.find((r) => r.check === id && r.target === node)!

    it('w1 boots the rendered schematic: irqaffinity=0,16 and the performance governor', async () => {
      const r = await lab.run(['-n', `${P}.21`, 'read', '/proc/cmdline'])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /irqaffinity=0,16 cpufreq\.default_governor=performance/)
    })

    it('every cpu check passes on w1', () => {
      assert.deepEqual(
        results('w1').map((r) => [r.check, r.status, r.message]),
        results('w1').map((r) => [r.check, 'pass', r.message]),
      )
      assert.equal(results('w1').length, 4)
      assert.deepEqual(one('cpu.irq-affinity', 'w1').text, { seen: '20/20 on 0,16', wanted: 'IRQs on 0,16' })
      assert.equal(one('cpu.governor', 'w1').text.seen, 'performance ×32')
      assert.equal(one('cpu.isolcpus', 'w1').text.seen, 'none; no nohz_full')
    })

    it('w2 (no irqaffinity=, no governor): NIC IRQs on validator CPUs, firing there; schedutil everywhere', () => {
      const aff = one('cpu.irq-affinity', 'w2')
      assert.equal(aff.status, 'fail', aff.message)
      assert.match(aff.message, /movable IRQs? of 20 delivered outside CPUs 0,16: .*enp65s0f0np0-TxRx-\d+\) → CPU \d+/)
      const quiet = one('cpu.irq-quiet', 'w2')
      assert.equal(quiet.status, 'fail', quiet.message)
      assert.match(
        quiet.message,
        /took more than 10 movable device IRQs\/s; CPU \d+: \d+ \(enp65s0f\dnp\d-TxRx-\d\) \d+\/s/,
      )
      const gov = one('cpu.governor', 'w2')
      assert.deepEqual([gov.status, gov.text.seen], ['fail', 'schedutil ×32'])
      assert.equal(one('cpu.isolcpus', 'w2').status, 'pass')
    })
  },
)
