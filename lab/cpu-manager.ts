// kubelet v1.33's CPU manager as it starts, for the lab kubelet: its checkpoint /var/lib/kubelet/cpu_manager_state
// (JSON and checksum), how it is restored, and the static policy's validateState. Sources (kubernetes v1.33.1):
//   pkg/kubelet/cm/cpumanager/state/checkpoint.go        CPUManagerCheckpoint(V2) (:36-41), MarshalCheckpoint (:81-86)
//   pkg/kubelet/cm/cpumanager/state/state_checkpoint.go  NewCheckpointState's wrapping error (:56-59), restoreState
//                                                        (:90-140: missing → storeState; policy name; cpuset parse)
//   pkg/kubelet/cm/cpumanager/policy_static.go           validateState (:201-270)
//   pkg/kubelet/cm/container_manager_linux.go            "start cpu manager error: %w" (:586-588)
// The checksum is kubelet's: fnv32a of the checkpoint's go-spew dump (checkpointmanager/checksum/checksum.go, as the
// memory manager's, lab/memory-manager.ts). test/unit/lab-cpu-manager.test.ts checks it against the checkpoints
// kubelet's own code wrote (test/fixtures/kubelet/cpu_manager_state.*.json).
import { formatCpuList, parseCpuList } from '../lib/host/numa.ts'
import { coresOf } from './hardware.ts'
import { fnv32a } from './memory-manager.ts'
import type { Hardware } from './state.ts'

/** pod UID → container name → its exclusive CPUs, as a cpuset string. */
export type CpuAssignments = Record<string, Record<string, string>>
export interface CpuCheckpoint {
  policyName: string
  defaultCpuSet: string
  entries?: CpuAssignments
  checksum: number
}

const goSorted = (o: object) => Object.keys(o).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : a === b ? 0 : 1))

/**
 * dump.ForHash of the checkpoint: a restored checkpoint without `entries` keeps the empty map NewCPUManagerCheckpoint
 * made (`map[]`); map keys sorted (spew SortKeys); the checksum field is 0. Kubelet's own dump of an assignment:
 * `Entries:(map[string]map[string]string)map[pod-uid-1:map[validator:2-3,18-19]]`.
 */
export function spewCpuCheckpoint(cp: Omit<CpuCheckpoint, 'checksum'>): string {
  const e = cp.entries ?? {}
  const entries = `map[${goSorted(e)
    .map(
      (pod) =>
        `${pod}:map[${goSorted(e[pod]!)
          .map((c) => `${c}:${e[pod]![c]}`)
          .join(' ')}]`,
    )
    .join(' ')}]`
  return `(*state.CPUManagerCheckpoint){PolicyName:(string)${cp.policyName} DefaultCPUSet:(string)${cp.defaultCpuSet} Entries:(map[string]map[string]string)${entries} Checksum:(checksum.Checksum)0}`
}

export const cpuCheckpointChecksum = (cp: Omit<CpuCheckpoint, 'checksum'>): number => fnv32a(spewCpuCheckpoint(cp))

/** MarshalCheckpoint: Go's field order, `entries` omitted when empty (omitempty), map keys sorted (encoding/json). */
export function marshalCpuCheckpoint(cp: Omit<CpuCheckpoint, 'checksum'>): string {
  const e = cp.entries ?? {}
  const entries = Object.keys(e).length
    ? {
        entries: Object.fromEntries(
          goSorted(e).map((p) => [p, Object.fromEntries(goSorted(e[p]!).map((c) => [c, e[p]![c]]))]),
        ),
      }
    : {}
  return JSON.stringify({
    policyName: cp.policyName,
    defaultCpuSet: cp.defaultCpuSet,
    ...entries,
    checksum: cpuCheckpointChecksum(cp),
  })
}

/**
 * The CPUs online after a boot with this command line, which are the CPUs kubelet's CPU manager sees (cadvisor reads
 * the online CPUs' topology). `nr_cpus=N` (possible CPUs) and `maxcpus=N` (CPUs brought up at boot) leave the first N
 * logical CPUs, the boot CPU at least (Documentation/admin-guide/kernel-parameters.txt); `nosmt` keeps the first
 * thread of each core (kernel/cpu.c cpu_smt_control, cpu_bootable). The lab models these only here, for kubelet's
 * CPU manager: the lab's sysfs keeps every CPU of the hardware.
 */
export function onlineCpus(hw: Pick<Hardware, 'numaCpus' | 'threadSiblings'>, cmdline: string): number[] {
  let cpus = hw.numaCpus.flat().sort((a, b) => a - b)
  for (const arg of cmdline.trim().split(/\s+/)) {
    const [name, value] = arg.split('=') as [string, string | undefined]
    if ((name === 'maxcpus' || name === 'nr_cpus') && value !== undefined && /^\d+$/.test(value))
      cpus = cpus.slice(0, Math.max(1, Number(value)))
  }
  if (/(^|\s)nosmt(=force)?(\s|$)/.test(cmdline)) {
    const secondary = new Set(coresOf(hw).flatMap((core) => [...core].sort((a, b) => a - b).slice(1)))
    cpus = cpus.filter((c) => !secondary.has(c))
  }
  return cpus
}

/**
 * The static policy's validateState (policy_static.go :201-269, without strict-cpu-reservation, which the product does
 * not set): an empty defaultCpuSet without assignments is fresh and takes every CPU (:211-219); otherwise the reserved
 * CPUs must be in defaultCpuSet (:231-235), no assignment may overlap it (:238-246), and defaultCpuSet with every
 * assignment must be exactly the CPUs kubelet sees (:255-267). Returns kubelet's error, or the defaultCpuSet to store.
 */
export function validateCpuState(
  cp: Omit<CpuCheckpoint, 'checksum'>,
  allCpus: number[],
  reserved: number[],
): { error: string } | { defaultCpuSet: string } {
  const deflt = parseCpuList(cp.defaultCpuSet)
  const assigned = Object.values(cp.entries ?? {}).flatMap((c) => Object.values(c).flatMap((s) => parseCpuList(s)))
  if (deflt.length === 0) {
    if (Object.keys(cp.entries ?? {}).length) return { error: 'default cpuset cannot be empty' }
    return { defaultCpuSet: formatCpuList(allCpus) }
  }
  const inDefault = new Set(deflt)
  if (!reserved.every((c) => inDefault.has(c)))
    return {
      error: `not all reserved cpus: "${formatCpuList(reserved)}" are present in defaultCpuSet: "${formatCpuList(deflt)}"`,
    }
  for (const [pod, containers] of Object.entries(cp.entries ?? {}))
    for (const [container, set] of Object.entries(containers))
      if (parseCpuList(set).some((c) => inDefault.has(c)))
        return {
          error: `pod: ${pod}, container: ${container} cpuset: "${formatCpuList(parseCpuList(set))}" overlaps with default cpuset "${formatCpuList(deflt)}"`,
        }
  const known = formatCpuList([...deflt, ...assigned])
  if (known !== formatCpuList(allCpus))
    return {
      error: `current set of available CPUs "${formatCpuList(allCpus)}" doesn't match with CPUs in state "${known}"`,
    }
  return { defaultCpuSet: cp.defaultCpuSet }
}
