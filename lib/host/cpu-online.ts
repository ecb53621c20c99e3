// Which CPUs a kernel command line leaves online, and why a given CPU is not. Pure: what the product predicts before a
// boot (09's plan) and explains after one (the kubelet.reserved-cpus-online check). The rules, Linux 6.12 (Talos
// v1.10.3's kernel):
// - `nr_cpus=N`: at most N possible CPUs, so CPUs N and above do not exist in that boot
//   (Documentation/admin-guide/kernel-parameters.txt; arch/x86/kernel/smpboot.c prefill_possible_map).
// - `maxcpus=N`: the boot brings up the first N present CPUs in number order and no more (kernel/cpu.c
//   bringup_nonboot_cpus → cpuhp_bringup_mask: "starts all present CPUs up to a caller provided upper limit", the
//   limit counting every CPU it tries, a refused one too); the rest stay offline until hotplugged, which Talos never does.
// - `nosmt` / `nosmt=force`: only the primary thread of each core comes up (kernel/cpu.c smt_cmdline_disable,
//   cpu_bootable → topology_is_primary_thread; x86 boots the others once for CR4.MCE and takes them offline again). The
//   primary thread is the one whose APIC ID has its SMT bits 0, which the firmware lists first and Linux therefore
//   numbers lowest: the first CPU of each thread_siblings_list.
// `maxcpus=` counts the siblings it tries, so with both a secondary thread below N still uses up one of the N.
import { formatCpuList } from './numa.ts'

export interface CpuTopology {
  /** The CPUs the machine has (/sys/devices/system/cpu/present, or what the inventory knows). */
  present: number[]
  /** Each CPU's SMT siblings, itself included (thread_siblings_list); a CPU absent here has no known siblings. */
  siblings: Map<number, number[]>
}

/** The kernel args that take CPUs offline, from a command line or an args list; the last of each wins, as in the kernel. */
export function cpuLimitingArgs(args: string | string[]) {
  const list = typeof args === 'string' ? args.trim().split(/\s+/) : args
  let maxcpus: number | undefined
  let nrCpus: number | undefined
  let nosmt = false
  for (const a of list) {
    const [name, value] = a.split('=') as [string, string | undefined]
    if (name === 'maxcpus' && value && /^\d+$/.test(value)) maxcpus = Number(value)
    else if (name === 'nr_cpus' && value && /^\d+$/.test(value)) nrCpus = Number(value)
    else if (a === 'nosmt' || a === 'nosmt=force') nosmt = true
  }
  return { maxcpus, nrCpus, nosmt }
}

/** Why `cpu` is not online after a boot with `args`, or undefined when it is. */
export function whyOffline(cpu: number, args: string | string[], topo: CpuTopology): string | undefined {
  const { maxcpus, nrCpus, nosmt } = cpuLimitingArgs(args)
  const present = [...topo.present].sort((a, b) => a - b)
  if (!present.includes(cpu)) return `CPU ${cpu} is not present on this machine (present: ${formatCpuList(present)})`
  if (nrCpus !== undefined && cpu >= Math.max(1, nrCpus))
    return `nr_cpus=${nrCpus} makes CPUs ${Math.max(1, nrCpus)} and above impossible`
  if (nosmt) {
    const primary = Math.min(...(topo.siblings.get(cpu) ?? [cpu]))
    if (primary !== cpu)
      return `nosmt keeps only the first thread of each core, and CPU ${cpu} is the second of ${primary}'s`
  }
  if (maxcpus !== undefined) {
    const tried = present.filter((c) => nrCpus === undefined || c < Math.max(1, nrCpus)).slice(0, Math.max(1, maxcpus))
    if (!tried.includes(cpu))
      return `maxcpus=${maxcpus} brings up only the first ${maxcpus} CPUs (${formatCpuList(tried)})`
  }
  return undefined
}

/** The CPUs of `cpus` that a boot with `args` leaves offline, each with why. */
export function offlineAfterBoot(cpus: number[], args: string | string[], topo: CpuTopology) {
  return cpus.flatMap((cpu) => {
    const why = whyOffline(cpu, args, topo)
    return why ? [{ cpu, why }] : []
  })
}
