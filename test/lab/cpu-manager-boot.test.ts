// The validator's static CPU manager across boots that change the CPUs kubelet sees. kubelet checkpoints its shared
// pool and exclusive assignments in /var/lib/kubelet/cpu_manager_state and exits at start when those CPUs are not the
// machine's (kubernetes v1.33.1 cpumanager/policy_static.go validateState :255-267); Talos keeps /var across upgrades
// and removes the file only on a policy name change. The lab kubelet sees the hardware's CPUs less what the boot's
// nosmt / maxcpus= / nr_cpus= took (lab/cpu-manager.ts onlineCpus). The validator's kubelet settings and machine.files
// come from the product's render; the node is driven with talosctl as an operator would: install, an upgrade that
// boots validator.kernelArgs' maxcpus=24 (what 02 then 09 do), then, with the config rendered before the CPU checkpoint's
// reset, an upgrade back to SMT, which stops kubelet. Last, nosmt while CPU 16 (a second thread) is reserved: 09's plan
// refuses it from the machine's sysfs, and booted anyway the kubelet.reserved-cpus-online check fails while kubelet
// still runs, and the next kubelet start in that boot fails as the check said.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, stringify } from 'yaml'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { loadInventory, type Inventory } from '../../config/inventory.ts'
import { renderMachineConfigs } from '../../config/render.ts'
import { loadSecretsBundle } from '../../lib/talos/secrets-bundle.ts'
import { Talosctl } from '../../lib/talos/talosctl.ts'
import { runChecks } from '../../checks/engine/runner.ts'
import { probeTalos, SOURCES } from '../../checks/engine/sources.ts'
import { reservedCpusOnline, reservedWholeCores } from '../../checks/defs/kubelet.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { observeNode } from '../../steps/09-upgrade/observe.ts'
import { planUpgrade } from '../../steps/09-upgrade/plan.ts'

const P = '127.0.187'
const V = `${P}.21`
const REPO = fileURLToPath(new URL('../..', import.meta.url))
let lab: TestLab

type Obj = Record<string, any>

/** The lab inventory with `extra` appended to validator.kernelArgs. */
function inventory(extra: string[]): Inventory {
  const inv = loadInventory(join(REPO, 'inventory/lab.yaml'))
  inv.validator!.kernelArgs = [...(inv.validator!.kernelArgs ?? []), ...extra]
  return inv
}

/** The test lab's worker config with the validator's rendered kubelet settings, machine.files and installer. */
async function validatorConfig(inv: Inventory, opts: { cpuReset?: boolean } = {}): Promise<string> {
  const rendered = renderMachineConfigs(inv, loadSecretsBundle(lab.secretsFile)).get('validator1')!
  const m = (parseAllDocuments(rendered)[0]!.toJS() as Obj).machine
  const docs = parseAllDocuments(lab.renderConfig('worker')).map((d) => d.toJS() as Obj)
  docs[0]!.machine.kubelet = { extraConfig: m.kubelet.extraConfig }
  // cpuReset false: the config as rendered before the CPU checkpoint's reset (the memory one's stays, so every boot's
  // NUMA memory shift does not stop kubelet first)
  docs[0]!.machine.files = (m.files as Obj[]).filter(
    (f) => opts.cpuReset !== false || f.path !== '/var/lib/kubelet/cpu_manager_state',
  )
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
const cpuCheckpoint = async () => JSON.parse(await talosctl('read', '/var/lib/kubelet/cpu_manager_state'))

/** An upgrade to the installer of `inv` after applying `config` (what 02 then 09 do). */
async function upgrade(inv: Inventory, config: string): Promise<void> {
  const applied = await bootId()
  const r = await lab.run(['-n', V, '-e', `${P}.11`, 'apply-config', '-f', config])
  assert.equal(r.code, 0, r.stderr)
  // a machine.files change is applied only at boot: apply-config --mode auto reboots the node (CanApplyImmediate)
  if (/with a reboot/.test(r.stderr)) {
    await lab.waitNewBoot(V, applied)
    await lab.until('kubelet Running or Waiting', async () =>
      ['Running', 'Waiting'].includes((await kubeletState()) ?? ''),
    )
    assert.equal(lab.node('w1').kubeletError, undefined, 'the boot of the apply itself keeps the same CPUs')
  }
  const before = await bootId()
  await talosctl('upgrade', '--image', await lab.validatorInstaller(inv), '--wait=false')
  await lab.waitNewBoot(V, before)
}

async function assertKubeletRunsWith(defaultCpuSet: string) {
  await lab.until('kubelet Running or Waiting', async () =>
    ['Running', 'Waiting'].includes((await kubeletState()) ?? ''),
  )
  const svc = await talosctl('service', 'kubelet')
  assert.doesNotMatch(svc, /Waiting|restart forever/, svc)
  assert.equal(lab.node('w1').kubeletError, undefined)
  assert.equal((await cpuCheckpoint()).defaultCpuSet, defaultCpuSet)
}

describe('the validator kubelet across boots that change its CPUs', { timeout: 360_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1 })
    lab.useValidatorHardware('w1', (n) => (n.profile = 'validator'))
    await lab.install('cp1', lab.renderConfig('controlplane'))
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('installed with SMT: kubelet checkpoints all 32 CPUs', async () => {
    const inv = inventory([])
    await lab.install('w1', readFileSync(await validatorConfig(inv), 'utf8'))
    await assertKubeletRunsWith('0-31')
  })

  // maxcpus=24, not nosmt: the lab inventory reserves CPUs 0 and 16, and nosmt takes CPU 16 offline, so kubelet's
  // next start within that boot would fail "not all reserved cpus" (policy_static.go :231-235) whatever the reset
  it('maxcpus=24 in validator.kernelArgs, booted by the upgrade with /var kept: the boot-time reset lets kubelet start', async () => {
    const inv = inventory(['maxcpus=24'])
    await upgrade(inv, await validatorConfig(inv))
    assert.match(await talosctl('read', '/proc/cmdline'), /(^|\s)maxcpus=24(\s|$)/)
    await assertKubeletRunsWith('0-23')
  })

  it('without the CPU checkpoint reset (the config rendered before), the upgrade back to all CPUs stops kubelet', async () => {
    const inv = inventory([])
    await upgrade(inv, await validatorConfig(inv, { cpuReset: false }))
    assert.doesNotMatch(await talosctl('read', '/proc/cmdline'), /maxcpus/)
    await lab.until('kubelet failing', async () => (await kubeletState()) === 'Waiting')
    assert.equal(
      lab.node('w1').kubeletError,
      'start cpu manager error: current set of available CPUs "0-31" doesn\'t match with CPUs in state "0-23"',
    )
  })

  // nosmt takes CPU 16 offline, and inventory/lab.yaml reserves "0,16": kubelet starts in that boot from the fresh
  // checkpoint, and its next start within the boot fails (policy_static.go validateState "not all reserved cpus")
  it('nosmt with CPU 16 reserved: 09 refuses it from what the machine says; booted anyway, the check fails and a kubelet restart in that boot fails', async () => {
    const inv = inventory(['nosmt'])
    const talos = new Talosctl({ bin: lab.talosctl, talosconfig: lab.talosconfig, endpoints: [`${P}.11`], quiet: true })
    const validator: InventoryNode = { ...inv.nodes.find((n) => n.profile === 'validator')!, address: V }
    const one = { ...inv, nodes: [validator] }
    // 09's plan, from the machine's sysfs through the real talosctl (it boots with SMT now)
    const plan = planUpgrade(one, [await observeNode({ inv: one, talos }, validator)])
    assert.match(
      plan.problems.join('\n'),
      /^validator1: reservedSystemCpus "0,16" names a CPU that a boot with its new kernel args leaves offline \(nosmt keeps only the first thread of each core, and CPU 16 is the second of 0's\)/,
    )
    // an operator who boots it anyway (talosctl upgrade by hand), with the boot-time checkpoint reset in the config
    await upgrade(inv, await validatorConfig(inv))
    assert.equal((await talosctl('read', '/sys/devices/system/cpu/online')).trim(), '0-15')
    await assertKubeletRunsWith('0-15')
    // the checks see it while kubelet still runs
    const noKube = { nodes: async () => [], pods: async () => [], csrs: async () => [] }
    const report = await runChecks([reservedCpusOnline, reservedWholeCores], {
      inv: {
        cluster: { name: 'testlab', target: 'lab', outputDir: 'out/testlab' },
        nodes: [validator],
        validator: inv.validator!,
      },
      sources: SOURCES,
      ctx: { talos, kube: noKube },
      probe: probeTalos,
    })
    const byId = (id: string) => report.results.find((r) => r.check === id)!
    assert.equal(byId('kubelet.reserved-cpus-online').status, 'fail')
    assert.match(
      byId('kubelet.reserved-cpus-online').message,
      /^reserved CPU 16 is offline on validator1 \(this boot's command line has nosmt .*defaultCpuSet: "0-15".*validator\.reservedSystemCpus "0"/,
    )
    // CPU 0 is a whole core under nosmt; the offline CPU 16 is the other check's
    assert.equal(byId('kubelet.reserved-whole-cores').status, 'pass', byId('kubelet.reserved-whole-cores').message)
    // what the check warned of: the next kubelet start within this boot
    await talosctl('service', 'kubelet', 'restart')
    await lab.until('kubelet failing', async () => (await kubeletState()) === 'Waiting')
    assert.equal(
      lab.node('w1').kubeletError,
      'start cpu manager error: not all reserved cpus: "0,16" are present in defaultCpuSet: "0-15"',
    )
  })
})
