// What the rest of a Kubernetes control plane and the kubelets would do, driven by the lab's state:
// node registration and lifecycle, kubelet-serving CSRs and their signing, the control-plane static
// pods, the default scheduler, and pod status as a kubelet reports it. Run by the VIP holder only.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { b64, unb64, type CertKey } from '../pki.ts'
import { loadCluster } from '../state.ts'
import { admitNodeRestriction, prepareCreate, randomSuffix } from './admission.ts'
import { ApiError, type Obj } from './errors.ts'
import { kubeletServingCsr, signCsr } from './csr.ts'
import { kubernetesVersion, nodeShape, type LabMachine, type NodeShape, type Taint } from './labinfo.ts'
import { LabMachineCache, labStamp } from './labcache.ts'
import { nowTs } from './quantity.ts'
import { SYSTEM_NAMESPACES, byKind } from './resources.ts'
import { filterNode, fitErrorMessage, pickNode, type Failure } from './scheduler.ts'
import type { Store, Stored } from './storage.ts'
import { paths } from '../state.ts'
import { finishedStatus, isOneShot, runOneShot } from './oneshot.ts'
import { applyInlineManifests } from './manifest-apply.ts'
import { liveContainers, syncContainers, type LabContainer, type Rejection } from '../containers.ts'
import { rejectedStatus } from '../kubelet-admission.ts'
import { runningStatus } from '../pod-status.ts'
import { applyNodeSpec } from '../machine-api/node-apply.ts'

const NODE = byKind('Node')
const POD = byKind('Pod')
const NS = byKind('Namespace')
const CSR = byKind('CertificateSigningRequest')
const EVENT = byKind('Event')
const LEASE = byKind('Lease')
const SYSTEM = { name: 'system:kube-controller-manager', groups: [] as string[] }

const UNREACHABLE = 'node.kubernetes.io/unreachable'
/** A kubelet that stops posting status is marked Unknown after this long (the lab's node-monitor-grace-period). */
export const NODE_GRACE_MS = 2000
/** Even when neither etcd nor the lab's files changed, the controllers run fully at least this often. */
export const FULL_TICK_MS = 5000
const LEASE_RENEW_MS = 10_000

/** The kubelet's client identity (its kubeconfig's certificate: CN system:node:<name>, O system:nodes). */
const SERVING_SIGNER = 'kubernetes.io/kubelet-serving'
/** Where the kubelet keeps its serving certificate (--cert-dir /var/lib/kubelet/pki, Talos's kubelet service). */
const KUBELET_SERVING_CERT = 'var/lib/kubelet/pki/kubelet-server-current.pem'
/** kubelet files serving CSRs only with serverTLSBootstrap (cmd/kubelet/app/server.go, kubelet.go:894): Talos does not set it, the product's worker configs do. */
const servingBootstrap = (m: LabMachine) => m.cfg?.machine?.kubelet?.extraConfig?.serverTLSBootstrap === true
const kubeletUser = (s: NodeShape) => ({ name: `system:node:${s.name}`, groups: ['system:nodes'] })

export class Controllers {
  private downSince = new Map<string, number>()
  private namespacesDone = false
  private lastFailure = new Map<string, string>()
  private lastTalosRefusal = new Map<string, string>()
  private cache = new LabMachineCache()
  /** What the last complete run saw: the store revision and the lab files' stamp; and when a timed change is due. */
  private seen = { revision: -1, stamp: '' }
  private dueAt = 0

  constructor(
    private store: Store,
    private ca: CertKey,
    private log: (m: string) => void,
  ) {}

  async ensureNamespaces(): Promise<void> {
    if (this.namespacesDone) return
    for (const name of SYSTEM_NAMESPACES) {
      if (await this.store.tryGet(NS, undefined, name)) continue
      try {
        await this.store.create(NS, prepareCreate(NS, { metadata: { name } }, undefined, SYSTEM))
      } catch (e) {
        if (!(e instanceof ApiError && e.reason === 'AlreadyExists')) throw e
      }
    }
    this.namespacesDone = true
  }

  /**
   * One reconcile pass. With `revision` (the store's, read just before), a pass that would see exactly what the
   * last complete one saw (same revision, same lab files) and has no timed change due (a node's grace period, a
   * lease renewal, FULL_TICK_MS) is skipped: it could not write anything.
   */
  async tick(revision?: number): Promise<void> {
    await this.ensureNamespaces()
    const cluster = loadCluster()
    const stamp = labStamp(cluster.nodes)
    const now = Date.now()
    if (revision !== undefined && revision === this.seen.revision && stamp === this.seen.stamp && now < this.dueAt)
      return
    this.dueAt = now + FULL_TICK_MS
    const machines = this.cache.all(cluster)
    if (machines.some((m) => m.node.bootstrapped)) {
      await this.nodes(machines)
      await this.signApprovedCsrs()
      await this.staticPods(machines)
      await this.schedule()
      await this.kubelets(machines, cluster.nodes)
      await applyInlineManifests(this.store, machines, this.log)
    }
    this.seen = { revision: revision ?? -1, stamp }
  }

  /** Run the next pass by `at` at the latest. */
  private wake(at: number): void {
    this.dueAt = Math.min(this.dueAt, at)
  }

  // ---- node lifecycle -------------------------------------------------------------------------

  private async nodes(machines: LabMachine[]): Promise<void> {
    const now = Date.now()
    // one read of every Node and node lease per pass; writes stay guarded by each object's mod revision
    const nodes = new Map((await this.store.list(NODE)).items.map((i) => [i.obj.metadata.name as string, i]))
    const leases = new Map(
      (await this.store.list(LEASE, 'kube-node-lease')).items.map((i) => [i.obj.metadata.name as string, i]),
    )
    const csrs = (await this.store.list(CSR)).items.map((i) => i.obj)
    // each Node on its own, as each kubelet and each machine's Talos runs apart: one that fails does not hold up the rest
    for (const m of machines) {
      try {
        await this.node(m, nodes, leases, csrs, now)
      } catch (e) {
        this.log(`controllers: node ${m.node.name}: ${(e as Error).message}`)
      }
    }
  }

  /** One Node pass: its registration, what its kubelet and Talos keep on it, its lease and its serving certificate. */
  private async node(
    m: LabMachine,
    nodes: Map<string, Stored>,
    leases: Map<string, Stored>,
    csrs: Obj[],
    now: number,
  ): Promise<void> {
    if (!m.cfg) return
    const shape = this.cache.shape({ ...m, cfg: m.cfg })
    if (m.up) this.downSince.delete(shape.name)
    else if (!this.downSince.has(shape.name)) this.downSince.set(shape.name, now)
    const unknown = !m.up && now - this.downSince.get(shape.name)! >= NODE_GRACE_MS
    if (!m.up && !unknown) this.wake(this.downSince.get(shape.name)! + NODE_GRACE_MS)
    const existing = nodes.get(shape.name)
    if (!existing) {
      if (!m.up) return
      await this.store.create(NODE, this.newNode(shape))
      this.log(`node ${shape.name} registered`)
      if (servingBootstrap(m)) await this.fileServingCsr(shape, m)
      return
    }
    const reconcile = (n: Obj) => {
      const before = JSON.stringify(n)
      this.reconcileNode(n, shape, unknown)
      return JSON.stringify(n) === before ? undefined : n
    }
    let updated: Obj = existing.obj
    const next = reconcile(structuredClone(existing.obj))
    if (next) {
      try {
        updated = await this.store.update(NODE, next, existing.modRevision)
      } catch (e) {
        if (!(e instanceof ApiError && e.reason === 'Conflict')) throw e
        updated = await this.store.mutate(NODE, undefined, shape.name, reconcile)
      }
    }
    if (m.up) await this.renewLease(updated, leases.get(shape.name))
    if (m.up && servingBootstrap(m)) await this.servingCert(shape, m, csrs)
  }

  /**
   * The kubelet's serving certificate with serverTLSBootstrap (kubernetes v1.33.1 pkg/kubelet/certificate/kubelet.go:83,
   * the "kubelet-server" store; client-go util/certificate/certificate_manager.go: it loads
   * <cert-dir>/kubelet-server-current.pem at start and files a CSR when there is none, then writes the issued one
   * there; Talos's --cert-dir is /var/lib/kubelet/pki, kubelet_spec.go:136). Its cert dir, /var/lib/kubelet/pki, is on EPHEMERAL: a reset that wipes
   * it makes the kubelet ask again, and nothing but an operator approves the request (Talos only raises the
   * kubelet-csrs-not-approved diagnostic). The first request is filed at registration; this files the next ones and
   * installs an issued certificate on the machine.
   */
  private async servingCert(s: NodeShape, m: LabMachine, csrs: Obj[]): Promise<void> {
    const file = join(paths.root(m.node.name), KUBELET_SERVING_CERT)
    if (existsSync(file)) return
    const bootedAt = Date.parse(m.node.bootedAt ?? '') || 0
    // creationTimestamp has whole seconds: a request filed in this boot's first second still counts as this boot's
    const mine = csrs.filter(
      (c) =>
        c.spec?.signerName === SERVING_SIGNER &&
        c.spec?.username === `system:node:${s.name}` &&
        Date.parse(c.metadata.creationTimestamp) >= bootedAt - 1000,
    )
    const issued = mine.find((c) => c.status?.certificate)
    if (issued) {
      mkdirSync(dirname(file), { recursive: true })
      writeFileSync(file, unb64(issued.status.certificate), { mode: 0o600 })
      return
    }
    const open = mine.some(
      (c) => !(c.status?.conditions ?? []).some((x: Obj) => x.type === 'Denied' || x.type === 'Failed'),
    )
    if (!open) await this.fileServingCsr(s, m)
  }

  /** The kubelet's heartbeat: kube-node-lease/<node>, renewed every 10 s while the node is up. */
  private async renewLease(node: Obj, cur: Stored | undefined): Promise<void> {
    const name = node.metadata.name
    const renewTime = new Date().toISOString().replace('Z', '000Z')
    if (!cur) {
      const lease = prepareCreate(
        LEASE,
        {
          metadata: {
            name,
            namespace: 'kube-node-lease',
            ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata.uid }],
          },
          spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime },
        },
        'kube-node-lease',
        SYSTEM,
      )
      await this.store.create(LEASE, lease).catch(() => undefined)
      this.wake(Date.now() + LEASE_RENEW_MS)
      return
    }
    const last = Date.parse(cur.obj.spec?.renewTime ?? 0)
    if (Date.now() - last < LEASE_RENEW_MS) return this.wake(last + LEASE_RENEW_MS)
    this.wake(Date.now() + LEASE_RENEW_MS)
    await this.store
      .mutate(LEASE, 'kube-node-lease', name, (l) => ({ ...l, spec: { ...l.spec, renewTime } }))
      .catch(() => undefined)
  }

  /**
   * The kubelet registers its Node with its own credentials: its labels and registerWithTaints only (NodeRestriction
   * judges the create). Talos' label/taint sync and the controllers then run on it as on any existing Node.
   */
  private newNode(s: NodeShape): Obj {
    const n = prepareCreate(
      NODE,
      {
        metadata: {
          name: s.name,
          labels: { ...s.kubeletLabels },
          annotations: {
            'node.alpha.kubernetes.io/ttl': '0',
            'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
          },
        },
        spec: s.registerTaints.length ? { taints: s.registerTaints.map((t) => ({ ...t })) } : {},
      },
      undefined,
      kubeletUser(s),
    )
    admitNodeRestriction(kubeletUser(s), 'create', s.name, n)
    this.reconcileNode(n, s, false)
    return n
  }

  /**
   * One pass over a Node, each part with the credentials its real owner uses: the kubelet (its labels, status), Talos'
   * NodeApplyController (machine.nodeLabels/nodeTaints; admin on a control plane, the kubelet's on a worker, so
   * NodeRestriction may refuse it: then that whole update is dropped, as Talos' is, and retried next pass), and the
   * node lifecycle controller (unreachable taints).
   */
  private reconcileNode(n: Obj, s: NodeShape, unknown: boolean): void {
    const md = n.metadata
    md.labels = { ...(md.labels ?? {}), ...s.kubeletLabels }
    md.annotations ??= {}
    const beforeTalos = structuredClone(n)
    this.talosNodeApply(n, s)
    try {
      admitNodeRestriction(s.talosUser, 'update', s.name, n, beforeTalos)
      this.lastTalosRefusal.delete(s.name)
    } catch (e) {
      if (!(e instanceof ApiError)) throw e
      // node_apply.go retries Forbidden forever; the lab logs it once per distinct refusal
      if (this.lastTalosRefusal.get(s.name) !== e.message)
        this.log(`node ${s.name}: Talos node label/taint update refused: ${e.message}`)
      this.lastTalosRefusal.set(s.name, e.message)
      n.metadata = beforeTalos.metadata
      n.spec = beforeTalos.spec
    }
    let taints: Taint[] = n.spec?.taints ?? []
    // node lifecycle controller: unreachable taints while the kubelet is silent
    if (unknown) {
      for (const effect of ['NoSchedule', 'NoExecute']) {
        if (!taints.some((t) => t.key === UNREACHABLE && t.effect === effect))
          taints.push({ key: UNREACHABLE, effect, timeAdded: nowTs() })
      }
    } else taints = taints.filter((t) => t.key !== UNREACHABLE)
    n.spec ??= {}
    if (taints.length) n.spec.taints = taints
    else delete n.spec.taints

    const st = (n.status ??= {})
    st.capacity = s.capacity
    st.allocatable = s.allocatable
    st.addresses = s.addresses
    st.daemonEndpoints = { kubeletEndpoint: { Port: 10250 } }
    st.nodeInfo = {
      ...s.nodeInfo,
      bootID:
        st.nodeInfo?.bootID ||
        randomBytes(16)
          .toString('hex')
          .replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5'),
    }
    const desired: [string, string, string, string][] = unknown
      ? [
          ['MemoryPressure', 'Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.'],
          ['DiskPressure', 'Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.'],
          ['PIDPressure', 'Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.'],
          ['Ready', 'Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.'],
        ]
      : [
          ['MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
          ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
          ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
          ['Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'],
        ]
    const prev: Obj[] = st.conditions ?? []
    st.conditions = desired.map(([type, status, reason, message]) => {
      const old = prev.find((c) => c.type === type)
      if (old && old.status === status && old.reason === reason) return old
      const ts = nowTs()
      return {
        type,
        status,
        lastHeartbeatTime: unknown ? (old?.lastHeartbeatTime ?? ts) : ts,
        lastTransitionTime: ts,
        reason,
        message,
      }
    })
  }

  /** Talos' NodeApplyController (lab/machine-api/node-apply.ts, node_apply.go syncOnce). */
  private talosNodeApply(n: Obj, s: NodeShape): void {
    applyNodeSpec(n, { labels: s.configLabels, annotations: s.configAnnotations, taints: s.configTaints })
  }

  // ---- CSRs ----------------------------------------------------------------------------------

  private async fileServingCsr(s: NodeShape, m: LabMachine): Promise<void> {
    const pem = kubeletServingCsr(s.name, s.name, m.node.address)
    const csr = prepareCreate(
      CSR,
      {
        metadata: { name: `csr-${randomSuffix(5)}`, generateName: 'csr-' },
        spec: {
          request: b64(pem),
          signerName: SERVING_SIGNER,
          usages: ['digital signature', 'server auth'],
        },
      },
      undefined,
      { name: `system:node:${s.name}`, groups: ['system:nodes'] },
    )
    await this.store.create(CSR, csr)
    this.log(`node ${s.name}: kubelet-serving CSR ${csr.metadata.name} pending`)
  }

  private async signApprovedCsrs(): Promise<void> {
    const { items } = await this.store.list(CSR)
    for (const { obj } of items) {
      const conds: Obj[] = obj.status?.conditions ?? []
      if (
        obj.status?.certificate ||
        !conds.some((c) => c.type === 'Approved' && c.status === 'True') ||
        conds.some((c) => c.type === 'Denied' || c.type === 'Failed')
      )
        continue
      let cert: string
      try {
        cert = signCsr(this.ca, unb64(obj.spec.request), obj.spec.usages ?? [])
      } catch (e) {
        this.log(`csr ${obj.metadata.name}: signing failed: ${(e as Error).message}`)
        continue
      }
      await this.store.mutate(CSR, undefined, obj.metadata.name, (c) => {
        if (c.status?.certificate) return undefined
        c.status = { ...(c.status ?? {}), certificate: b64(cert) }
        return c
      })
      this.log(`csr ${obj.metadata.name}: certificate issued`)
    }
  }

  // ---- control-plane static pods (mirror pods) ------------------------------------------------

  private async staticPods(machines: LabMachine[]): Promise<void> {
    const cps = machines.filter(
      (m) => m.cfg && (m.cfg.machine?.type ?? m.node.role) !== 'worker' && m.node.role === 'controlplane',
    )
    if (!cps.length) return
    const nodes = new Map((await this.store.list(NODE)).items.map((i) => [i.obj.metadata.name as string, i]))
    const pods = new Set((await this.store.list(POD, 'kube-system')).items.map((i) => i.obj.metadata.name as string))
    for (const m of cps) {
      const host = nodeShape(m.node, m.cfg, { hugepages: {} }).name
      const node = nodes.get(host)
      if (!node) continue
      const version = kubernetesVersion(m.cfg)
      const comps: [string, string, string][] = [
        ['kube-apiserver', '200m', '512Mi'],
        ['kube-controller-manager', '50m', '256Mi'],
        ['kube-scheduler', '10m', '64Mi'],
      ]
      for (const [comp, cpu, mem] of comps) {
        const name = `${comp}-${host}`
        if (pods.has(name)) continue
        const pod = prepareCreate(
          POD,
          {
            metadata: {
              name,
              namespace: 'kube-system',
              labels: { 'k8s-app': comp, tier: 'control-plane' },
              annotations: {
                'kubernetes.io/config.mirror': randomBytes(16).toString('hex'),
                'kubernetes.io/config.source': 'file',
              },
              ownerReferences: [
                { apiVersion: 'v1', kind: 'Node', name: host, uid: node.obj.metadata.uid, controller: true },
              ],
            },
            spec: {
              nodeName: host,
              hostNetwork: true,
              priorityClassName: 'system-cluster-critical',
              priority: 2000001000,
              tolerations: [{ operator: 'Exists', effect: 'NoExecute' }],
              containers: [
                {
                  name: comp,
                  image: `registry.k8s.io/${comp}:${version}`,
                  resources: { requests: { cpu, memory: mem } },
                },
              ],
            },
          },
          'kube-system',
          SYSTEM,
        )
        await this.store.create(POD, pod)
      }
    }
  }

  // ---- scheduler -----------------------------------------------------------------------------

  private async schedule(): Promise<void> {
    const pods = (await this.store.list(POD)).items.map((i) => i.obj)
    const pending = pods.filter(
      (p) =>
        !p.spec?.nodeName &&
        !p.metadata.deletionTimestamp &&
        (p.spec?.schedulerName ?? 'default-scheduler') === 'default-scheduler',
    )
    if (!pending.length) return
    const nodes = (await this.store.list(NODE)).items.map((i) => i.obj)
    for (const pod of pending) {
      const failures = new Map<string, Failure>()
      const feasible: Obj[] = []
      for (const n of nodes) {
        const f = filterNode(pod, n, pods)
        if (f) failures.set(n.metadata.name, f)
        else feasible.push(n)
      }
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`
      if (feasible.length) {
        const target = pickNode(pod, feasible, pods)
        await this.store.mutate(POD, pod.metadata.namespace, pod.metadata.name, (p) => {
          if (p.spec.nodeName) return undefined
          p.spec.nodeName = target.metadata.name
          p.status = {
            ...(p.status ?? {}),
            conditions: [{ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: nowTs() }],
          }
          return p
        })
        pod.spec.nodeName = target.metadata.name
        this.lastFailure.delete(key)
        await this.event(pod, 'Normal', 'Scheduled', `Successfully assigned ${key} to ${target.metadata.name}`)
        this.log(`scheduled ${key} to ${target.metadata.name}`)
        continue
      }
      const message = fitErrorMessage(pod, nodes, failures, pods)
      const cond = (pod.status?.conditions ?? []).find((c: Obj) => c.type === 'PodScheduled')
      if (cond?.message === message && this.lastFailure.get(key) === message) continue
      await this.store.mutate(POD, pod.metadata.namespace, pod.metadata.name, (p) => {
        const others = (p.status?.conditions ?? []).filter((c: Obj) => c.type !== 'PodScheduled')
        const old = (p.status?.conditions ?? []).find((c: Obj) => c.type === 'PodScheduled')
        if (old?.message === message) return undefined
        p.status = {
          ...(p.status ?? {}),
          phase: 'Pending',
          conditions: [
            ...others,
            {
              type: 'PodScheduled',
              status: 'False',
              lastProbeTime: null,
              lastTransitionTime: nowTs(),
              reason: 'Unschedulable',
              message,
            },
          ],
        }
        return p
      })
      if (this.lastFailure.get(key) !== message) await this.event(pod, 'Warning', 'FailedScheduling', message)
      this.lastFailure.set(key, message)
    }
  }

  /** An event about the pod, from the scheduler unless `source` says otherwise (a kubelet: component and host). */
  private async event(
    pod: Obj,
    type: string,
    reason: string,
    message: string,
    source: { component: string; host?: string } = { component: 'default-scheduler' },
  ): Promise<void> {
    const ts = nowTs()
    const ev = prepareCreate(
      EVENT,
      {
        metadata: { name: `${pod.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: pod.metadata.namespace },
        involvedObject: {
          kind: 'Pod',
          namespace: pod.metadata.namespace,
          name: pod.metadata.name,
          uid: pod.metadata.uid,
          apiVersion: 'v1',
          resourceVersion: pod.metadata.resourceVersion,
        },
        reason,
        message,
        source,
        firstTimestamp: ts,
        lastTimestamp: ts,
        count: 1,
        type,
        eventTime: null,
        reportingComponent: source.component,
        reportingInstance: source.host ?? '',
      },
      pod.metadata.namespace,
      SYSTEM,
    )
    await this.store.create(EVENT, ev).catch((e) => this.log(`event for ${pod.metadata.name}: ${(e as Error).message}`))
  }

  // ---- kubelets: pod status on their nodes ---------------------------------------------------

  private async kubelets(machines: LabMachine[], order: string[]): Promise<void> {
    const nodes = new Map((await this.store.list(NODE)).items.map((i) => [i.obj.metadata.name as string, i.obj]))
    const byHost = new Map<string, LabMachine>()
    for (const m of machines) if (m.cfg) byHost.set(nodeShape(m.node, m.cfg, { hugepages: {} }).name, m)
    const pods = (await this.store.list(POD)).items.map((i) => i.obj)
    // the containers each kubelet runs for its pods (lab/containers.ts): started for every pod bound to its node
    // while the node is Ready, gone with the pod; their IDs are what the pod's containerStatuses report
    const containers = new Map<string, LabContainer[]>()
    // pods a kubelet rejected at admission (lab/kubelet-admission.ts): set Failed below, never started
    const rejected = new Map<string, Rejection>()
    for (const [host, m] of byHost) {
      const node = nodes.get(host)
      const ready = (node?.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready')?.status === 'True' && m.up
      const runs = pods.filter(
        (p) =>
          p.spec?.nodeName === host &&
          !p.metadata.deletionTimestamp &&
          !isOneShot(p) &&
          !['Succeeded', 'Failed'].includes(p.status?.phase),
      )
      // a node that is not Ready keeps what it runs (or ran: a dead machine's containers died with its boot)
      const synced = ready ? syncContainers(m.node, runs) : { containers: liveContainers(m.node), rejected: new Map() }
      for (const c of synced.containers) containers.set(c.podUid, [...(containers.get(c.podUid) ?? []), c])
      for (const [uid, r] of synced.rejected) rejected.set(uid, r)
    }
    for (const pod of pods) {
      const host = pod.spec?.nodeName
      if (!host || pod.metadata.deletionTimestamp) continue
      const node = nodes.get(host)
      const m = byHost.get(host)
      if (!node || !m) continue
      const ready = (node.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready')?.status === 'True' && m.up
      const isMirror = !!pod.metadata.annotations?.['kubernetes.io/config.mirror']
      const containersReady =
        ready && (!isMirror || !pod.metadata.name.startsWith('kube-apiserver-') || !m.node.faults?.apiDown)
      if (isOneShot(pod)) {
        if (ready && !['Succeeded', 'Failed'].includes(pod.status?.phase)) {
          const result = runOneShot(pod, paths.root(m.node.name))
          await this.store.mutate(
            POD,
            pod.metadata.namespace,
            pod.metadata.name,
            (p) => ((p.status = finishedStatus(p, m.node.address, result)), p),
          )
        }
        continue
      }
      if (['Succeeded', 'Failed'].includes(pod.status?.phase)) continue
      const rejection = rejected.get(pod.metadata.uid)
      if (rejection) {
        await this.rejectPod(pod, host, rejection)
        continue
      }
      const running = pod.status?.phase === 'Running'
      if (!running && !ready) continue
      const podReady = (pod.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready')?.status === 'True'
      const ids = containerIds(containers.get(pod.metadata.uid))
      const sameIds = (pod.status?.containerStatuses ?? []).every(
        (s: Obj) => !ids[s.name] || s.containerID === ids[s.name],
      )
      if (running && podReady === containersReady && sameIds) continue
      const podIP = pod.spec.hostNetwork
        ? m.node.address
        : running
          ? pod.status.podIP
          : this.allocateIp(order.indexOf(m.node.name), host, pods)
      await this.store.mutate(POD, pod.metadata.namespace, pod.metadata.name, (p) => {
        if (p.spec.nodeName !== host) return undefined
        p.status = runningStatus(p, m.node.address, podIP, containersReady, ids)
        return p
      })
      pod.status = { ...(pod.status ?? {}), podIP }
    }
  }

  /**
   * kubelet.go:2381-2388 rejectPod: a Warning event with the admission error's reason and message, and the pod Failed
   * with that reason and "Pod was rejected: " + the message.
   */
  private async rejectPod(pod: Obj, host: string, r: Rejection): Promise<void> {
    let rejectedNow = false
    await this.store.mutate(POD, pod.metadata.namespace, pod.metadata.name, (p) => {
      if (p.spec.nodeName !== host || ['Succeeded', 'Failed'].includes(p.status?.phase)) return undefined
      p.status = rejectedStatus(p.status, r, nowTs())
      rejectedNow = true
      return p
    })
    if (rejectedNow) await this.event(pod, 'Warning', r.reason, r.message, { component: 'kubelet', host })
    this.log(`kubelet on ${host} rejected ${pod.metadata.namespace}/${pod.metadata.name}: ${r.reason}: ${r.message}`)
  }

  private allocateIp(index: number, host: string, pods: Obj[]): string {
    const used = new Set(pods.filter((p) => p.spec?.nodeName === host).map((p) => p.status?.podIP))
    for (let i = 2; i < 255; i++) {
      const ip = `10.244.${Math.max(0, index)}.${i}`
      if (!used.has(ip)) return ip
    }
    return `10.244.${Math.max(0, index)}.254`
  }
}

/** containerd://<id> of each container of a pod, by name (the sandbox left out). */
function containerIds(cs: LabContainer[] | undefined): Record<string, string> {
  return Object.fromEntries((cs ?? []).filter((c) => c.name).map((c) => [c.name, `containerd://${c.id}`]))
}
