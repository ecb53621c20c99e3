// The lab kubelet's resource admission: whether kubelet v1.33.1 admits a pod to a node given its CPU manager, memory
// manager and topology manager settings, decided before any container of the pod starts. A pure function of the
// settings, the node's NUMA layout and what its running containers hold (lab/containers.ts calls it).
//
// What kubelet v1.33.1 does (pkg/kubelet/...):
// - The resource allocation admit handler runs the topology manager's scope Admit (kubelet.go:1005 adds it before the
//   predicate handler). With topologyManagerPolicy none the scope is the none scope (topologymanager/scope_none.go):
//   no hints, only each hint provider's Allocate (scope.go:147-155 admitPolicyNone). Otherwise the container scope
//   (scope_container.go:47-73) merges the providers' hints per container, rejects with TopologyAffinityError when the
//   policy does not admit the merged hint, then calls Allocate; the pod scope (scope_pod.go:47-72) merges hints for
//   the pod's total request once, then allocates every container.
// - CPU manager, static policy: hints only for a Guaranteed container with an integer CPU request
//   (cpumanager/policy_static.go:548-593); one hint per NUMA mask whose available CPUs (the default set minus
//   reservedSystemCPUs, :278-280) hold the request, preferred when the mask is as narrow as any that could hold it
//   (:659-720). Allocate with full-pcpus-only (:340-372): a request not a multiple of the CPUs per core, then a request
//   larger than the free CPUs outside the reserved CPUs' whole cores (:282-284, :172-183), is an SMTAlignmentError
//   (:43-65).
// - Memory manager, Static policy (memorymanager/policy_static.go:423-443, :476-568): hints for a Guaranteed
//   container's memory and huge page requests, one per NUMA mask whose free memory holds every request.
// - single-numa-node (topologymanager/policy_single_numa_node.go:60-95) keeps only preferred single-node hints, so a
//   container is admitted only when one NUMA node holds its CPUs and (under Static) its memory and huge pages;
//   otherwise TopologyAffinityError (topology_manager.go:41-55). best-effort admits whatever the merge gives
//   (policy_best_effort.go).
// - A rejection is admission.GetPodAdmitResult (cm/admission/errors.go:47-62): reason = the error's Type(), message =
//   its Error(); kubelet.go:2381-2388 rejectPod then records the pod Failed with "Pod was rejected: " + message.
//
// Simplified: a single-node hint is always preferred here (a node whose free CPUs or memory hold the request also holds
// it in total, so the narrowest mask is one node); memory groups spanning several nodes are not modelled (the lab
// assigns single nodes only); a memory request no combination of nodes holds (kubelet: no memory hints, "no
// preference", then Allocate fails with an UnexpectedAdmissionError) and a CPU request larger than all free CPUs
// under the none topology policy are admitted without an assignment; the restricted policy admits like best-effort;
// init containers are not modelled (the lab starts none), so the pod scope's request is its containers' sum.

/** The kubelet settings admission depends on, from the machine config's kubelet extraConfig. */
export interface AdmissionSettings {
  cpuPolicy: string
  fullPcpusOnly: boolean
  topologyPolicy: string
  topologyScope: string
  memoryPolicy: string
  reserved: number[]
}

/** The node as the managers see it when the pod arrives. */
export interface NodeResources {
  /** CPUs of each NUMA node. */
  numaCpus: number[][]
  /** The physical cores, each its thread siblings. */
  cores: number[][]
  /** CPUs running containers hold exclusively. */
  taken: number[]
  /** Free bytes per NUMA node and resource (memory, hugepages-<size>): the Static memory manager's machine state. */
  freeMemory?: Record<number, Record<string, number>>
}

/** One container's requests as the managers count them. */
export interface ContainerRequest {
  name: string
  /** The CPU request: exclusive CPUs only when it is an integer. */
  cpus: number
  /** memory and hugepages-<size> requests, in bytes. */
  memory: Record<string, number>
}

export interface PodRequest {
  guaranteed: boolean
  containers: ContainerRequest[]
}

export type Admission = { admit: true } | { admit: false; reason: string; message: string }

const ADMIT: Admission = { admit: true }

/** topology_manager.go:41-55 TopologyAffinityError. */
export const TOPOLOGY_AFFINITY_ERROR: Admission = {
  admit: false,
  reason: 'TopologyAffinityError',
  message: 'Resources cannot be allocated with Topology locality',
}

/** The CPUs the static policy pins for this container: an integer request of a Guaranteed pod (policy_static.go:548-558). */
function exclusiveCpus(s: AdmissionSettings, pod: PodRequest, c: ContainerRequest): number {
  return s.cpuPolicy === 'static' && pod.guaranteed && Number.isInteger(c.cpus) && c.cpus > 0 ? c.cpus : 0
}

/** The memory and huge pages the Static memory manager reserves for a Guaranteed container. */
function numaMemory(s: AdmissionSettings, pod: PodRequest, c: ContainerRequest): Record<string, number> {
  if (s.memoryPolicy !== 'Static' || !pod.guaranteed) return {}
  return Object.fromEntries(Object.entries(c.memory).filter(([, v]) => v > 0))
}

/** Available CPUs of a NUMA node: not reserved, not held by a container (policy_static.go:278-280). */
function availableCpus(s: AdmissionSettings, node: NodeResources, numa: number): number {
  const unavailable = new Set([...s.reserved, ...node.taken])
  return (node.numaCpus[numa] ?? []).filter((x) => !unavailable.has(x)).length
}

/** Each resource's bytes added up. */
const sumMemory = (xs: Record<string, number>[]) => {
  const out: Record<string, number> = {}
  for (const x of xs) for (const [r, v] of Object.entries(x)) out[r] = (out[r] ?? 0) + v
  return out
}

const memoryFitsIn = (free: Record<string, number> | undefined, want: Record<string, number>) =>
  Object.entries(want).every(([r, v]) => (free?.[r] ?? 0) >= v)

/**
 * Whether the memory manager gives any hint: some combination of nodes holds every request (policy_static.go:540-546).
 * With none, its hints are "no preference" and do not constrain the merge.
 */
function memoryHasHints(node: NodeResources, want: Record<string, number>): boolean {
  return memoryFitsIn(sumMemory(Object.values(node.freeMemory ?? {})), want)
}

/**
 * single-numa-node: is there one NUMA node whose available CPUs hold `cpus` and whose free memory holds `memory`?
 * The merged hint is then that node's (policy_single_numa_node.go:60-95); otherwise none is preferred.
 */
function fitsOneNumaNode(s: AdmissionSettings, node: NodeResources, cpus: number, memory: Record<string, number>) {
  const constrainMemory = Object.keys(memory).length > 0 && memoryHasHints(node, memory)
  if (!cpus && !constrainMemory) return true
  return node.numaCpus.some(
    (_, numa) =>
      (!cpus || availableCpus(s, node, numa) >= cpus) &&
      (!constrainMemory || memoryFitsIn(node.freeMemory?.[numa], memory)),
  )
}

/** CPUs per core as the CPU topology counts them (cpumanager/topology: NumCPUs / NumCores). */
function cpusPerCore(node: NodeResources): number {
  const cpus = node.numaCpus.flat().length
  return node.cores.length ? Math.max(1, Math.floor(cpus / node.cores.length)) : 1
}

/**
 * GetAvailablePhysicalCPUs (policy_static.go:282-284): the default set (CPUs no container holds) minus every CPU of a
 * core that holds a reserved CPU (:172-183).
 */
function availablePhysicalCpus(s: AdmissionSettings, node: NodeResources): number {
  const reserved = new Set(s.reserved)
  const reservedCores = node.cores.filter((core) => core.some((x) => reserved.has(x))).flat()
  const unavailable = new Set([...reservedCores, ...s.reserved, ...node.taken])
  return node.numaCpus.flat().filter((x) => !unavailable.has(x)).length
}

/** The static policy's Allocate check under full-pcpus-only (policy_static.go:340-372), messages as at :56-61. */
export function smtAlignment(s: AdmissionSettings, node: NodeResources, cpus: number): Admission {
  if (!s.fullPcpusOnly || s.cpuPolicy !== 'static' || !cpus) return ADMIT
  const perCore = cpusPerCore(node)
  if (cpus % perCore !== 0)
    return {
      admit: false,
      reason: 'SMTAlignmentError',
      message: `SMT Alignment Error: requested ${cpus} cpus not multiple cpus per core = ${perCore}`,
    }
  const available = availablePhysicalCpus(s, node)
  if (cpus > available)
    return {
      admit: false,
      reason: 'SMTAlignmentError',
      message: `SMT Alignment Error: not enough free physical CPUs: available physical CPUs = ${available}, requested CPUs = ${cpus}, CPUs per core = ${perCore}`,
    }
  return ADMIT
}

const alignsToOneNode = (s: AdmissionSettings) => s.topologyPolicy === 'single-numa-node'

/**
 * kubelet's resource admission of a pod. `allocate` takes a container's resources once it is admitted and returns the
 * node as the next container sees it (the container scope admits and allocates container by container).
 */
export function admitPod(
  s: AdmissionSettings,
  node: NodeResources,
  pod: PodRequest,
  allocate: (c: ContainerRequest) => NodeResources = () => node,
): Admission {
  if (!pod.guaranteed) return ADMIT
  const podScope = s.topologyScope === 'pod' && s.topologyPolicy !== 'none'
  if (podScope && alignsToOneNode(s)) {
    const cpus = pod.containers.reduce((t, c) => t + exclusiveCpus(s, pod, c), 0)
    const memory = sumMemory(pod.containers.map((c) => numaMemory(s, pod, c)))
    if (!fitsOneNumaNode(s, node, cpus, memory)) return TOPOLOGY_AFFINITY_ERROR
  }
  let now = node
  for (const c of pod.containers) {
    const cpus = exclusiveCpus(s, pod, c)
    if (!podScope && alignsToOneNode(s) && !fitsOneNumaNode(s, now, cpus, numaMemory(s, pod, c)))
      return TOPOLOGY_AFFINITY_ERROR
    const smt = smtAlignment(s, now, cpus)
    if (!smt.admit) return smt
    now = allocate(c)
  }
  return ADMIT
}

/**
 * The pod status kubelet's rejectPod records (kubelet.go:2381-2388): phase Failed, the reason, the message. The status
 * manager keeps conditions kubelet does not own (PodScheduled) and sets the start time when there is none
 * (status/status_manager.go updateStatusInternal, mergePodStatus).
 */
export function rejectedStatus(
  prev: Record<string, any> | undefined,
  rejection: { reason: string; message: string },
  now: string,
) {
  return {
    phase: 'Failed',
    conditions: ((prev?.conditions ?? []) as { type: string }[]).filter((c) => c.type === 'PodScheduled'),
    reason: rejection.reason,
    message: `Pod was rejected: ${rejection.message}`,
    startTime: prev?.startTime ?? now,
    qosClass: prev?.qosClass,
  }
}
