// What the validator-shaped smoke pod's process sees, judged as the validator needs it (issue #24's runtime
// contract): the rlimits the validator's config renders (lib/host/solana-limits.ts VALIDATOR_RLIMITS), the
// capabilities its network path needs (validatorCapabilities), and CPUs and memory from one NUMA node, none of them
// reserved for the system. Read on the node through the Talos API: `talosctl containers -k` for the PID, then
// /proc/<pid>/limits and /proc/<pid>/status. Pure: text in, verdicts out.
import { capabilitiesOfMask } from '../../lib/host/capabilities.ts'
import { formatCpuList, parseCpuList } from '../../lib/host/numa.ts'
import { parseProcLimits, parseProcStatus } from '../../lib/host/procfs.ts'
import { VALIDATOR_RLIMITS } from '../../lib/host/solana-limits.ts'
import type { ContainerRow } from '../../lib/talos/parse.ts'

/** The rows of /proc/<pid>/limits the validator's rlimits appear as (kernel fs/proc/base.c lnames). */
const LIMIT_ROW: Record<(typeof VALIDATOR_RLIMITS)[number]['type'], string> = {
  RLIMIT_MEMLOCK: 'Max locked memory',
  RLIMIT_NOFILE: 'Max open files',
}

/** The running container `container` of pod `<namespace>/<name>` among `talosctl containers -k` rows. */
export function findContainer(
  rows: ContainerRow[],
  pod: { namespace: string; name: string },
  container: string,
): ContainerRow | undefined {
  return rows.find(
    (r) =>
      r.pod === `${pod.namespace}/${pod.name}` &&
      r.container === container &&
      r.status === 'CONTAINER_RUNNING' &&
      r.pid > 0,
  )
}

export interface ProcessWanted {
  /** Whole CPUs the pod asked for: its exclusive set under the static CPU manager. */
  cpus: number
  /** reservedSystemCpus, expanded. */
  reservedCpus: number[]
  /** Capabilities the container must hold in CapEff. */
  capabilities: string[]
}

export interface ProcessSeen {
  memlock: string
  nofile: string
  capabilities: string[]
  cpus: string
  mems: string
}

/** The NUMA node the process's memory is bound to, when it is exactly one (Mems_allowed_list). */
export function boundNumaNode(statusText: string): number | undefined {
  const mems = parseProcStatus(statusText).Mems_allowed_list
  const nodes = mems ? parseCpuList(mems) : []
  return nodes.length === 1 ? nodes[0] : undefined
}

const shown = (v: number | undefined) => (v === undefined ? 'unlimited' : String(v))

function limitProblems(limitsText: string): { problems: string[]; memlock: string; nofile: string } {
  const limits = parseProcLimits(limitsText)
  const problems: string[] = []
  const seen: Record<string, string> = {}
  for (const want of VALIDATOR_RLIMITS) {
    const row = limits.get(LIMIT_ROW[want.type])
    if (!row) {
      problems.push(`/proc/<pid>/limits has no "${LIMIT_ROW[want.type]}" row`)
      continue
    }
    seen[want.type] = shown(row.soft)
    // the soft limit is the one that binds; unlimited passes
    if (row.soft !== undefined && row.soft < want.minimum)
      problems.push(
        `${LIMIT_ROW[want.type]} is ${row.soft}, the validator needs at least ${want.minimum} ` +
          '(machine.baseRuntimeSpecOverrides in its config; containerd reads it when it starts: reboot after 02)',
      )
  }
  return { problems, memlock: seen.RLIMIT_MEMLOCK ?? '?', nofile: seen.RLIMIT_NOFILE ?? '?' }
}

/**
 * Everything wrong with the process; [] means it runs as the validator needs. `numaCpuList` is the cpulist of the
 * NUMA node its memory is bound to (/sys/devices/system/node/node<N>/cpulist), when boundNumaNode found one.
 */
export function evaluateValidatorProcess(
  text: { limits: string; status: string; numaCpuList?: string },
  want: ProcessWanted,
): { problems: string[]; seen: ProcessSeen } {
  const status = parseProcStatus(text.status)
  const { problems, memlock, nofile } = limitProblems(text.limits)
  const caps = status.CapEff ? capabilitiesOfMask(status.CapEff) : []
  if (!status.CapEff) problems.push('/proc/<pid>/status has no CapEff line')
  const missing = want.capabilities.filter((c) => !caps.includes(c))
  if (missing.length)
    problems.push(
      `lacks capabilities ${missing.join(', ')} (CapEff ${status.CapEff ?? '?'}: securityContext.capabilities.add)`,
    )

  const cpus = status.Cpus_allowed_list ? parseCpuList(status.Cpus_allowed_list) : []
  if (cpus.length !== want.cpus)
    problems.push(
      `runs on CPUs ${status.Cpus_allowed_list ?? '?'} (${cpus.length}), not on ${want.cpus} exclusive ones ` +
        '(the static CPU manager pins a Guaranteed pod with whole CPUs)',
    )
  const reserved = cpus.filter((c) => want.reservedCpus.includes(c))
  if (reserved.length) problems.push(`shares CPUs ${formatCpuList(reserved)} reserved for the system`)

  const node = boundNumaNode(text.status)
  if (node === undefined)
    problems.push(`memory is not bound to one NUMA node (Mems_allowed_list ${status.Mems_allowed_list ?? '?'})`)
  else if (text.numaCpuList !== undefined) {
    const local = new Set(parseCpuList(text.numaCpuList))
    const remote = cpus.filter((c) => !local.has(c))
    if (remote.length) problems.push(`CPUs ${formatCpuList(remote)} are not on NUMA node ${node}, where its memory is`)
  }
  return {
    problems,
    seen: {
      memlock,
      nofile,
      capabilities: caps,
      cpus: status.Cpus_allowed_list ?? '?',
      mems: status.Mems_allowed_list ?? '?',
    },
  }
}
