// /proc/interrupts as the kernel prints it, and which interrupts user space can move.
//
// The format (Linux 6.12, kernel/irq/proc.c show_interrupts): a header of `CPU<n>` per online CPU, then one row per
// IRQ: `%*d: ` (the number), `%10u ` per online CPU, the chip (` %8s` or the chip's irq_print_chip, e.g.
// `IR-PCI-MSIX-0000:41:00.0`), the hardware IRQ and trigger (`0-edge`), then `  <action>` (`, <action>` for each
// shared one). After them the architecture's rows (x86: arch/x86/kernel/irq.c arch_show_interrupts): `NMI`, `LOC`,
// `RES`, `CAL`, `TLB`, … one count per online CPU and a description (`Local timer interrupts`), and `ERR` / `MIS`
// with ONE global count. Columns are padded, not fixed (the padding changed between kernels), so rows are read
// token by token.
import { parseCpuList } from './numa.ts'

export interface InterruptRow {
  /** `24` for a device IRQ, `LOC`, `RES`, … for the architecture's rows. */
  label: string
  /** The IRQ number of a device row (a numeric label); undefined for NMI, LOC, … */
  irq?: number
  /** One count per CPU of InterruptTable.cpus, in the same order; empty for ERR and MIS. */
  counts: number[]
  /** ERR and MIS: one count for the whole machine. */
  total?: number
  /** What follows the counts: chip, hwirq and actions of a device row; the description of an arch row. */
  rest: string
  /** A device row's action names (`nvme0q1`, `mlx5_comp0@pci:0000:41:00.0`); [] when no handler is attached. */
  actions: string[]
}

export interface InterruptTable {
  /** The CPU numbers of the header (`CPU0 CPU1 …`: the online CPUs). */
  cpus: number[]
  rows: InterruptRow[]
}

/** /proc/interrupts text → its CPUs and rows. Throws when there is no CPU header. */
export function parseInterrupts(text: string): InterruptTable {
  const lines = text.split('\n').filter((l) => l.trim() !== '')
  const header = lines.shift() ?? ''
  const cpus = header
    .trim()
    .split(/\s+/)
    .map((h) => /^CPU(\d+)$/.exec(h))
  if (cpus.length === 0 || cpus.some((m) => !m))
    throw new Error(`/proc/interrupts: the first line is not a CPU header: ${JSON.stringify(header)}`)
  const ids = cpus.map((m) => Number(m![1]))
  return { cpus: ids, rows: lines.map((l) => parseRow(l, ids.length)) }
}

function parseRow(line: string, ncpu: number): InterruptRow {
  const colon = line.indexOf(':')
  if (colon < 0) throw new Error(`/proc/interrupts: no label in ${JSON.stringify(line)}`)
  const label = line.slice(0, colon).trim()
  let body = line.slice(colon + 1)
  const counts: number[] = []
  // up to one count per CPU: ERR and MIS print a single one and nothing after it
  while (counts.length < ncpu) {
    const m = /^\s*(\d+)(?=\s|$)/.exec(body)
    if (!m) break
    counts.push(Number(m[1]))
    body = body.slice(m[0].length)
  }
  const rest = body.trim()
  const irq = /^\d+$/.test(label) ? Number(label) : undefined
  if (counts.length !== ncpu && !(counts.length === 1 && rest === ''))
    throw new Error(`/proc/interrupts: ${label} has ${counts.length} counts for ${ncpu} CPUs`)
  const global = counts.length === 1 && ncpu !== 1 && rest === ''
  return {
    label,
    ...(irq === undefined ? {} : { irq }),
    counts: global ? [] : counts,
    ...(global ? { total: counts[0] } : {}),
    rest,
    actions: irq === undefined ? [] : actionsOf(rest),
  }
}

/**
 * The action names: show_interrupts prints them after the hwirq and the flow's name (`%*lu` then `-%-8s`: `5-edge`,
 * `16-fasteoi`, padded), each after two spaces, shared ones joined with `, `. Without a handler nothing follows.
 */
function actionsOf(rest: string): string[] {
  const m = /(?:^|\s)\d*-\S+\s*(.*)$/.exec(rest)
  const tail = m
    ? m[1]!
    : (rest
        .split(/\s{2,}/)
        .slice(1)
        .at(-1) ?? '')
  return tail
    .split(', ')
    .map((s) => s.trim())
    .filter(Boolean)
}

/** Per row label: how many interrupts each CPU took between two reads (CPUs of the later header; a row or CPU missing before counts from 0). */
export function interruptDeltas(before: InterruptTable, after: InterruptTable): Map<string, Map<number, number>> {
  const prev = new Map(before.rows.map((r) => [r.label, r]))
  const out = new Map<string, Map<number, number>>()
  for (const r of after.rows) {
    if (!r.counts.length) continue
    const p = prev.get(r.label)
    const perCpu = new Map<number, number>()
    after.cpus.forEach((cpu, i) => {
      const j = before.cpus.indexOf(cpu)
      const was = p && j >= 0 ? (p.counts[j] ?? 0) : 0
      // a counter that went down was reset (the IRQ was freed and its number reused): count from 0
      const now = r.counts[i]!
      perCpu.set(cpu, now >= was ? now - was : now)
    })
    out.set(r.label, perCpu)
  }
  return out
}

/**
 * IRQs whose affinity the kernel manages: the driver allocated them with PCI_IRQ_AFFINITY (include/linux/pci.h), the
 * core spreads them over all CPUs (kernel/irq/affinity.c irq_create_affinity_masks) and marks them
 * IRQD_AFFINITY_MANAGED, so user space cannot move them — kernel/irq/proc.c write_irq_affinity returns -EIO when
 * irq_can_set_affinity_usr() (kernel/irq/manage.c: !irqd_affinity_is_managed) says no — and neither does
 * irqaffinity=. Nothing under /proc/irq/<n>/ says "managed" (the flag shows only in debugfs, CONFIG_GENERIC_IRQ_DEBUGFS,
 * which a check cannot rely on), and the one test, a write, is not for a read-only check. So they are told apart by
 * their action names, for the drivers a validator has:
 * - NVMe I/O queues `nvme<ctrl>q<n>`, n ≥ 1 (drivers/nvme/host/pci.c nvme_setup_irqs: PCI_IRQ_AFFINITY with
 *   pre_vectors = 1, so the admin queue `nvme<ctrl>q0` is NOT managed and follows irqaffinity=);
 * - virtio-blk request queues `virtio<n>-req.<q>` (drivers/block/virtio_blk.c init_vq: virtio_find_vqs with an
 *   irq_affinity descriptor) on virtual machines.
 * A managed IRQ of another driver reads as movable: its check fails and names it, which is the safe mistake.
 */
const MANAGED_ACTION = [/^nvme\d+q[1-9]\d*$/, /^virtio\d+-req\.\d+$/]

export const isManagedIrq = (row: Pick<InterruptRow, 'actions'>): boolean =>
  row.actions.length > 0 && row.actions.every((a) => MANAGED_ACTION.some((re) => re.test(a)))

/** `/proc/irq/<n>/*_affinity_list` text → CPUs (the kernel's list format, `%*pbl`). */
export const parseAffinityList = (text: string): number[] => parseCpuList(text)
