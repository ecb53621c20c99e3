// The smoke pod of runbook 07: the smallest workload shaped like the Solana validator's (Guaranteed QoS, whole
// CPUs, 1 GiB hugepages, pinned to the validator node past its taints). If it runs, the kubelet's static CPU
// manager, the topology manager and the hugepage pool accept a real validator pod. Pure: no I/O here.
import { parseQuantity } from '../../lib/kube/quantity.ts'
import type { KubeNode } from '../../lib/kube/kubectl.ts'
import { validatorCapabilities, type NetProvider } from '../../lib/host/solana-limits.ts'

/** What this module reads from the inventory (a structural subset of config/inventory.ts's Inventory). */
export interface SmokeInventory {
  nodes: { name: string; address: string; role: string; profile?: string }[]
  validator?: {
    /** The pools, default (largest) first: the smoke pod uses the default pool's size. */
    hugepages?: { size: string }[]
    /** The validator pod's requests: the smoke pod asks for the same of the default size, so it proves the real pod fits. */
    pod?: { cpus: number; memory: string; hugepages: Partial<Record<string, string>> }
    labels?: Record<string, string>
    taints?: { key: string; value?: string; effect: string }[]
    netProvider?: NetProvider
    namespace?: string
  }
}

interface SmokePodOptions {
  name?: string
  namespace?: string
  image?: string
  /** Whole CPUs: the static CPU manager gives exclusive cores only to integer requests. Default: validator.pod.cpus, else 2. */
  cpus?: number
  /** Default: validator.pod.memory, else 1Gi. */
  memory?: string
  /** Hugepage bytes as a quantity, a multiple of the page size. Default: validator.pod.hugepages, else one page. */
  hugepages?: string
  /** The validator's Kubernetes node name when it differs from the inventory name. */
  nodeName?: string
  /** Also require the inventory's validator labels in the nodeSelector (proves runbook 05 labelled it). Default true. */
  requireLabels?: boolean
  /** Shaped like the validator's runtime too: the host's network and the capabilities its net provider needs. */
  validatorShape?: boolean
}

export const SMOKE_DEFAULTS = {
  name: 'talos-runbooks-smoke',
  namespace: 'default',
  // The pause image runs forever doing nothing and is on every node already (the sandbox image).
  image: 'registry.k8s.io/pause:3.10',
  cpus: 2,
  memory: '1Gi',
} as const

const SMOKE_LABEL = 'talos-runbooks/smoke-pod'
export const SMOKE_CONTAINER = 'smoke'
const HUGEPAGE_MOUNT = '/hugepages'

interface SmokePod {
  apiVersion: 'v1'
  kind: 'Pod'
  metadata: { name: string; namespace: string; labels: Record<string, string>; [extra: string]: unknown }
  spec: Record<string, unknown> & {
    nodeSelector: Record<string, string>
    tolerations: { key: string; operator: 'Equal'; value: string; effect: string }[]
    containers: {
      name: string
      image: string
      resources: { requests: Record<string, string>; limits: Record<string, string> }
      volumeMounts: { name: string; mountPath: string }[]
    }[]
    volumes: { name: string; emptyDir: { medium: string } }[]
  }
  [extra: string]: unknown
}

function validatorOf(inv: SmokeInventory) {
  const v = inv.nodes.find((n) => n.profile === 'validator')
  if (!v) throw new Error('inventory: no node has profile: validator')
  return v
}

/**
 * The default pool's size "1Gi" → "hugepages-1Gi" (the resource) and "HugePages-1Gi" (the emptyDir medium). The
 * smoke pod proves one pool: a second pool's pages are checked by the hugepages checks, not by this pod.
 */
export function hugepageNames(inv: SmokeInventory): { size: string; resource: string; medium: string } {
  const size = inv.validator?.hugepages?.[0]?.size ?? '1Gi'
  return { size, resource: `hugepages-${size}`, medium: `HugePages-${size}` }
}

export function smokePodManifest(inv: SmokeInventory, opts: SmokePodOptions = {}): SmokePod {
  const node = validatorOf(inv)
  const { size, resource, medium } = hugepageNames(inv)
  const wanted = inv.validator?.pod
  const cpus = opts.cpus ?? wanted?.cpus ?? SMOKE_DEFAULTS.cpus
  if (!Number.isInteger(cpus) || cpus < 1) throw new Error(`smoke pod: cpus must be a whole number >= 1 (got ${cpus})`)
  const hugepages = opts.hugepages ?? wanted?.hugepages[size] ?? size
  const pageBytes = parseQuantity(size)
  const hpBytes = parseQuantity(hugepages)
  if (hpBytes <= 0 || Math.abs(hpBytes / pageBytes - Math.round(hpBytes / pageBytes)) > 1e-9) {
    throw new Error(`smoke pod: hugepages ${hugepages} is not a whole number of ${size} pages`)
  }
  const amounts = {
    cpu: String(cpus),
    memory: opts.memory ?? wanted?.memory ?? SMOKE_DEFAULTS.memory,
    [resource]: hugepages,
  }
  const selector: Record<string, string> = {
    ...(opts.requireLabels === false ? {} : (inv.validator?.labels ?? {})),
    'kubernetes.io/hostname': opts.nodeName ?? node.name,
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: opts.name ?? SMOKE_DEFAULTS.name,
      namespace: opts.namespace ?? SMOKE_DEFAULTS.namespace,
      labels: { [SMOKE_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'talos-runbooks' },
    },
    spec: {
      nodeSelector: selector,
      tolerations: (inv.validator?.taints ?? []).map((t) => ({
        key: t.key,
        operator: 'Equal' as const,
        value: t.value ?? '',
        effect: t.effect,
      })),
      // a crash must show as Failed, not hide in a restart loop behind phase Running
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 5,
      automountServiceAccountToken: false,
      ...(opts.validatorShape ? { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
      containers: [
        {
          name: SMOKE_CONTAINER,
          image: opts.image ?? SMOKE_DEFAULTS.image,
          resources: { requests: { ...amounts }, limits: { ...amounts } },
          volumeMounts: [{ name: 'hugepages', mountPath: HUGEPAGE_MOUNT }],
          ...(opts.validatorShape
            ? { securityContext: { capabilities: { add: validatorCapabilities(inv.validator?.netProvider) } } }
            : {}),
        },
      ],
      volumes: [{ name: 'hugepages', emptyDir: { medium } }],
    },
  }
}

/** The pod as the API returns it: only what evaluateSmokePod reads. */
export interface ObservedPod {
  metadata?: { name?: string; namespace?: string; uid?: string; deletionTimestamp?: string }
  spec?: {
    nodeName?: string
    containers?: {
      name: string
      resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
      volumeMounts?: { name: string; mountPath: string }[]
    }[]
    volumes?: { name: string; emptyDir?: { medium?: string } }[]
  }
  status?: {
    phase?: string
    /** Why the pod ended: kubelet's admission rejection sets reason (e.g. SMTAlignmentError) and message. */
    reason?: string
    message?: string
    qosClass?: string
    conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[]
    containerStatuses?: {
      name: string
      ready?: boolean
      state?: Record<string, { reason?: string; message?: string } | undefined>
    }[]
  }
}

const qty = (v: string | undefined): number | undefined => {
  if (v === undefined) return undefined
  try {
    return parseQuantity(v)
  } catch {
    return NaN
  }
}

/**
 * Everything wrong with the smoke pod as observed; [] means it runs Guaranteed on the validator with exclusive
 * whole CPUs and its hugepages. `nodeName` is the validator's Kubernetes node name when not the inventory name.
 */
export function evaluateSmokePod(pod: ObservedPod, inv: SmokeInventory, opts: { nodeName?: string } = {}): string[] {
  const problems: string[] = []
  const want = opts.nodeName ?? validatorOf(inv).name
  const { resource, medium } = hugepageNames(inv)
  const where = pod.spec?.nodeName
  if (!where) problems.push(`not scheduled on any node (wanted ${want})`)
  else if (where !== want) problems.push(`runs on ${where}, not on the validator node ${want}`)
  if (pod.status?.qosClass !== 'Guaranteed')
    problems.push(`QoS class is ${pod.status?.qosClass ?? 'unset'}, not Guaranteed`)

  const containers = pod.spec?.containers ?? []
  if (containers.length === 0) problems.push('has no containers')
  for (const c of containers) {
    const req = c.resources?.requests ?? {}
    const lim = c.resources?.limits ?? {}
    for (const r of ['cpu', 'memory', resource]) {
      const rq = qty(req[r])
      const lm = qty(lim[r])
      if (lm === undefined) problems.push(`container ${c.name}: no ${r} limit`)
      else if (rq !== undefined && rq !== lm)
        problems.push(`container ${c.name}: ${r} request ${req[r]} != limit ${lim[r]}`)
      else if (Number.isNaN(lm))
        problems.push(`container ${c.name}: ${r} limit ${JSON.stringify(lim[r])} is not a quantity`)
    }
    const cpu = qty(lim.cpu)
    if (cpu !== undefined && !Number.isNaN(cpu) && !Number.isInteger(cpu)) {
      problems.push(
        `container ${c.name}: cpu ${lim.cpu} is not a whole number of CPUs (no exclusive cores under the static CPU manager)`,
      )
    }
    const hp = qty(lim[resource])
    if (hp !== undefined && !(hp > 0))
      problems.push(`container ${c.name}: ${resource} limit ${lim[resource]} is not positive`)
    const mount = (c.volumeMounts ?? []).find((m) =>
      (pod.spec?.volumes ?? []).some((v) => v.name === m.name && v.emptyDir?.medium === medium),
    )
    if (!mount) problems.push(`container ${c.name}: no ${medium} emptyDir volume mounted`)
  }

  const phase = pod.status?.phase ?? 'unknown'
  if (phase !== 'Running') {
    const why = schedulingFailure(pod) ?? waitingReason(pod)
    problems.push(`phase is ${phase}, not Running${why ? `: ${why}` : ''}`)
  } else {
    for (const cs of pod.status?.containerStatuses ?? []) {
      if (cs.ready === false)
        problems.push(`container ${cs.name} is not ready${waitingReason(pod) ? `: ${waitingReason(pod)}` : ''}`)
    }
  }
  return problems
}

/** Why a container is not running (ImagePullBackOff, CreateContainerError, ...), if the kubelet said. */
export function waitingReason(pod: ObservedPod): string | undefined {
  for (const cs of pod.status?.containerStatuses ?? []) {
    for (const [state, detail] of Object.entries(cs.state ?? {})) {
      if (state === 'running' || !detail) continue
      const text = [detail.reason, detail.message].filter(Boolean).join(': ')
      if (text) return `container ${cs.name} ${state}: ${text}`
    }
  }
  return undefined
}

/**
 * What an operator reads about a pod that ended Failed or Succeeded: its phase, node, the pod's own reason and message
 * (kubelet sets them when it rejects the pod at admission, e.g. "SMTAlignmentError: Pod was rejected: SMT Alignment
 * Error: ...") and a container's terminated or waiting reason.
 */
export function podEndedMessage(pod: ObservedPod): string {
  const name = `${pod.metadata?.namespace ?? '?'}/${pod.metadata?.name ?? '?'}`
  const status = pod.status ?? {}
  const own = [status.reason, status.message].filter(Boolean).join(': ')
  const details = [own, waitingReason(pod)].filter(Boolean).join('; ')
  return `pod ${name} ended ${status.phase ?? '?'} on ${pod.spec?.nodeName ?? '?'}${details ? `: ${details}` : ''}`
}

export interface PodEvent {
  type?: string
  reason?: string
  message?: string
  involvedObject?: { kind?: string; name?: string; namespace?: string; uid?: string }
  lastTimestamp?: string | null
  eventTime?: string | null
  firstTimestamp?: string | null
}

/**
 * The scheduler's verdict on a pod it could not place: the PodScheduled=False condition's message, else the latest
 * FailedScheduling event about this pod. undefined while the pod is scheduled or nobody has said why not.
 */
export function schedulingFailure(pod: ObservedPod, events: PodEvent[] = []): string | undefined {
  const cond = pod.status?.conditions?.find((c) => c.type === 'PodScheduled')
  if (cond?.status === 'True' || pod.spec?.nodeName) return undefined
  if (cond?.status === 'False' && cond.message) return cond.message
  const mine = events
    .filter((e) => e.reason === 'FailedScheduling' && e.message)
    .filter((e) => {
      const o = e.involvedObject
      if (!o) return false
      if (o.kind && o.kind !== 'Pod') return false
      if (pod.metadata?.uid && o.uid) return o.uid === pod.metadata.uid
      return (
        o.name === pod.metadata?.name &&
        (!pod.metadata?.namespace || !o.namespace || o.namespace === pod.metadata.namespace)
      )
    })
    .sort((a, b) => stamp(a).localeCompare(stamp(b)))
  const last = mine.at(-1)
  if (last) return last.message
  if (cond?.status === 'False') return cond.reason
  return undefined
}

const stamp = (e: PodEvent) => e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? ''

/** Preflight for 07: the validator node is Ready and offers at least the pod's hugepages. [] when fine. */
export function evaluateValidatorNode(
  node: KubeNode | undefined,
  inv: SmokeInventory,
  podHugepages?: string,
): string[] {
  const v = validatorOf(inv)
  if (!node) return [`validator node ${v.name} (${v.address}) is not registered in Kubernetes`]
  const problems: string[] = []
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')
  if (ready?.status !== 'True')
    problems.push(`node ${node.metadata.name} is not Ready${ready?.message ? `: ${ready.message}` : ''}`)
  const { resource, size } = hugepageNames(inv)
  const have = qty(node.status?.allocatable?.[resource]) ?? 0
  const need = qty(podHugepages ?? size) ?? 0
  if (!(have > 0))
    problems.push(`node ${node.metadata.name} has no ${resource} allocatable (hugepages not reserved at boot?)`)
  else if (have < need)
    problems.push(
      `node ${node.metadata.name} has ${node.status?.allocatable?.[resource]} ${resource} allocatable, the smoke pod needs ${podHugepages ?? size}`,
    )
  return problems
}

/**
 * The PodSecurity verdict in an API server's refusal (k8s.io/pod-security-admission admission.go: `violates
 * PodSecurity "<level>:<version>": <reasons>`), or undefined when the refusal is about something else.
 */
export function podSecurityRefusal(stderr: string): string | undefined {
  return /violates PodSecurity "[^"]+": [^\n]+/.exec(stderr)?.[0]
}
