// CPU isolation on the validator, checked by its effects: device IRQs sit on the reserved (system) CPUs, the
// validator's CPUs take none of them, every CPU runs the inventory's cpufreq governor, and no isolcpus= splits the
// CPU manager's pool. The validator's CPUs are the complement of validator.reservedSystemCpus; the schematic boots
// with irqaffinity=<reservedSystemCpus> and cpufreq.default_governor=<cpuGovernor> (config/render.ts
// cpuIsolationKernelArgs).
import { names, validatorNodes, type CheckInventory } from '../engine/inventory.ts'
import { count, fail, nodeValue, pass, warn, worded } from '../engine/results.ts'
import { defineCheck, type InterruptSample, type IrqAffinityRow, type Result } from '../engine/types.ts'
import { formatCpuList, parseCpuList } from '../../lib/host/numa.ts'
import {
  interruptDeltas,
  isManagedIrq,
  parseAffinityList,
  parseInterrupts,
  type InterruptTable,
} from '../../lib/host/interrupts.ts'

const reservedOf = (inv: CheckInventory) => parseCpuList(inv.validator?.reservedSystemCpus ?? '')
/** Only a validator with reserved CPUs has CPUs of its own to keep quiet. */
const isolating = (inv: CheckInventory) => (reservedOf(inv).length ? names(validatorNodes(inv)) : [])
const wantedGovernor = (inv: CheckInventory) => inv.validator?.cpuGovernor ?? 'performance'

// ---- judges (pure, exported for the tests) -----------------------------------------------------------------

interface IrqOutside {
  irq: number
  actions: string[]
  cpus: number[]
}

/**
 * Movable IRQs whose effective affinity (where the interrupt controller delivers it; smp_affinity_list when the
 * kernel has no effective_affinity_list) leaves the reserved CPUs. Managed IRQs are counted apart (isManagedIrq);
 * an IRQ with an empty affinity is not activated and delivers nothing.
 */
export function irqsOutside(rows: IrqAffinityRow[], reserved: number[]) {
  const allowed = new Set(reserved)
  const active = rows
    .map((r) => ({ ...r, cpus: parseAffinityList(r.effectiveAffinity ?? r.smpAffinity ?? '') }))
    .filter((r) => r.cpus.length > 0)
  const managed = active.filter((r) => isManagedIrq(r))
  const movable = active.filter((r) => !isManagedIrq(r))
  const outside: IrqOutside[] = movable
    .filter((r) => r.cpus.some((c) => !allowed.has(c)))
    .map((r) => ({ irq: r.irq, actions: r.actions, cpus: r.cpus }))
  return { movable: movable.length, managed: managed.length, outside }
}

/**
 * At most this many movable device interrupts a second on any validator CPU. Not 0: an IRQ moved while it fires may
 * still arrive once at its old CPU (x86 finishes a vector move on the IRQ's next interrupt,
 * arch/x86/kernel/apic/vector.c irq_complete_move), and a stray legacy IRQ is no harm. A device IRQ left on a
 * validator CPU fires far more often: a NIC queue under load hundreds to thousands of times a second.
 */
export const MAX_MOVABLE_IRQS_PER_SECOND = 10

/** The architecture's inter-processor interrupts (arch/x86/kernel/irq.c arch_show_interrupts). */
const IPI_ROWS = new Set(['RES', 'CAL', 'TLB', 'IWI'])

/**
 * What each validator CPU took in the window, per second. Judged: movable device IRQs (numeric rows that are not
 * managed). Shown, not judged: the local timer (LOC: the tick, which runs on every busy CPU because Talos's kernel
 * has no NO_HZ_FULL), IPIs (RES, CAL, TLB, IWI: sent on behalf of the work on that CPU, the validator's own
 * wake-ups and unmaps), and managed IRQs (blk-mq completes each I/O on the queue of the CPU that submitted it, so
 * they are the validator's own I/O).
 */
export function interruptRates(sample: InterruptSample, reserved: number[]) {
  const before: InterruptTable = parseInterrupts(sample.before)
  const after: InterruptTable = parseInterrupts(sample.after)
  const deltas = interruptDeltas(before, after)
  const reservedSet = new Set(reserved)
  const isolated = after.cpus.filter((c) => !reservedSet.has(c))
  const seconds = Math.max(sample.windowMs, 1) / 1000
  const movableLabels = after.rows.filter((r) => r.irq !== undefined && !isManagedIrq(r))
  const rate = (labels: string[], cpu: number) =>
    labels.reduce((a, l) => a + (deltas.get(l)?.get(cpu) ?? 0), 0) / seconds
  const perCpu = isolated.map((cpu) => {
    const sources = movableLabels
      .map((r) => ({ irq: r.label, actions: r.actions, perSecond: rate([r.label], cpu) }))
      .filter((s) => s.perSecond > 0)
    return {
      cpu,
      movable: sources.reduce((a, s) => a + s.perSecond, 0),
      sources,
      loc: rate(['LOC'], cpu),
      ipi: rate([...IPI_ROWS], cpu),
    }
  })
  return { isolated, seconds, perCpu }
}

/** CPU → governor for the CPUs whose governor is not `want`; the CPUs without cpufreq apart. */
export function governorsOff(governors: Record<number, string | null>, want: string) {
  const entries = Object.entries(governors).map(([c, g]) => [Number(c), g] as const)
  return {
    cpus: entries.length,
    none: entries.filter(([, g]) => g === null).map(([c]) => c),
    off: entries.filter(([, g]) => g !== null && g !== want) as [number, string][],
  }
}

const rateWords = (r: number) => `${r < 10 ? r.toFixed(1).replace(/\.0$/, '') : Math.round(r)}/s`
const irqWords = (x: { irq: number | string; actions: string[] }) =>
  `${x.irq}${x.actions.length ? ` (${x.actions.join(', ')})` : ''}`

// ---- checks ------------------------------------------------------------------------------------------------

export const irqAffinity = defineCheck({
  id: 'cpu.irq-affinity',
  group: 'cpu',
  title: 'movable device IRQs are delivered to the reserved CPUs only',
  targets: isolating,
  needs: ['irqAffinity'],
  evaluate: ({ irqAffinity }, inv) =>
    isolating(inv).flatMap((node): Result[] => {
      const v = nodeValue(irqAffinity, node, 'cpu.irq-affinity', '/proc/irq/*/effective_affinity_list')
      if ('fail' in v) return [v.fail]
      const reserved = formatCpuList(reservedOf(inv))
      const j = irqsOutside(v.value, reservedOf(inv))
      const wanted = worded({ reservedCpus: reserved }, `IRQs on ${reserved}`)
      const managed = `${count(j.managed, 'managed IRQ')} (kernel-spread) not judged`
      if (j.outside.length === 0)
        return [
          pass(
            'cpu.irq-affinity',
            node,
            worded(j, `${j.movable}/${j.movable} on ${reserved}`),
            wanted,
            `${count(j.movable, 'movable IRQ')} delivered to CPUs ${reserved}; ${managed}`,
          ),
        ]
      const shown = j.outside.slice(0, 5).map((o) => `${irqWords(o)} → CPU ${formatCpuList(o.cpus)}`)
      return [
        fail(
          'cpu.irq-affinity',
          node,
          worded(j, `${j.outside.length}/${j.movable} elsewhere`),
          wanted,
          `${count(j.outside.length, 'movable IRQ')} of ${j.movable} delivered outside CPUs ${reserved}: ${shown.join('; ')}${j.outside.length > 5 ? '; …' : ''} (boot with irqaffinity=${reserved}; ${managed})`,
        ),
      ]
    }),
})

export const irqQuiet = defineCheck({
  id: 'cpu.irq-quiet',
  group: 'cpu',
  title: 'the validator CPUs take no device interrupts',
  targets: isolating,
  needs: ['interruptSample'],
  evaluate: ({ interruptSample }, inv) =>
    isolating(inv).flatMap((node): Result[] => {
      const v = nodeValue(interruptSample, node, 'cpu.irq-quiet', '/proc/interrupts')
      if ('fail' in v) return [v.fail]
      const r = interruptRates(v.value, reservedOf(inv))
      const wanted = worded(
        { maxMovablePerSecondPerCpu: MAX_MOVABLE_IRQS_PER_SECOND },
        `≤ ${MAX_MOVABLE_IRQS_PER_SECOND}/s per CPU`,
      )
      if (r.perCpu.length === 0)
        return [pass('cpu.irq-quiet', node, 'no validator CPUs', wanted, 'every online CPU is reserved')]
      const worst = r.perCpu.reduce((a, b) => (b.movable > a.movable ? b : a))
      const maxOf = (k: 'loc' | 'ipi') => rateWords(Math.max(...r.perCpu.map((c) => c[k])))
      const info = `not judged: local timer up to ${maxOf('loc')}, IPIs up to ${maxOf('ipi')} per CPU`
      const seen = worded(r, `max ${rateWords(worst.movable)} (CPU ${worst.cpu})`)
      const cpus = formatCpuList(r.isolated)
      if (worst.movable <= MAX_MOVABLE_IRQS_PER_SECOND)
        return [
          pass(
            'cpu.irq-quiet',
            node,
            seen,
            wanted,
            `validator CPUs ${cpus} took at most ${rateWords(worst.movable)} movable device IRQs over ${r.seconds.toFixed(1)} s (${info})`,
          ),
        ]
      const noisy = r.perCpu.filter((c) => c.movable > MAX_MOVABLE_IRQS_PER_SECOND)
      const top = [...worst.sources]
        .sort((a, b) => b.perSecond - a.perSecond)
        .slice(0, 3)
        .map((s) => `${irqWords(s)} ${rateWords(s.perSecond)}`)
      return [
        fail(
          'cpu.irq-quiet',
          node,
          seen,
          wanted,
          `${count(noisy.length, 'validator CPU')} (${formatCpuList(noisy.map((c) => c.cpu))}) took more than ${MAX_MOVABLE_IRQS_PER_SECOND} movable device IRQs/s; CPU ${worst.cpu}: ${top.join(', ')} (${info})`,
        ),
      ]
    }),
})

export const cpuGovernor = defineCheck({
  id: 'cpu.governor',
  group: 'cpu',
  title: 'every CPU runs the inventory cpufreq governor',
  targets: (inv) => names(validatorNodes(inv)),
  needs: ['cpuGovernors'],
  evaluate: ({ cpuGovernors }, inv) =>
    names(validatorNodes(inv)).flatMap((node): Result[] => {
      const v = nodeValue(cpuGovernors, node, 'cpu.governor', '/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor')
      if ('fail' in v) return [v.fail]
      const want = wantedGovernor(inv)
      const g = governorsOff(v.value, want)
      const seenOf = (words: string) => worded(v.value, words)
      if (g.none.length === g.cpus)
        return [
          warn(
            'cpu.governor',
            node,
            seenOf('no cpufreq'),
            want,
            `no CPU of ${node} has a cpufreq policy (no scaling_governor): the firmware sets the clock; check its power profile`,
          ),
        ]
      if (g.off.length === 0 && g.none.length === 0)
        return [pass('cpu.governor', node, seenOf(`${want} ×${g.cpus}`), want, `${want} on all ${g.cpus} CPUs`)]
      const byGov = new Map<string, number[]>()
      for (const [c, gov] of g.off) byGov.set(gov, [...(byGov.get(gov) ?? []), c])
      if (g.none.length) byGov.set('no cpufreq', g.none)
      const words = [...byGov].map(([gov, cpus]) => `${gov} ×${cpus.length}`).join(', ')
      return [
        fail(
          'cpu.governor',
          node,
          seenOf(words),
          want,
          `${[...byGov].map(([gov, cpus]) => `CPUs ${formatCpuList(cpus)}: ${gov}`).join('; ')}, wanted ${want} (boot with cpufreq.default_governor=${want})`,
        ),
      ]
    }),
})

/**
 * isolcpus= takes CPUs out of the scheduler's balancing, which the static CPU manager does not know about
 * (kubernetes/kubernetes#87862); nohz_full= needs CONFIG_NO_HZ_FULL, which Talos v1.10.3's kernel lacks, so its file
 * is absent (or reads "(null)"). Reported as read; only isolated CPUs warn.
 */
export const isolcpus = defineCheck({
  id: 'cpu.isolcpus',
  group: 'cpu',
  title: 'no isolcpus= splits the CPU manager pool (nohz_full reported)',
  targets: (inv) => names(validatorNodes(inv)),
  needs: ['cpuIsolationSysfs'],
  evaluate: ({ cpuIsolationSysfs }, inv) =>
    names(validatorNodes(inv)).flatMap((node): Result[] => {
      const v = nodeValue(cpuIsolationSysfs, node, 'cpu.isolcpus', '/sys/devices/system/cpu/isolated')
      if ('fail' in v) return [v.fail]
      const isolated = (v.value.isolated ?? '').trim()
      const nohz = v.value.nohzFull?.trim()
      const nohzWords = !nohz || nohz === '(null)' ? 'unsupported' : nohz
      const seen = worded(
        v.value,
        `${isolated || 'none'}; ${nohzWords === 'unsupported' ? 'no nohz_full' : `nohz_full ${nohz}`}`,
      )
      return [
        isolated === ''
          ? pass('cpu.isolcpus', node, seen, 'none', `no isolated CPUs; nohz_full: ${nohzWords}`)
          : warn(
              'cpu.isolcpus',
              node,
              seen,
              'none',
              `CPUs ${isolated} are isolated (isolcpus=): kubelet's static CPU manager still puts shared-pool pods there and the scheduler does not balance them (kubernetes/kubernetes#87862)`,
            ),
      ]
    }),
})

export const cpuChecks = [irqAffinity, irqQuiet, cpuGovernor, isolcpus]
