// CPU isolation: the /proc/interrupts parser on the kernel's own output, the rendered kernel args, and each cpu.*
// check passing on an isolated validator and failing, naming what is wrong, on one that is not.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { interruptDeltas, isManagedIrq, parseInterrupts } from '../../lib/host/interrupts.ts'
import { cpuGovernor, irqAffinity, irqQuiet, irqsOutside, isolcpus, interruptRates } from '../../checks/defs/cpu.ts'
import { cpuIsolationKernelArgs } from '../../config/render.ts'
import type { CheckInventory } from '../../checks/engine/inventory.ts'
import type { IrqAffinityRow, PerNode, Result } from '../../checks/engine/types.ts'
import { hardwareProfile } from '../../lab/hardware.ts'
import { bootGovernor, defaultIrqAffinity, labIrqs, renderProcInterrupts } from '../../lab/interrupts.ts'

const fixture = (p: string) => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8')
const perNode = <T>(values: Record<string, T>, errors: Record<string, string> = {}): PerNode<T> => ({ values, errors })
const statuses = (rs: Result[]) => rs.map((r) => r.status)

// 4 CPUs, CPU 0 reserved (the system's), 1-3 the validator's
const inv: CheckInventory = {
  cluster: { name: 't', target: 'lab', outputDir: 'out/t' },
  nodes: [{ name: 'v1', address: '10.0.0.9', role: 'worker', profile: 'validator' }],
  validator: { hugepages: [{ size: '1Gi', perNumaNode: [1] }], reservedSystemCpus: '0' },
}

// ------------------------------------------------------------------------------------------ parser

test('parseInterrupts: the kernel’s own /proc/interrupts (2-CPU VM, Linux 6.18), device rows, arch rows, ERR/MIS', () => {
  const t = parseInterrupts(fixture('samples/linux/proc-interrupts-2cpu-vm.txt'))
  assert.deepEqual(t.cpus, [0, 1])
  const req = t.rows.find((r) => r.label === '36')!
  assert.equal(req.irq, 36)
  assert.deepEqual(req.counts, [0, 1735536])
  assert.deepEqual(req.actions, ['virtio1-req.0'])
  assert.equal(req.rest.split(/\s+/)[0], 'PCI-MSIX-0000:00:02.0')
  assert.deepEqual(t.rows.find((r) => r.label === '24')!.actions, ['ACPI:Ged'])
  const loc = t.rows.find((r) => r.label === 'LOC')!
  assert.equal(loc.irq, undefined)
  assert.deepEqual(loc.counts, [39949644, 39514749])
  assert.equal(loc.rest, 'Local timer interrupts')
  // ERR and MIS: one global count (arch_show_interrupts prints "%*s: %10u\n")
  assert.deepEqual(
    t.rows.find((r) => r.label === 'ERR'),
    {
      label: 'ERR',
      counts: [],
      total: 0,
      rest: '',
      actions: [],
    },
  )
  // managed: the virtio-blk request queue; the NIC queues and config vectors are movable
  assert.deepEqual(
    t.rows.filter(isManagedIrq).map((r) => r.label),
    ['36'],
  )
})

// The layout of Linux 6.12 show_interrupts on a 4-CPU host: "%*d: ", "%10u " per CPU, chip, hwirq-edge, "  action".
const table = (rows: [string, number[], string][]) =>
  `            CPU0       CPU1       CPU2       CPU3       \n` +
  rows
    .map(([l, c, rest]) => `${l.padStart(4)}: ${c.map((n) => String(n).padStart(10) + ' ').join('')}${rest}\n`)
    .join('') +
  ` ERR:          0\n MIS:          0\n`

test('parseInterrupts: shared actions, an IRQ without a handler, a malformed header', () => {
  const t = parseInterrupts(
    table([
      ['16', [5, 0, 0, 0], ' IR-IO-APIC   16-fasteoi   ehci_hcd:usb1, i801_smbus'],
      ['120', [0, 0, 0, 0], ' IR-PCI-MSIX-0000:01:00.0    1-edge'],
    ]),
  )
  assert.deepEqual(t.rows[0]!.actions, ['ehci_hcd:usb1', 'i801_smbus'])
  assert.deepEqual(t.rows[1]!.actions, [])
  assert.throws(() => parseInterrupts('  0: 1 2\n'), /not a CPU header/)
})

test('isManagedIrq: NVMe I/O queues are managed, the admin queue (pre_vectors = 1) and NIC queues are not', () => {
  const m = (a: string[]) => isManagedIrq({ actions: a })
  assert.equal(m(['nvme0q1']), true)
  assert.equal(m(['nvme12q31']), true)
  assert.equal(m(['nvme0q0']), false)
  assert.equal(m(['mlx5_comp3@pci:0000:41:00.0']), false)
  assert.equal(m([]), false)
})

test('interruptDeltas: per CPU between two reads; a counter that restarted counts from 0', () => {
  const a = parseInterrupts(table([['30', [10, 10, 10, 10], ' PCI-MSIX  0-edge  eth0-0']]))
  const b = parseInterrupts(table([['30', [15, 10, 3, 10], ' PCI-MSIX  0-edge  eth0-0']]))
  assert.deepEqual(
    [...interruptDeltas(a, b).get('30')!],
    [
      [0, 5],
      [1, 0],
      [2, 3],
      [3, 0],
    ],
  )
})

// ------------------------------------------------------------------------------------------ kernel args

test('cpuIsolationKernelArgs: irqaffinity= from reservedSystemCpus, the governor from cpuGovernor (default performance)', () => {
  assert.deepEqual(cpuIsolationKernelArgs({ reservedSystemCpus: '0,1,64,65' }), [
    'irqaffinity=0,1,64,65',
    'cpufreq.default_governor=performance',
  ])
  assert.deepEqual(cpuIsolationKernelArgs({ cpuGovernor: 'schedutil' }), ['cpufreq.default_governor=schedutil'])
})

// ------------------------------------------------------------------------------------------ cpu.irq-affinity

const irq = (n: number, actions: string[], smp: string, eff: string): IrqAffinityRow => ({
  irq: n,
  actions,
  smpAffinity: smp,
  effectiveAffinity: eff,
})

test('cpu.irq-affinity: passes with movable IRQs on the reserved CPUs and managed NVMe queues anywhere', () => {
  const rows = [
    irq(40, ['eth0-0'], '0', '0'),
    irq(41, ['nvme0q0'], '0', '0'),
    irq(42, ['nvme0q1'], '1', '1'),
    irq(43, ['nvme0q2'], '2-3', '3'),
    irq(44, [], '0-3', ''), // not activated
  ]
  assert.deepEqual(irqsOutside(rows, [0]), { movable: 2, managed: 2, outside: [] })
  const [r] = irqAffinity.evaluate({ irqAffinity: perNode({ v1: rows }) }, inv)
  assert.equal(r!.status, 'pass')
  assert.deepEqual(r!.text, { seen: '2/2 on 0', wanted: 'IRQs on 0' })
})

test('cpu.irq-affinity: fails naming each movable IRQ a validator CPU gets (the default affinity: all CPUs)', () => {
  const rows = [irq(40, ['eth0-0'], '0-3', '2'), irq(41, ['eth0-1'], '0-3', '0'), irq(42, ['nvme0q1'], '1', '1')]
  const [r] = irqAffinity.evaluate({ irqAffinity: perNode({ v1: rows }) }, inv)
  assert.equal(r!.status, 'fail')
  assert.equal(r!.text.seen, '1/2 elsewhere')
  assert.match(
    r!.message,
    /1 movable IRQ of 2 delivered outside CPUs 0: 40 \(eth0-0\) → CPU 2 \(boot with irqaffinity=0;/,
  )
  // a kernel without effective_affinity_list: smp_affinity_list is judged
  assert.deepEqual(irqsOutside([{ irq: 7, actions: ['eth0-0'], smpAffinity: '0-3' }], [0]).outside, [
    { irq: 7, actions: ['eth0-0'], cpus: [0, 1, 2, 3] },
  ])
  // a node that could not be read fails on its own
  const [e] = irqAffinity.evaluate({ irqAffinity: perNode({}, { v1: 'timed out' }) }, inv)
  assert.equal(e!.status, 'fail')
  // no reserved CPUs: nothing to isolate, no result
  assert.deepEqual(
    irqAffinity.evaluate(
      { irqAffinity: perNode({ v1: rows }) },
      { ...inv, validator: { ...inv.validator!, reservedSystemCpus: '' } },
    ),
    [],
  )
})

// ------------------------------------------------------------------------------------------ cpu.irq-quiet

const sample = (after: [string, number[], string][], windowMs = 1000) => ({
  before: table(after.map(([l, c, rest]) => [l, c.map(() => 0), rest])),
  after: table(after),
  windowMs,
})
const quietRows = (eth: number[]): [string, number[], string][] => [
  ['40', eth, ' IR-PCI-MSIX-0000:41:00.0    0-edge      eth0-0'],
  ['42', [0, 300, 0, 0], ' IR-PCI-MSIX-0000:01:00.0    1-edge      nvme0q1'],
  ['LOC', [1000, 1000, 1000, 1000], '  Local timer interrupts'],
  ['RES', [3, 50, 2, 1], '  Rescheduling interrupts'],
]

test('cpu.irq-quiet: passes when the validator CPUs take only the tick, IPIs and their own NVMe completions', () => {
  const r = interruptRates(sample(quietRows([2000, 0, 0, 0])), [0])
  assert.deepEqual(
    r.perCpu.map((c) => [c.cpu, c.movable, c.loc, c.ipi]),
    [
      [1, 0, 1000, 50],
      [2, 0, 1000, 2],
      [3, 0, 1000, 1],
    ],
  )
  const [res] = irqQuiet.evaluate({ interruptSample: perNode({ v1: sample(quietRows([2000, 0, 0, 0])) }) }, inv)
  assert.equal(res!.status, 'pass')
  assert.deepEqual(res!.text, { seen: 'max 0/s (CPU 1)', wanted: '≤ 10/s per CPU' })
  assert.match(res!.message, /not judged: local timer up to 1000\/s, IPIs up to 50\/s per CPU/)
})

test('cpu.irq-quiet: fails when a NIC queue fires on a validator CPU; a stray interrupt or two is tolerated', () => {
  const [bad] = irqQuiet.evaluate({ interruptSample: perNode({ v1: sample(quietRows([0, 0, 1500, 0]), 500) }) }, inv)
  assert.equal(bad!.status, 'fail')
  assert.equal(bad!.text.seen, 'max 3000/s (CPU 2)')
  assert.match(
    bad!.message,
    /1 validator CPU \(2\) took more than 10 movable device IRQs\/s; CPU 2: 40 \(eth0-0\) 3000\/s/,
  )
  const [stray] = irqQuiet.evaluate({ interruptSample: perNode({ v1: sample(quietRows([100, 0, 2, 0])) }) }, inv)
  assert.equal(stray!.status, 'pass')
})

// ------------------------------------------------------------------------------------------ cpu.governor

test('cpu.governor: performance everywhere passes; the kernel default schedutil fails naming the CPUs; no cpufreq warns', () => {
  const gov = (g: string | null) => Object.fromEntries([0, 1, 2, 3].map((c) => [c, g]))
  const [ok] = cpuGovernor.evaluate({ cpuGovernors: perNode({ v1: gov('performance') }) }, inv)
  assert.deepEqual([ok!.status, ok!.text.seen, ok!.text.wanted], ['pass', 'performance ×4', 'performance'])
  const [bad] = cpuGovernor.evaluate(
    { cpuGovernors: perNode({ v1: { ...gov('performance'), 2: 'schedutil', 3: 'schedutil' } }) },
    inv,
  )
  assert.equal(bad!.status, 'fail')
  assert.equal(bad!.text.seen, 'schedutil ×2')
  assert.match(
    bad!.message,
    /CPUs 2-3: schedutil, wanted performance \(boot with cpufreq\.default_governor=performance\)/,
  )
  const [none] = cpuGovernor.evaluate({ cpuGovernors: perNode({ v1: gov(null) }) }, inv)
  assert.equal(none!.status, 'warn')
  // the inventory's governor is the one wanted
  const sched = { ...inv, validator: { ...inv.validator!, cpuGovernor: 'schedutil' as const } }
  assert.deepEqual(statuses(cpuGovernor.evaluate({ cpuGovernors: perNode({ v1: gov('schedutil') }) }, sched)), ['pass'])
})

// ------------------------------------------------------------------------------------------ cpu.isolcpus

test('cpu.isolcpus: Talos’s kernel (no nohz_full file, nothing isolated) passes; isolcpus= warns', () => {
  const [ok] = isolcpus.evaluate({ cpuIsolationSysfs: perNode({ v1: { isolated: '\n', nohzFull: null } }) }, inv)
  assert.deepEqual([ok!.status, ok!.text.seen], ['pass', 'none; no nohz_full'])
  const [nul] = isolcpus.evaluate({ cpuIsolationSysfs: perNode({ v1: { isolated: '', nohzFull: '(null)\n' } }) }, inv)
  assert.equal(nul!.text.seen, 'none; no nohz_full')
  const [w] = isolcpus.evaluate({ cpuIsolationSysfs: perNode({ v1: { isolated: '2-3\n', nohzFull: null } }) }, inv)
  assert.equal(w!.status, 'warn')
  assert.match(w!.message, /#87862/)
})

// ------------------------------------------------------------------------------------------ the lab's model

test('lab: irqaffinity= plus the boot CPU, all CPUs without it or with a bad list; the governor falls back to schedutil', () => {
  const hw = hardwareProfile('validator-2socket')
  const all = Array.from({ length: 32 }, (_, i) => i)
  assert.deepEqual(defaultIrqAffinity(hw, 'quiet'), all)
  assert.deepEqual(defaultIrqAffinity(hw, 'irqaffinity=0,16'), [0, 16])
  assert.deepEqual(defaultIrqAffinity(hw, 'irqaffinity=5'), [0, 5])
  assert.deepEqual(defaultIrqAffinity(hw, 'irqaffinity=x'), all)
  assert.equal(bootGovernor('quiet'), 'schedutil')
  assert.equal(bootGovernor('cpufreq.default_governor=performance'), 'performance')
  assert.equal(bootGovernor('cpufreq.default_governor=powersave'), 'schedutil') // not built in
})

test('lab: /proc/interrupts reads as the kernel prints it and counts on the effective CPUs as time passes', () => {
  const hw = hardwareProfile('validator-2socket')
  const cmdline = 'irqaffinity=0,16'
  const irqs = labIrqs(hw, cmdline)
  const a = parseInterrupts(renderProcInterrupts(hw, cmdline, 10_000))
  const b = parseInterrupts(renderProcInterrupts(hw, cmdline, 11_000))
  assert.equal(a.cpus.length, 32)
  assert.deepEqual(
    a.rows.filter(isManagedIrq).map((r) => r.actions[0]),
    irqs.filter((x) => x.managed).map((x) => x.action),
  )
  const nic = irqs.find((x) => x.action === 'enp65s0f0np0-TxRx-0')!
  assert.ok([0, 16].includes(nic.cpu))
  const d = interruptDeltas(a, b).get(String(nic.irq))!
  assert.equal(d.get(nic.cpu), 1500)
  assert.equal(
    [...d.values()].reduce((x, y) => x + y),
    1500,
  )
  assert.equal(b.rows.find((r) => r.label === 'ERR')!.total, 0)
  // never booted in this lab: nothing counted yet
  assert.ok(parseInterrupts(renderProcInterrupts(hw, cmdline, NaN)).rows.every((r) => r.counts.every((c) => c === 0)))
})
