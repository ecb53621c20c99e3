// The pods the real scheduler binds to this node, as a kubelet v1.33.1 sees and reports them (k8s.io/kubernetes@v1.33.1):
// - it lists and watches pods with fieldSelector spec.nodeName=<node> (pkg/kubelet/config/apiserver.go
//   NewSourceApiserver), the only pod list the Node authorizer lets a node make;
// - it reports a started pod's status with its own credential as a strategic-merge PATCH of pods/status that carries
//   metadata.uid as a precondition (pkg/util/pod/pod.go PatchPodStatus / preparePatchBytesForPodStatus :34-64); the
//   status itself is lab/pod-status.ts runningStatus (phase Running, the pod conditions, running containers; qosClass is
//   the API server's); host-network pods get the node's IP, others the next free address of the Node's spec.podCIDR
//   (kube-controller-manager's node IPAM, --allocate-node-cidrs as Talos renders it; the CNI's host-local way);
// - a pod given a deletionTimestamp has its containers stopped, its terminal status posted, and is then deleted with
//   grace period 0 and its UID as precondition (pkg/kubelet/status/status_manager.go syncPod :942-956).
// - admission, then containers (lab/containers.ts runPodContainers): a pod
//   kubelet's topology-manager admission refuses (SMTAlignmentError, TopologyAffinityError) is reported Failed with
//   "Pod was rejected: …" and a Warning event from the kubelet (kubelet.go:2381-2388 rejectPod) and never started;
//   an admitted one gets its sandbox and container processes, the static CPU manager's exclusive CPUs and the
//   memory manager's NUMA node (written to the sysroot's checkpoints), and its status reports their container IDs;
// - a one-shot pod (restartPolicy Never, only mkdir/chown/chmod scripts on hostPath volumes, as 05's
//   storage-permissions pod: lab/kubelet-agent/oneshot.ts) runs against the sysroot and is reported Succeeded or Failed.
// No process runs: the lab has no container runtime; containers.json records what containerd would have started.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { runningStatus } from '../pod-status.ts'
import { rejectedStatus } from '../kubelet-admission.ts'
import { runPodContainers, type KubeletHost, type LabContainer, type Rejection } from '../containers.ts'
import { finishedStatus, isOneShot, runOneShot } from './oneshot.ts'
import type { ApiClient } from './client.ts'
import { metaTime } from './node.ts'

type Obj = Record<string, any>

export class PodSync {
  /** uid → the pod IP this kubelet gave it, for pods it reported running. */
  private running = new Map<string, string>()
  private finishing = new Set<string>()
  /** uid → the latest copy of each pod bound here that kubelet runs (not terminal, not being deleted). */
  private pods = new Map<string, Obj>()

  constructor(
    private api: ApiClient,
    private node: string,
    private host: KubeletHost,
    private hostIP: string,
    private podCIDR: () => Promise<string | undefined>,
    private log: (m: string) => void,
  ) {}

  /** List, then watch from the list's resourceVersion; again after the stream ends or fails, until signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const selector = `fieldSelector=${encodeURIComponent(`spec.nodeName=${this.node}`)}`
    while (!signal.aborted) {
      try {
        const list = await this.api.ok('GET', `/api/v1/pods?${selector}`, undefined, undefined, signal)
        for (const p of list.items as Obj[]) await this.sync('ADDED', p)
        const rv = list.metadata.resourceVersion
        await this.api.watch(
          `/api/v1/pods?${selector}&watch=true&allowWatchBookmarks=true&resourceVersion=${rv}`,
          async (e) => {
            if (e.type === 'ERROR') throw new Error(`watch: ${e.object.message ?? JSON.stringify(e.object)}`)
            if (e.type !== 'BOOKMARK') await this.sync(e.type, e.object)
          },
          signal,
        )
      } catch (e) {
        if (signal.aborted) return
        this.log(`pods: ${(e as Error).message}; listing again`)
      }
      await sleep(1000, undefined, { signal }).catch(() => undefined)
    }
  }

  private async sync(type: string, p: Obj): Promise<void> {
    const uid: string = p.metadata.uid
    const terminal = ['Succeeded', 'Failed'].includes(p.status?.phase)
    if (type === 'DELETED' || terminal || p.metadata.deletionTimestamp || isOneShot(p)) {
      // its containers stop (a terminal or deleted pod's), freeing its CPUs and memory
      if (this.pods.delete(uid)) this.containers()
    } else this.pods.set(uid, p)
    if (type === 'DELETED') {
      this.running.delete(uid)
      this.finishing.delete(uid)
      return
    }
    if (terminal && !p.metadata.deletionTimestamp) return
    try {
      if (p.metadata.deletionTimestamp) await this.finish(p)
      else if (isOneShot(p)) await this.runToCompletion(p)
      else if (!this.running.has(uid)) await this.start(p)
    } catch (e) {
      this.log(`pod ${p.metadata.namespace}/${p.metadata.name}: ${(e as Error).message}`)
    }
  }

  private statusPath = (p: Obj) => `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}/status`

  /** kubelet's sync of every pod it runs: their containers (admitting new ones); returns the new pods' verdicts. */
  private containers(): { containers: LabContainer[]; rejected: Map<string, Rejection> } {
    return runPodContainers(this.host, [...this.pods.values()])
  }

  private async start(p: Obj): Promise<void> {
    const synced = this.containers()
    const rejection = synced.rejected.get(p.metadata.uid)
    if (rejection) return this.reject(p, rejection)
    const ip = p.spec.hostNetwork ? this.hostIP : (p.status?.podIP ?? (await this.allocate()))
    if (!ip) throw new Error('the Node has no spec.podCIDR yet: no pod network, not started')
    this.running.set(p.metadata.uid, ip)
    const ids = Object.fromEntries(
      synced.containers
        .filter((c) => c.podUid === p.metadata.uid && c.name)
        .map((c) => [c.name, `containerd://${c.id}`]),
    )
    const status = runningStatus(p, this.hostIP, ip, true, ids)
    const patch = { metadata: { uid: p.metadata.uid }, status }
    await this.api.ok('PATCH', this.statusPath(p), patch, 'application/strategic-merge-patch+json')
    this.log(`pod ${p.metadata.namespace}/${p.metadata.name} running (${ip})`)
  }

  /** kubelet.go rejectPod: the pod Failed with the admission error, and a Warning event from this kubelet. */
  private async reject(p: Obj, r: Rejection): Promise<void> {
    this.pods.delete(p.metadata.uid)
    const status = rejectedStatus(p.status, r, metaTime())
    await this.api.ok(
      'PATCH',
      this.statusPath(p),
      { metadata: { uid: p.metadata.uid }, status },
      'application/strategic-merge-patch+json',
    )
    await this.event(p, 'Warning', r.reason, r.message)
    this.log(`pod ${p.metadata.namespace}/${p.metadata.name} rejected: ${r.reason}: ${r.message}`)
  }

  /** A one-shot pod: its scripts run against the sysroot once, and the pod ends Succeeded or Failed. */
  private async runToCompletion(p: Obj): Promise<void> {
    if (this.finishing.has(p.metadata.uid)) return
    this.finishing.add(p.metadata.uid)
    const result = runOneShot(p, this.host.root)
    const status = finishedStatus(p, this.hostIP, result)
    await this.api.ok(
      'PATCH',
      this.statusPath(p),
      { metadata: { uid: p.metadata.uid }, status },
      'application/strategic-merge-patch+json',
    )
    this.log(`pod ${p.metadata.namespace}/${p.metadata.name} ran to completion: ${result.message}`)
  }

  /** A core/v1 Event about the pod from this kubelet (the node's credential may create events). */
  private async event(p: Obj, type: string, reason: string, message: string): Promise<void> {
    const now = metaTime()
    const ns = p.metadata.namespace
    const ev = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${p.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: { kind: 'Pod', namespace: ns, name: p.metadata.name, uid: p.metadata.uid, apiVersion: 'v1' },
      reason,
      message,
      source: { component: 'kubelet', host: this.node },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type,
      reportingComponent: 'kubelet',
      reportingInstance: this.node,
    }
    await this.api
      .ok('POST', `/api/v1/namespaces/${ns}/events`, ev)
      .catch((e: Error) => this.log(`event: ${e.message}`))
  }

  /** Containers stopped (as pause exits on SIGTERM: 0), the terminal status posted, then the pod deleted. */
  private async finish(p: Obj): Promise<void> {
    const uid: string = p.metadata.uid
    if (this.finishing.has(uid)) return
    this.finishing.add(uid)
    const now = metaTime()
    const prev: Obj = p.status ?? {}
    const conds = (prev.conditions ?? []).map((c: Obj) =>
      ['Ready', 'ContainersReady', 'PodReadyToStartContainers'].includes(c.type) && c.status !== 'False'
        ? { ...c, status: 'False', lastTransitionTime: now, reason: c.type === 'Ready' ? 'PodCompleted' : c.reason }
        : c,
    )
    const containerStatuses = (prev.containerStatuses ?? []).map((c: Obj) => ({
      ...c,
      ready: false,
      started: false,
      state: {
        terminated: {
          exitCode: 0,
          reason: 'Completed',
          startedAt: c.state?.running?.startedAt ?? now,
          finishedAt: now,
          containerID: c.containerID,
        },
      },
    }))
    const status = { ...prev, phase: 'Succeeded', conditions: conds, containerStatuses }
    await this.api.ok(
      'PATCH',
      this.statusPath(p),
      { metadata: { uid }, status },
      'application/strategic-merge-patch+json',
    )
    const options = { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid } }
    const r = await this.api.call(
      'DELETE',
      `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`,
      options,
    )
    if (r.status !== 200 && r.status !== 404) throw new Error(`delete: ${r.status} ${r.body.message ?? ''}`)
    this.running.delete(uid)
    this.log(`pod ${p.metadata.namespace}/${p.metadata.name} terminated and deleted`)
  }

  /** The next free IPv4 address of the Node's podCIDR, from .2 (.1 is the bridge's). */
  private async allocate(): Promise<string | undefined> {
    const cidr = await this.podCIDR()
    const m = cidr && /^(\d+\.\d+\.\d+)\.0\/24$/.exec(cidr)
    if (!m) return undefined
    const used = new Set(this.running.values())
    for (let i = 2; i < 255; i++) if (!used.has(`${m[1]}.${i}`)) return `${m[1]}.${i}`
    throw new Error(`no free address in ${cidr}`)
  }
}
