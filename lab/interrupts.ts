// A lab machine's device IRQs, cpufreq governor and CPU isolation files, from its hardware and the kernel args it
// booted with, as Talos v1.10.3's kernel (Linux 6.12) would lay them out:
// - every movable IRQ starts from the default affinity: irqaffinity=<list> (plus the boot CPU, which
//   kernel/irq/irqdesc.c irq_affinity_setup always adds), all CPUs without it; the x86 vector allocator delivers it to
//   ONE CPU of that mask, the one with the fewest vectors (arch/x86/kernel/apic/vector.c via kernel/irq/matrix.c
//   irq_matrix_alloc): effective_affinity_list;
// - managed IRQs (NVMe I/O queues: drivers/nvme/host/pci.c, PCI_IRQ_AFFINITY with the admin queue as pre_vector) are
//   spread over all CPUs by kernel/irq/affinity.c whatever irqaffinity= says;
// - the NIC queue IRQs are modelled as a driver that only hints its spread (ice, ixgbe: irq_update_affinity_hint),
//   so they follow the default affinity. mlx5 pins its completion IRQs itself (irq_set_affinity_and_hint), which
//   irqaffinity= does not undo: the lab does not model that (README "Validator-ready");
// - cpufreq: one acpi-cpufreq policy per CPU, with the governor cpufreq.default_governor= names when the kernel
//   has it built in, else the built-in default schedutil (drivers/cpufreq/cpufreq.c cpufreq_init_policy);
// - /sys/devices/system/cpu/isolated from isolcpus=; no nohz_full file (no CONFIG_NO_HZ_FULL).
// /proc/interrupts is rendered when read: each IRQ's count grows at its rate on its effective CPU since boot.
import { formatCpuList, formatCpumap, parseCpuList } from '../lib/host/numa.ts'
import { parseCmdline } from '../lib/host/procfs.ts'
import type { Hardware } from './state.ts'

interface LabIrq {
  irq: number
  chip: string
  /** hwirq and flow, as show_interrupts prints them: `0-edge`. */
  hw: string
  action: string
  managed: boolean
  /** smp_affinity_list. */
  mask: number[]
  /** effective_affinity_list: the one CPU the vector sits on. */
  cpu: number
  /** Where the driver would like it (affinity_hint); undefined for none. */
  hint?: number
  perSecond: number
}

const cpusOf = (hw: Pick<Hardware, 'numaCpus'>) => hw.numaCpus.flat().sort((a, b) => a - b)
const nrCpuIds = (hw: Pick<Hardware, 'numaCpus'>) => Math.max(...hw.numaCpus.flat()) + 1

/** The default affinity a booted kernel gives movable IRQs (irq_affinity_setup + init_irq_default_affinity). */
export function defaultIrqAffinity(hw: Pick<Hardware, 'numaCpus'>, cmdline: string): number[] {
  const all = cpusOf(hw)
  const arg = parseCmdline(cmdline).get('irqaffinity')
  if (arg === undefined) return all
  let listed: number[]
  try {
    listed = parseCpuList(arg)
  } catch {
    listed = [] // cpulist_parse fails and leaves the mask empty
  }
  const mask = new Set(listed.filter((c) => all.includes(c)))
  if (mask.size === 0) return all // cpumask_empty → cpumask_setall (the boot CPU is added first, so only on a bad list)
  mask.add(0) // the boot CPU
  return [...mask].sort((a, b) => a - b)
}

/**
 * Governors the Talos v1.10.3 kernel builds in, the first its default (siderolabs/pkgs kernel/build/config-amd64 at
 * v1.10.0-16-g39b9c9f: CONFIG_CPU_FREQ_DEFAULT_GOV_SCHEDUTIL=y; GOV_PERFORMANCE, GOV_USERSPACE, GOV_ONDEMAND=y).
 */
const BUILT_IN_GOVERNORS = ['schedutil', 'performance', 'userspace', 'ondemand']

export function bootGovernor(cmdline: string): string {
  const want = parseCmdline(cmdline).get('cpufreq.default_governor')
  return want && BUILT_IN_GOVERNORS.includes(want) ? want : BUILT_IN_GOVERNORS[0]!
}

/** isolcpus=[flags,]<list>: the CPUs /sys/devices/system/cpu/isolated lists (kernel/sched/isolation.c). */
function isolatedCpus(cmdline: string): number[] {
  const arg = parseCmdline(cmdline).get('isolcpus')
  if (!arg) return []
  const list = arg
    .split(',')
    .filter((p) => /^\d/.test(p))
    .join(',')
  try {
    return parseCpuList(list)
  } catch {
    return []
  }
}

/** The machine's device IRQs: legacy ones, each NVMe controller's queues, each NIC port's queues. */
export function labIrqs(hw: Hardware, cmdline: string): LabIrq[] {
  const cpus = cpusOf(hw)
  const dflt = defaultIrqAffinity(hw, cmdline)
  const vectors = new Map(cpus.map((c) => [c, 0]))
  // the CPU of the mask with the fewest vectors so far (matrix_find_best_cpu), the lowest on a tie
  const place = (mask: number[]) => {
    const cpu = mask.reduce((best, c) => (vectors.get(c)! < vectors.get(best)! ? c : best))
    vectors.set(cpu, vectors.get(cpu)! + 1)
    return cpu
  }
  const out: LabIrq[] = []
  let next = 24
  const add = (x: Omit<LabIrq, 'irq' | 'cpu'>) => out.push({ ...x, irq: next++, cpu: place(x.mask) })
  out.push({
    irq: 9,
    chip: 'IR-IO-APIC',
    hw: '9-fasteoi',
    action: 'acpi',
    managed: false,
    mask: dflt,
    cpu: place(dflt),
    perSecond: 0,
  })
  const queues = Math.min(cpus.length, 8)
  const groups = Array.from({ length: queues }, (_, q) => cpus.filter((_, i) => i % queues === q))
  const nvme = hw.disks.filter((d) => d.transport === 'nvme').length
  for (let ctrl = 0; ctrl < nvme; ctrl++) {
    const chip = `IR-PCI-MSIX-0000:${(ctrl + 1).toString(16).padStart(2, '0')}:00.0`
    add({ chip, hw: '0-edge', action: `nvme${ctrl}q0`, managed: false, mask: dflt, perSecond: 0.5 })
    groups.forEach((g, q) =>
      add({ chip, hw: `${q + 1}-edge`, action: `nvme${ctrl}q${q + 1}`, managed: true, mask: g, perSecond: 200 }),
    )
  }
  for (const link of hw.links ?? []) {
    const chip = `IR-PCI-MSIX-${link.busPath}`
    for (let q = 0; q < queues; q++)
      add({
        chip,
        hw: `${q}-edge`,
        action: `${link.name}-TxRx-${q}`,
        managed: false,
        mask: dflt,
        hint: cpus[q],
        perSecond: link.carrier ? 1500 : 0,
      })
  }
  return out
}

type Put = (rel: string, text: string) => void

/** The boot's files: /proc/irq/*, each CPU's cpufreq policy, isolated. */
export function writeCpuIsolation(put: Put, hw: Hardware, cmdline: string): void {
  const nbits = nrCpuIds(hw)
  const map = (ids: number[]) => formatCpumap(ids, nbits) + '\n'
  put('proc/irq/default_smp_affinity', map(defaultIrqAffinity(hw, cmdline)))
  for (const x of labIrqs(hw, cmdline)) {
    const d = `proc/irq/${x.irq}`
    put(`${d}/smp_affinity`, map(x.mask))
    put(`${d}/smp_affinity_list`, formatCpuList(x.mask) + '\n')
    put(`${d}/effective_affinity`, map([x.cpu]))
    put(`${d}/effective_affinity_list`, `${x.cpu}\n`)
    put(`${d}/affinity_hint`, map(x.hint === undefined ? [] : [x.hint]))
  }
  const governor = bootGovernor(cmdline)
  for (const c of cpusOf(hw)) {
    const d = `sys/devices/system/cpu/cpu${c}/cpufreq`
    put(`${d}/scaling_driver`, 'acpi-cpufreq\n')
    put(`${d}/scaling_available_governors`, `${BUILT_IN_GOVERNORS.join(' ')}\n`)
    put(`${d}/scaling_governor`, `${governor}\n`)
  }
  put('sys/devices/system/cpu/isolated', formatCpuList(isolatedCpus(cmdline)) + '\n')
}

/** Per-CPU rates of the architecture's rows on a busy machine: the tick at CONFIG_HZ=250 (Talos's config), a few IPIs. */
const ARCH_ROWS: [string, number, string][] = [
  ['NMI', 0, 'Non-maskable interrupts'],
  ['LOC', 250, 'Local timer interrupts'],
  ['SPU', 0, 'Spurious interrupts'],
  ['PMI', 0, 'Performance monitoring interrupts'],
  ['IWI', 1, 'IRQ work interrupts'],
  ['RTR', 0, 'APIC ICR read retries'],
  ['RES', 20, 'Rescheduling interrupts'],
  ['CAL', 10, 'Function call interrupts'],
  ['TLB', 5, 'TLB shootdowns'],
  ['TRM', 0, 'Thermal event interrupts'],
  ['THR', 0, 'Threshold APIC interrupts'],
  ['DFR', 0, 'Deferred Error APIC interrupts'],
  ['MCE', 0, 'Machine check exceptions'],
  ['MCP', 0, 'Machine check polls'],
]

/** /proc/interrupts `elapsedMs` after boot, in the layout of kernel/irq/proc.c show_interrupts (Linux 6.12). */
export function renderProcInterrupts(hw: Hardware, cmdline: string, elapsedMs: number): string {
  const cpus = cpusOf(hw)
  // a machine without a boot time (never booted in this lab) has counted nothing yet
  const s = Number.isFinite(elapsedMs) ? Math.max(elapsedMs, 0) / 1000 : 0
  const irqs = labIrqs(hw, cmdline)
  // the label column: 3 wide, one more per decimal digit of nr_irqs beyond 999
  const prec = 3
  const counts = (f: (cpu: number) => number) => cpus.map((c) => `${String(Math.floor(f(c))).padStart(10)} `).join('')
  const lines = [' '.repeat(prec + 8) + cpus.map((c) => `CPU${String(c).padEnd(8)}`).join('')]
  for (const x of irqs)
    lines.push(
      `${String(x.irq).padStart(prec)}: ${counts((c) => (c === x.cpu ? x.perSecond * s : 0))} ${x.chip.padStart(8)} ${x.hw.padEnd(8)}  ${x.action}`,
    )
  for (const [label, rate, what] of ARCH_ROWS) lines.push(`${label.padStart(prec)}: ${counts(() => rate * s)}  ${what}`)
  lines.push(`${'ERR'.padStart(prec)}: ${'0'.padStart(10)}`, `${'MIS'.padStart(prec)}: ${'0'.padStart(10)}`)
  return lines.join('\n') + '\n'
}
