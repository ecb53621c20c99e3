// Issue 24 item 3 against the lab's machines: the real talosctl reads EthernetStatus (Talos's own resource type,
// served by lab/talos-api from the machine model, lab/ethtool.ts). w1 runs the EthernetConfig the inventory renders
// for the validator: solana.nic passes. w2 runs one asking for more combined channels than its NIC has: the driver
// refuses it, the status keeps the NIC's channels, solana.nic fails naming the maximum, and Talos's controller error
// is in `talosctl logs controller-runtime`.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments, stringify } from 'yaml'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { hardwareProfile } from '../../lab/hardware.ts'
import { createSysroot } from '../../lab/sysroot.ts'
import { parseInventory, type Inventory } from '../../config/inventory.ts'
import { renderMachineConfigs } from '../../config/render.ts'
import { loadSecretsBundle } from '../../lib/talos/secrets-bundle.ts'
import { parseResources } from '../../lib/talos/parse.ts'
import { nicChecks } from '../../checks/defs/nic.ts'
import { runChecks } from '../../checks/engine/runner.ts'
import { probeTalos, SOURCES } from '../../checks/engine/sources.ts'
import type { CheckInventory } from '../../checks/engine/inventory.ts'
import type { Report } from '../../checks/engine/types.ts'
import { Talosctl } from '../../lib/talos/talosctl.ts'

const P = '127.0.141'
const REPO = join(import.meta.dirname, '../..')
const LAB_YAML = readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
const labInv = parseInventory(LAB_YAML, 'inventory/lab.yaml')
// the same inventory asking for more combined channels than the lab NIC has (combined-max 32, lab/hardware.ts);
// nothing in the inventory knows a NIC's maximums, only the driver does
const tooManyInv = parseInventory(
  LAB_YAML.replace('channels: { combined: 2 }', 'channels: { combined: 64 }'),
  'inventory/lab.yaml',
)
let lab: TestLab

/** Node `name` at P.<last> as the inventory's validator. */
const checkInv = (name: string, last: number, v: Inventory['validator']): CheckInventory => ({
  cluster: { name: 'testlab', target: 'lab', outputDir: 'out/testlab' },
  nodes: [{ name, address: `${P}.${last}`, role: 'worker', profile: 'validator' }],
  validator: v!,
})

/** The EthernetConfig document the product renders into validator1's config. */
function renderedEthernetConfig(inv: Inventory): Record<string, unknown> {
  const text = renderMachineConfigs(inv, loadSecretsBundle(lab.secretsFile)).get('validator1')!
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, unknown>)
    .find((d) => d.kind === 'EthernetConfig')!
}

/** Make worker `name` a lab validator machine and install a worker config with this EthernetConfig appended. */
async function installWith(name: string, ethernet: Record<string, unknown>) {
  const hw = hardwareProfile('validator-2socket')
  lab.update(name, (n) => {
    n.hardware = hw
    n.installDisk = '/dev/nvme0n1'
  })
  createSysroot(join(lab.dir, 'nodes', name, 'root'), hw, { cmdline: 'console=ttyS0 rescue', hostname: name })
  const base = parseAllDocuments(lab.renderConfig('worker')).map((d) => d.toJS())
  base[0].machine.install.disk = '/dev/nvme0n1'
  await lab.install(name, [...base, ethernet].map((d) => stringify(d)).join('---\n'))
}

describe(
  'validator.nic on lab validators: EthernetConfig applied within the NIC, checked by EthernetStatus',
  { timeout: 150_000 },
  () => {
    let report: Report
    before(async () => {
      lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 2 })
      await lab.install('cp1', lab.renderConfig('controlplane'))
      await installWith('w1', renderedEthernetConfig(labInv))
      await installWith('w2', renderedEthernetConfig(tooManyInv))
      const talos = new Talosctl({
        bin: lab.talosctl,
        talosconfig: lab.talosconfig,
        endpoints: [`${P}.11`],
        quiet: true,
      })
      const noKube = { nodes: async () => [], pods: async () => [], csrs: async () => [] }
      const run = (inv: CheckInventory) =>
        runChecks(nicChecks, { inv, sources: SOURCES, ctx: { talos, kube: noKube }, probe: probeTalos })
      const [r1, r2] = [
        await run(checkInv('w1', 21, labInv.validator)),
        await run(checkInv('w2', 22, tooManyInv.validator)),
      ]
      report = { ...r1, results: [...r1.results, ...r2.results] }
    })
    after(async () => {
      await lab?.cleanup()
    })

    const one = (node: string) => report.results.find((r) => r.check === 'solana.nic' && r.target.startsWith(node))!

    it('talosctl get ethernetstatus: one per link, with the print columns of Talos (Link, Speed)', async () => {
      const r = await lab.run(['-n', `${P}.21`, 'get', 'ethernetstatus'])
      assert.equal(r.code, 0, r.stderr)
      const [head, ...rows] = r.stdout.trim().split('\n')
      assert.deepEqual(head!.trim().split(/\s{2,}/), ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION', 'LINK', 'SPEED'])
      assert.deepEqual(
        rows.map((l) => l.trim().split(/\s+/).slice(3)),
        [
          ['enp65s0f0np0', '1', 'true', '25000'],
          // up too: this worker config does not name its links, so Talos brings up both (test/lab/other-links.test.ts)
          ['enp65s0f1np1', '1', 'true', '25000'],
        ],
      )
    })

    it('w1 runs the rendered EthernetConfig: its channels, rings and features, and solana.nic passes', async () => {
      const r = await lab.run(['-n', `${P}.21`, 'get', 'ethernetstatus', 'enp65s0f0np0', '-o', 'yaml'])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /channels:\n\s+combined-max: 32\n\s+combined: 2\n/)
      assert.match(r.stdout, /rings:\n\s+rx-max: 8192\n\s+tx-max: 8192\n\s+rx: 4096\n\s+tx: 4096\n/)
      assert.match(r.stdout, /\n\s+tx-gre-segmentation: off\n/)
      assert.match(r.stdout, /\n\s+highdma: on \[fixed\]\n/)
      const w1 = one('w1')
      assert.equal(w1.status, 'pass', w1.message)
      assert.equal(w1.target, 'w1/enp65s0f0np0')
      assert.deepEqual(w1.text, { seen: '6/6 as asked', wanted: '6 settings' })
      assert.equal(
        w1.message,
        'enp65s0f0np0: channels combined 2, rings rx 4096/tx 4096, 3/3 features, as validator.nic asks',
      )
    })

    it('w2 asks for 64 combined channels of a NIC with 32: refused, solana.nic fails, the controller says why', async () => {
      const status = parseResources<{ channels: { combined: number } }>(
        (await lab.run(['-n', `${P}.22`, 'get', 'ethernetstatus', 'enp65s0f0np0', '-o', 'json'])).stdout,
      )
      assert.equal(status[0]!.spec.channels.combined, 8)
      const w2 = one('w2')
      assert.equal(w2.status, 'fail')
      assert.match(w2.message, /channels combined is 8, want 64: beyond combined-max 32, so the driver refused it/)
      assert.deepEqual(w2.text, { seen: '5/6 as asked', wanted: '6 settings' })
      const logs = await lab.run(['-n', `${P}.22`, 'logs', 'controller-runtime'])
      assert.equal(logs.code, 0, logs.stderr)
      assert.match(
        logs.stdout,
        /network\.EthernetSpecController.*error configuring \\"enp65s0f0np0\\": error updating channels/,
      )
    })
  },
)
