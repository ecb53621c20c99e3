// The lab kubelet's containers: for every pod it runs, the pod's sandbox (pause) and one process per container, each
// with a PID, as containerd's CRI creates them on Talos v1.10.3. Kept per node in nodes/<n>/containers.json (outside
// the sysroot: the kernel makes /proc, nothing writes it), for the boot they were started in: a reboot ends them and
// the kubelet starts new ones (new container IDs, new PIDs). What a process was given is fixed when it starts
// (limits, capabilities, exclusive CPUs, memory NUMA nodes); lab/machine-api/files.ts Read renders /proc/<pid>/limits
// and /proc/<pid>/status from it (lab/proc-status.ts), lab/machine-api/containers.ts answers `talosctl containers`.
//
// Resources, as kubelet v1.33's managers assign them when the container is created:
// - CPU manager, static policy (pkg/kubelet/cm/cpumanager/policy_static.go Allocate): a container of a Guaranteed
//   pod with an integer CPU request gets exclusive CPUs, taken from the shared pool minus reservedSystemCPUs; with a
//   topology manager policy they come from one NUMA node when it has room (the lowest such node, as the merged
//   hint's narrowest-then-lowest mask picks it); within it whole free cores first, in core order, then single CPUs
//   (cpu_assignment.go takeByTopologyNUMAPacked: takeFullCores, takeRemainingCPUs). Everything else runs on the
//   shared pool, the checkpoint's defaultCpuSet (reserved CPUs included), which kubelet's reconcile loop keeps
//   every shared container's cpuset at: rendered at read time. The assignments go into
//   /var/lib/kubelet/cpu_manager_state (entries: pod UID → container → CPU list; defaultCpuSet without them).
// - Memory manager, Static policy (memorymanager/policy_static.go Allocate): a Guaranteed container's memory and
//   huge page requests are reserved on that NUMA node; its cpuset.mems is that node. Written into
//   /var/lib/kubelet/memory_manager_state (entries, and the machine state's reserved/free), so the checkpoint
//   kubelet validates at its next start matches (lab/memory-manager.ts validateState). Without an assignment the
//   process may use every NUMA node that has memory.
// Admission comes first (lab/kubelet-admission.ts, as kubelet's topology manager scope Admit runs the managers): a
// pod kubelet rejects (full-pcpus-only's SMTAlignmentError, single-numa-node's TopologyAffinityError) gets no
// containers and no assignment, is recorded in `rejected` and never started; the caller sets its status Failed.
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { formatCpuList, parseCpuList } from '../lib/host/numa.ts'
import { parseQuantity } from '../lib/kube/quantity.ts'
import { CRI_BASE_SPEC } from './cri-base-spec.ts'
import {
  admitPod,
  type AdmissionSettings,
  type ContainerRequest,
  type NodeResources,
  type PodRequest,
} from './kubelet-admission.ts'
import { coresOf } from './hardware.ts'
import { CPU_STATE, MEMORY_STATE, kubeletCpus, writeCpuCheckpoint } from './kubelet.ts'
import {
  applyAssignments,
  marshalCheckpoint,
  type Assignments,
  type Block,
  type MemoryManagerCheckpoint,
  type NUMANodeMap,
} from './memory-manager.ts'
import {
  containerCaps,
  containerRlimits,
  renderProcLimits,
  renderProcStatus,
  renderCap,
  type OciCaps,
  type Rlimit,
} from './proc-status.ts'
import { isDown, paths, writeFileAtomic, type LabNode } from './state.ts'

type Obj = Record<string, any>

/** Talos v1.10.3 pkg/images/list.go:34 DefaultSandboxImage: the pause image of every pod sandbox. */
export const SANDBOX_IMAGE = 'registry.k8s.io/pause:3.10'

export interface LabContainer {
  podUid: string
  podNamespace: string
  podName: string
  /** The container's name; '' for the pod's sandbox. */
  name: string
  /** 64 hex digits, as containerd names containers and sandboxes. */
  id: string
  sandboxId: string
  /** The image as containerd lists it (its first RepoTag: the normalized reference). */
  image: string
  pid: number
  ppid: number
  comm: string
  uid: number
  gid: number
  caps: { inh: string; prm: string; eff: string; bnd: string; amb: string }
  noNewPrivs: boolean
  seccomp: boolean
  hostPid: boolean
  /** The sandbox's network namespace (cni-<uuid>); '' with hostNetwork. */
  netns: string
  rlimits: Rlimit[]
  exclusiveCpus?: number[]
  memoryBlocks?: Block[]
  startedAt: string
}

interface NodeContainers {
  /** node.bootedAt of the boot these processes run in */
  boot: string
  nextPid: number
  containers: LabContainer[]
  /** Pods kubelet refused to admit, by UID: never started (kubelet does not retry admission). */
  rejected?: Record<string, Rejection>
}

export interface Rejection {
  reason: string
  message: string
}

/** One machine as its kubelet starts containers on it: a lab machine's state, or a kubelet agent's sysroot. */
export interface KubeletHost {
  hardware: LabNode['hardware']
  /** the machine's sysroot (lab/sysroot.ts): kubelet's checkpoints, meminfo, the CRI base spec */
  root: string
  /** where its containers are kept: outside the sysroot (the kernel makes /proc, nothing writes it) */
  file: string
  /** the boot its processes run in: a new boot ends them */
  boot: string
  /** the v1alpha1 document of its machine config (machine.kubelet), read when a pod is to be started */
  config: () => Obj
}

const fileOf = (name: string) => join(paths.nodeDir(name), 'containers.json')

/** The v1alpha1 document of a machine config file ({} when there is none). */
function configDoc(f: string): Obj {
  if (!existsSync(f)) return {}
  return (parseAllDocuments(readFileSync(f, 'utf8'))
    .map((d) => d.toJS() as Obj | null)
    .find((d) => d?.machine) ?? {}) as Obj
}

/** A lab machine as its kubelet's host: containers.json kept per boot (LabNode.bootedAt), as `talosctl containers` reads it. */
export const labHost = (n: LabNode): KubeletHost => ({
  hardware: n.hardware,
  root: paths.root(n.name),
  file: fileOf(n.name),
  boot: n.bootedAt ?? '',
  config: () => configDoc(paths.config(n.name)),
})

function load(h: KubeletHost): NodeContainers {
  const fresh = { boot: h.boot, nextPid: 2000, containers: [] }
  if (!existsSync(h.file)) return fresh
  const s = JSON.parse(readFileSync(h.file, 'utf8')) as NodeContainers
  return s.boot === h.boot ? s : fresh
}

/** The containers running on the machine now: none while it is down or after the boot they were started in. */
export function liveContainers(n: LabNode): LabContainer[] {
  if (isDown(n)) return []
  return load(labHost(n)).containers
}

/** docker's reference normalization (distribution/reference ParseNormalizedNamed): docker.io/library, :latest. */
export function normalizeImage(ref: string): string {
  let name = ref
  const first = name.split('/')[0]!
  if (!name.includes('/')) name = `docker.io/library/${name}`
  else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') name = `docker.io/${name}`
  const last = name.split('/').pop()!
  if (!last.includes(':') && !name.includes('@')) name += ':latest'
  return name
}

const readJson = (f: string): any => (existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : undefined)

function memTotalBytes(root: string): number {
  const f = join(root, 'proc/meminfo')
  const m = existsSync(f) ? /^MemTotal:\s+(\d+) kB/m.exec(readFileSync(f, 'utf8')) : null
  return m ? Number(m[1]) * 1024 : 0
}

interface KubeletSettings extends AdmissionSettings {
  seccompDefault: boolean
}

function kubeletSettings(doc: Obj): KubeletSettings {
  const x: Obj = doc.machine?.kubelet?.extraConfig ?? {}
  return {
    cpuPolicy: String(x.cpuManagerPolicy ?? 'none'),
    // KubeletConfiguration.cpuManagerPolicyOptions: a map of option → "true"/"false" strings
    fullPcpusOnly: String(x.cpuManagerPolicyOptions?.['full-pcpus-only'] ?? 'false') === 'true',
    reserved: parseCpuList(String(x.reservedSystemCPUs ?? '')),
    topologyPolicy: String(x.topologyManagerPolicy ?? 'none'),
    topologyScope: String(x.topologyManagerScope ?? 'container'),
    memoryPolicy: String(x.memoryManagerPolicy ?? 'None'),
    // machine.kubelet.defaultRuntimeSeccompProfileEnabled → KubeletConfiguration.seccompDefault
    // (v1.10.3 internal/app/machined/pkg/controllers/k8s/kubelet_spec.go:310-312)
    seccompDefault: doc.machine?.kubelet?.defaultRuntimeSeccompProfileEnabled === true,
  }
}

/** The memory manager's machine state with no assignment: every reservation released. */
function unassigned(ms: NUMANodeMap): NUMANodeMap {
  const out = structuredClone(ms)
  for (const [id, s] of Object.entries(out)) {
    if (!s) continue
    s.numberOfAssignments = 0
    s.cells = [Number(id)]
    for (const t of Object.values(s.memoryMap ?? {}))
      if (t) {
        t.reserved = 0
        t.free = t.allocatable
      }
  }
  return out
}

/** What a container holds from kubelet's CPU and memory managers. */
type Held = Pick<LabContainer, 'podUid' | 'name' | 'exclusiveCpus' | 'memoryBlocks'>

const entriesOf = (cs: Held[]): Assignments => {
  const e: Assignments = {}
  for (const c of cs) if (c.memoryBlocks?.length) (e[c.podUid] ??= {})[c.name] = c.memoryBlocks
  return e
}

/** JSON with object keys sorted, to compare assignments whatever order they were written in. */
const canon = (v: unknown): string =>
  JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.keys(x as object)
            .sort()
            .map((k) => [k, (x as Obj)[k]]),
        )
      : x,
  )

/**
 * The checkpoints with exactly these containers' assignments (kubelet's state after it created them), written only
 * when the recorded assignments differ: a checkpoint kubelet wrote at start (policy change, a boot's reset) gets them.
 */
function writeCheckpoints(h: KubeletHost, cs: LabContainer[]): void {
  const root = h.root
  const cpu = readJson(join(root, CPU_STATE)) as { policyName?: string; entries?: unknown } | undefined
  if (cpu?.policyName === 'static') {
    const taken = new Set(cs.flatMap((c) => c.exclusiveCpus ?? []))
    const entries: Record<string, Record<string, string>> = {}
    for (const c of cs) if (c.exclusiveCpus?.length) (entries[c.podUid] ??= {})[c.name] = formatCpuList(c.exclusiveCpus)
    if (canon(cpu.entries ?? {}) !== canon(entries)) {
      // the CPUs kubelet sees in this boot (nosmt, maxcpus= take some: lab/cpu-manager.ts onlineCpus)
      const shared = kubeletCpus(root, h.hardware).filter((c) => !taken.has(c))
      writeCpuCheckpoint(root, 'static', formatCpuList(shared), entries)
    }
  }
  const mem = readJson(join(root, MEMORY_STATE)) as MemoryManagerCheckpoint | undefined
  if (mem?.policyName === 'Static' && mem.machineState && Object.keys(mem.machineState).length) {
    const entries = entriesOf(cs)
    if (canon(mem.entries ?? {}) === canon(entries)) return
    const applied = applyAssignments(unassigned(mem.machineState), entries)
    if ('error' in applied) return
    writeFileAtomic(
      join(root, MEMORY_STATE),
      marshalCheckpoint({ policyName: 'Static', machineState: applied.state, entries }),
      0o644,
    )
  }
}

/** Free memory per NUMA node and resource, with these containers' assignments taken. */
function freeMemory(h: KubeletHost, cs: Held[]): NUMANodeMap | undefined {
  const mem = readJson(join(h.root, MEMORY_STATE)) as MemoryManagerCheckpoint | undefined
  if (!mem?.machineState || !Object.keys(mem.machineState).length) return undefined
  const applied = applyAssignments(unassigned(mem.machineState), entriesOf(cs))
  return 'error' in applied ? undefined : applied.state
}

const isGuaranteed = (pod: Obj) => pod.status?.qosClass === 'Guaranteed'
const request = (c: Obj, r: string) => c.resources?.requests?.[r] ?? c.resources?.limits?.[r]

/** A container's memory and huge page requests (a limit stands for a missing request), in bytes. */
const memoryRequests = (c: Obj): [string, number][] =>
  Object.entries({ ...(c.resources?.limits ?? {}), ...(c.resources?.requests ?? {}) })
    .filter(([r]) => r === 'memory' || r.startsWith('hugepages-'))
    .map(([r, q]) => [r, parseQuantity(q as string)] as [string, number])
    .filter(([, v]) => v > 0)

/** The pod's requests as kubelet's admission counts them. */
function podRequest(pod: Obj): PodRequest {
  return {
    guaranteed: isGuaranteed(pod),
    containers: ((pod.spec?.containers ?? []) as Obj[]).map((c): ContainerRequest => ({
      name: String(c.name),
      cpus: parseQuantity(request(c, 'cpu')),
      memory: Object.fromEntries(memoryRequests(c)),
    })),
  }
}

/**
 * The CPUs kubelet's managers see in this boot, by NUMA node and by core: cadvisor lists only online CPUs (an offline
 * one has no topology directory), so `nosmt`, `maxcpus=` or `nr_cpus=` leave fewer (lab/kubelet.ts kubeletCpus).
 */
function onlineTopology(h: KubeletHost): { numaCpus: number[][]; cores: number[][] } {
  const online = new Set(kubeletCpus(h.root, h.hardware))
  return {
    numaCpus: h.hardware.numaCpus.map((cpus) => cpus.filter((c) => online.has(c))),
    cores: coresOf(h.hardware)
      .map((core) => core.filter((c) => online.has(c)))
      .filter((core) => core.length),
  }
}

/** The node as kubelet's managers see it with these containers holding their CPUs and memory. */
function nodeResources(h: KubeletHost, s: KubeletSettings, held: Held[]): NodeResources {
  const free = s.memoryPolicy === 'Static' ? freeMemory(h, held) : undefined
  return {
    ...onlineTopology(h),
    taken: held.flatMap((x) => x.exclusiveCpus ?? []),
    freeMemory: free
      ? Object.fromEntries(
          Object.entries(free).map(([id, st]) => [
            Number(id),
            Object.fromEntries(Object.entries(st?.memoryMap ?? {}).map(([r, m]) => [r, m?.free ?? 0])),
          ]),
        )
      : undefined,
  }
}

/** kubelet's CPU and memory managers for one new container. */
function assign(
  h: KubeletHost,
  s: KubeletSettings,
  pod: Obj,
  c: Obj,
  live: Held[],
): Pick<LabContainer, 'exclusiveCpus' | 'memoryBlocks'> {
  if (!isGuaranteed(pod)) return {}
  const cpuReq = parseQuantity(request(c, 'cpu'))
  const wantCpus = s.cpuPolicy === 'static' && Number.isInteger(cpuReq) && cpuReq > 0 ? cpuReq : 0
  const memReqs = s.memoryPolicy === 'Static' ? memoryRequests(c) : []
  const taken = new Set([...s.reserved, ...live.flatMap((x) => x.exclusiveCpus ?? [])])
  const freeCpus = (cpus: number[]) => cpus.filter((x) => !taken.has(x))
  const free = memReqs.length ? freeMemory(h, live) : undefined
  const fitsMemory = (node: number) =>
    !!free && memReqs.every(([r, v]) => (free[node]?.memoryMap?.[r]?.free ?? -1) >= v)
  const aligned = s.topologyPolicy !== 'none' || memReqs.length > 0
  const topo = onlineTopology(h)
  const nodes = topo.numaCpus.map((_, i) => i)
  const node = aligned
    ? nodes.find((i) => freeCpus(topo.numaCpus[i]!).length >= wantCpus && (!memReqs.length || fitsMemory(i)))
    : undefined
  const out: Pick<LabContainer, 'exclusiveCpus' | 'memoryBlocks'> = {}
  if (wantCpus) {
    const pool = freeCpus(node === undefined ? topo.numaCpus.flat() : topo.numaCpus[node]!)
    const inPool = new Set(pool)
    const picked: number[] = []
    // whole free cores, in core order
    for (const core of topo.cores) {
      if (picked.length + core.length > wantCpus) continue
      if (core.every((x) => inPool.has(x))) picked.push(...core)
    }
    // then single CPUs
    for (const x of [...pool].sort((a, b) => a - b)) if (picked.length < wantCpus && !picked.includes(x)) picked.push(x)
    if (picked.length === wantCpus) out.exclusiveCpus = picked.sort((a, b) => a - b)
  }
  if (memReqs.length && node !== undefined && fitsMemory(node))
    out.memoryBlocks = memReqs.map(([type, size]) => ({ numaAffinity: [node], type, size }))
  return out
}

const hex64 = () => randomBytes(32).toString('hex')
/** a network namespace name as CNI's netns package makes it (cni-<uuid>) */
const netnsName = (seed: string) => {
  const h = createHash('sha256').update(seed).digest('hex')
  return `cni-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

function baseSpec(root: string): { caps?: OciCaps; rlimits?: unknown } {
  try {
    const spec = readJson(join(root, CRI_BASE_SPEC)) as Obj | undefined
    return { caps: spec?.process?.capabilities, rlimits: spec?.process?.rlimits }
  } catch {
    return {}
  }
}

/**
 * kubelet's admission of the pod (lab/kubelet-admission.ts) and, when admitted, what its CPU and memory managers give
 * each container, in order: the rejection, or the containers' resources by name.
 */
function admitAndAssign(
  h: KubeletHost,
  s: KubeletSettings,
  pod: Obj,
  running: Held[],
): Rejection | Map<string, Pick<LabContainer, 'exclusiveCpus' | 'memoryBlocks'>> {
  const podUid = String(pod.metadata.uid)
  const specs = new Map(((pod.spec?.containers ?? []) as Obj[]).map((c) => [String(c.name), c]))
  const given: Held[] = []
  const verdict = admitPod(s, nodeResources(h, s, running), podRequest(pod), (req) => {
    given.push({ podUid, name: req.name, ...assign(h, s, pod, specs.get(req.name)!, [...running, ...given]) })
    return nodeResources(h, s, [...running, ...given])
  })
  if (!verdict.admit) return { reason: verdict.reason, message: verdict.message }
  return new Map(given.map((g) => [g.name, { exclusiveCpus: g.exclusiveCpus, memoryBlocks: g.memoryBlocks }]))
}

/**
 * The processes containerd starts for one pod: its sandbox, then its containers in order; none when kubelet rejects
 * the pod at admission (then the rejection).
 */
function startPod(h: KubeletHost, s: KubeletSettings, pod: Obj, st: NodeContainers): LabContainer[] | Rejection {
  const resources = admitAndAssign(h, s, pod, st.containers)
  if (!(resources instanceof Map)) return resources
  const root = h.root
  const spec = baseSpec(root)
  const mem = memTotalBytes(root)
  const rlimits = containerRlimits(spec.rlimits, mem)
  const psc: Obj = pod.spec?.securityContext ?? {}
  const hostPid = !!pod.spec?.hostPID
  const sandboxId = hex64()
  const shim = st.nextPid++
  const now = new Date().toISOString()
  const netns = pod.spec?.hostNetwork ? '' : netnsName(sandboxId)
  const seccompOf = (type: string | undefined, privileged: boolean) =>
    !privileged && (type ?? (s.seccompDefault ? 'RuntimeDefault' : 'Unconfined')) !== 'Unconfined'
  const caps = (x: ReturnType<typeof containerCaps>) => ({
    inh: renderCap(x.inh),
    prm: renderCap(x.prm),
    eff: renderCap(x.eff),
    bnd: renderCap(x.bnd),
    amb: renderCap(x.amb),
  })
  const common = {
    podUid: String(pod.metadata.uid),
    podNamespace: String(pod.metadata.namespace ?? 'default'),
    podName: String(pod.metadata.name),
    sandboxId,
    hostPid,
    netns,
    rlimits,
    startedAt: now,
  }
  // the pause image runs as 65535 (its USER); its process has no capabilities left after execve
  const out: LabContainer[] = [
    {
      ...common,
      name: '',
      id: sandboxId,
      image: SANDBOX_IMAGE,
      pid: st.nextPid++,
      ppid: shim,
      comm: 'pause',
      uid: psc.runAsUser ?? 65535,
      gid: psc.runAsGroup ?? 65535,
      caps: caps(containerCaps({ base: spec.caps, uid: psc.runAsUser ?? 65535 })),
      noNewPrivs: false,
      seccomp: seccompOf(psc.seccompProfile?.type, false),
    },
  ]
  for (const c of (pod.spec?.containers ?? []) as Obj[]) {
    const sc: Obj = c.securityContext ?? {}
    const uid = Number(sc.runAsUser ?? psc.runAsUser ?? 0)
    const gid = Number(sc.runAsGroup ?? psc.runAsGroup ?? 0)
    const privileged = sc.privileged === true
    const argv0 = String(c.command?.[0] ?? c.args?.[0] ?? c.name)
    st.nextPid += 2 // runc and its init before the container's process
    out.push({
      ...common,
      name: String(c.name),
      id: hex64(),
      image: normalizeImage(String(c.image)),
      pid: st.nextPid++,
      ppid: shim,
      comm: argv0.split('/').pop()!,
      uid,
      gid,
      caps: caps(containerCaps({ base: spec.caps, capabilities: sc.capabilities, privileged, uid })),
      // kubelet sets NoNewPrivs when allowPrivilegeEscalation is false (CRI WithNoNewPrivileges)
      noNewPrivs: sc.allowPrivilegeEscalation === false,
      seccomp: seccompOf(sc.seccompProfile?.type ?? psc.seccompProfile?.type, privileged),
      ...resources.get(String(c.name)),
    })
  }
  return out
}

/**
 * A running kubelet's sync on one machine: containers for every pod in `pods`, none for the rest; returns the
 * machine's containers and the pods kubelet rejected at admission (never started; their status is the caller's).
 */
export function runPodContainers(
  h: KubeletHost,
  pods: Obj[],
): { containers: LabContainer[]; rejected: Map<string, Rejection> } {
  const st = load(h)
  const want = new Map(pods.map((p) => [String(p.metadata.uid), p]))
  const before = st.containers.length
  st.containers = st.containers.filter((c) => want.has(c.podUid))
  const rejectedBefore = Object.keys(st.rejected ?? {}).length
  st.rejected = Object.fromEntries(Object.entries(st.rejected ?? {}).filter(([uid]) => want.has(uid)))
  let changed =
    st.containers.length !== before || Object.keys(st.rejected).length !== rejectedBefore || !existsSync(h.file)
  const have = new Set(st.containers.map((c) => c.podUid))
  let s: KubeletSettings | undefined
  for (const [uid, pod] of want) {
    // kubelet admits a pod once: a rejected pod stays rejected (kubelet.go:2381 rejectPod, no retry)
    if (have.has(uid) || st.rejected[uid]) continue
    s ??= kubeletSettings(h.config())
    const started = startPod(h, s, pod, st)
    if (Array.isArray(started)) st.containers.push(...started)
    else st.rejected[uid] = started
    changed = true
  }
  if (changed) writeFileAtomic(h.file, JSON.stringify(st, null, 1) + '\n', 0o644)
  // kubelet's checkpoints follow its assignments (rewritten also when a boot's machine.files reset them)
  writeCheckpoints(h, st.containers)
  return { containers: st.containers, rejected: new Map(Object.entries(st.rejected)) }
}

/** The shared pool a container without exclusive CPUs runs on: the CPU manager's defaultCpuSet, or every CPU. */
function sharedCpus(h: KubeletHost): number[] {
  const all = h.hardware.numaCpus.flat()
  try {
    const cp = readJson(join(h.root, CPU_STATE)) as { policyName?: string; defaultCpuSet?: string }
    if (cp?.policyName === 'static' && cp.defaultCpuSet) return parseCpuList(cp.defaultCpuSet)
  } catch {}
  return all
}

/**
 * /proc/<pid>/… of the machine's processes the lab models (its containers): the file's text, or undefined when no
 * such process runs (the kernel then has no /proc/<pid>). Paths outside /proc/<pid> are not this function's (null).
 */
export function procFile(n: LabNode, path: string): string | undefined | null {
  const m = /^\/proc\/(\d+)(?:\/(.*))?$/.exec(path)
  if (!m) return null
  const c = liveContainers(n).find((x) => x.pid === Number(m[1]))
  if (!c) return undefined
  if (m[2] === 'limits') return renderProcLimits(c.rlimits)
  if (m[2] === 'status') {
    const hw = n.hardware
    const cpus = c.exclusiveCpus ?? sharedCpus(labHost(n))
    const mems = c.memoryBlocks?.length
      ? [...new Set(c.memoryBlocks.flatMap((b) => b.numaAffinity ?? []))]
      : hw.numaMemoryMiB.flatMap((mib, i) => (mib > 0 ? [i] : []))
    const sigpending = c.rlimits.find((r) => r.type === 'RLIMIT_SIGPENDING')?.soft
    return renderProcStatus({
      name: c.comm,
      pid: c.pid,
      ppid: c.ppid,
      nsPid: c.hostPid ? undefined : 1,
      uid: c.uid,
      gid: c.gid,
      caps: {
        inh: BigInt('0x' + c.caps.inh),
        prm: BigInt('0x' + c.caps.prm),
        eff: BigInt('0x' + c.caps.eff),
        bnd: BigInt('0x' + c.caps.bnd),
        amb: BigInt('0x' + c.caps.amb),
      },
      noNewPrivs: c.noNewPrivs,
      seccomp: c.seccomp,
      sigpendingLimit: typeof sigpending === 'number' ? sigpending : 0,
      cpus,
      nrCpuIds: Math.max(...hw.numaCpus.flat()) + 1,
      mems,
    })
  }
  return undefined
}
