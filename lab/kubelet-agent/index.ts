// A simulated kubelet for one lab machine that joins the REAL control plane (issue #23, stage 1) the way Talos v1.10.3's
// kubelet does:
// - Talos starts kubelet with --bootstrap-kubeconfig (the cluster's bootstrap token, cluster.token "<id>.<secret>",
//   as bearer token), --kubeconfig, --cert-dir /var/lib/kubelet/pki and --hostname-override <nodename>
//   (internal/app/machined/pkg/controllers/k8s/kubelet_spec.go :134-144; the bootstrap kubeconfig is
//   kubelet_service.go writePKI/kubeletKubeConfigTemplate :300-353). Its KubeletConfiguration is
//   machine.kubelet.extraConfig plus Talos's defaults (kubelet_spec.go NewKubeletConfiguration :265-410): Talos sets
//   rotateCertificates but NOT serverTLSBootstrap, so a serving CSR is filed only when extraConfig sets it; on control
//   planes it adds the node-role.kubernetes.io/control-plane:NoSchedule taint to registerWithTaints (:326-341, which
//   nodeShape's registerTaints does too).
// - kubelet's start: the CPU and memory managers' checkpoints are checked first (lab/kubelet.ts startKubelet: a
//   failure exits kubelet before it registers); then the client certificate (./certificates.ts), the Node and its
//   status (./node.ts), the lease every 10 s, node status every 10 s when it changed or every 5 min
//   (nodeStatusUpdateFrequency, nodeStatusReportFrequency defaults), the serving certificate, and the pods
//   (./pods.ts).
// What it does not do yet: serve the kubelet API on :10250, rotate certificates.
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseAllDocuments } from 'yaml'
import { nodeShape, readSysroot, type NodeShape, type ShapeMachine } from '../node-shape.ts'
import { startKubelet } from '../kubelet.ts'
import type { KubeletHost } from '../containers.ts'
import { ApiClient, ApiError } from './client.ts'
import {
  CLIENT_SIGNER,
  clientCsrUsages,
  currentPair,
  digestedName,
  newKey,
  nodeCsr,
  requestCertificate,
  selfSignedServing,
  SERVING_SIGNER,
  servingCsrUsages,
  storePair,
  writeKubeletKubeconfig,
} from './certificates.ts'
import { initialNode, LEASE_RENEW_MS, newLease, nodeStatus } from './node.ts'
import { PodSync } from './pods.ts'
import { mirrorPod } from './static-pods.ts'

type Obj = Record<string, any>

export interface KubeletAgentOptions {
  /** The lab machine (its lab state, or the inventory's node and lab/hardware.ts profile). */
  machine: ShapeMachine
  /** Its machine config: the text Talos was given, or its parsed v1alpha1 document. */
  config: string | Obj
  /** The machine's sysroot (lab/sysroot.ts): meminfo, huge pages, boot_id; kubelet's checkpoints and cert dir. */
  sysroot: string
  /**
   * The API servers kubelet reaches: one (the cluster endpoint), or KubePrism's upstreams in its order, each tried in
   * turn when a connection fails (./client.ts).
   */
  servers: string[]
  caFile: string
  /** The static pods in its /etc/kubernetes/manifests (a control plane's: ./static-pods.ts controlPlaneStaticPods). */
  staticPods?: Obj[]
  /**
   * Where its containers are kept and under which boot (default: containers.json beside the sysroot, under the
   * sysroot's boot_id). A lab machine's must be lab/containers.ts labHost: `talosctl containers` reads that one.
   */
  host?: KubeletHost
  /** cluster.token: "<id>.<secret>" (default: the config's). */
  bootstrapToken?: string
  log?: (m: string) => void
}

export interface KubeletAgent {
  nodeName: string
  /** The kubeconfig kubelet wrote for its issued client certificate (the node's credential). */
  kubeconfig: string
  /** Name of the client CSR the agent filed (undefined when a still-valid certificate was reused). */
  clientCsr?: string
  /** Name of the serving CSR, once filed (only with serverTLSBootstrap). */
  servingCsr(): string | undefined
  /** The serving certificate in use (PEM): the issued one, the self-signed one, or none while the CSR is pending. */
  servingCertificate(): string | undefined
  /** Stop every loop (no more lease renewals or status) and wait for them. */
  stop(): Promise<void>
}

const v1alpha1 = (text: string): Obj =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .find((o) => o && (o.machine || o.cluster))!

const readOr = (f: string, d = '') => (existsSync(f) ? readFileSync(f, 'utf8').trim() : d)

export async function startKubeletAgent(o: KubeletAgentOptions): Promise<KubeletAgent> {
  const log = o.log ?? (() => {})
  const cfg = typeof o.config === 'string' ? v1alpha1(o.config) : o.config
  const extra: Obj = cfg.machine?.kubelet?.extraConfig ?? {}
  const startError = startKubelet(o.sysroot, o.machine.hardware, extra)
  if (startError) throw new Error(`kubelet exited: ${startError}`)

  const shape: NodeShape = nodeShape(o.machine, cfg, readSysroot(o.sysroot))
  const name = shape.name
  const ids = {
    bootID: readOr(join(o.sysroot, 'proc/sys/kernel/random/boot_id')),
    machineID: readOr(join(o.sysroot, 'etc/machine-id')),
  }
  const ca = readFileSync(o.caFile, 'utf8')
  const servers = o.servers.map((s) => new URL(s))
  const certDir = join(o.sysroot, 'var/lib/kubelet/pki')
  const kubeconfig = join(o.sysroot, 'etc/kubernetes/kubeconfig-kubelet')
  mkdirSync(join(o.sysroot, 'etc/kubernetes'), { recursive: true })
  const abort = new AbortController()
  const signal = abort.signal

  // the client certificate: reused while valid, else bootstrapped with the token
  let clientCsr: string | undefined
  let pair = currentPair(certDir, 'kubelet-client')
  if (!pair) {
    const bootstrap = new ApiClient(servers, ca, { token: o.bootstrapToken ?? cfg.cluster.token })
    try {
      const keyPem = newKey()
      const usages = clientCsrUsages()
      const got = await requestCertificate(
        bootstrap,
        { name: digestedName(keyPem, name, usages), csrPem: nodeCsr(keyPem, name), signerName: CLIENT_SIGNER, usages },
        signal,
        (n) => log(`${name}: client CSR ${n} filed with the bootstrap token`),
      )
      clientCsr = got.name
      storePair(certDir, 'kubelet-client', got.certPem, keyPem)
      pair = currentPair(certDir, 'kubelet-client')!
      log(`${name}: client certificate issued (${got.name})`)
    } finally {
      bootstrap.close()
    }
  }
  // Talos writes KubePrism's https://127.0.0.1:7445 here (secrets/kubelet.go :47-65), which the lab's machines cannot
  // listen on; the first upstream keeps the file usable (a test acts as the node with it)
  writeKubeletKubeconfig(kubeconfig, o.servers[0]!, ca, pair.file)
  const api = new ApiClient(servers, ca, { cert: pair.certPem, key: pair.keyPem })

  // register (tryRegisterWithAPIServer: an existing Node of the same name is this node's)
  const created = await api.call('POST', '/api/v1/nodes', initialNode(shape, ids))
  if (created.status !== 201 && created.status !== 409)
    throw new ApiError(created.status, created.body.reason, `registering node ${name}: ${created.body.message}`)
  log(`${name}: ${created.status === 201 ? 'registered' : 'already registered'}`)
  let node: Obj = created.status === 201 ? created.body : await api.ok('GET', `/api/v1/nodes/${name}`)

  let lastReport = 0
  let lastConditions: Obj[] | undefined
  const postStatus = async () => {
    const status = nodeStatus(shape, ids, lastConditions)
    const changed =
      JSON.stringify(status.conditions.map((c: Obj) => c.status)) !==
      JSON.stringify((lastConditions ?? []).map((c) => c.status))
    if (!changed && Date.now() - lastReport < 5 * 60_000) return
    node = await api.ok('PATCH', `/api/v1/nodes/${name}/status`, { status }, 'application/merge-patch+json', signal)
    lastConditions = node.status?.conditions?.filter((c: Obj) => status.conditions.some((s: Obj) => s.type === c.type))
    lastReport = Date.now()
  }
  const renewLease = async () => {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`
    const cur = await api.call('GET', path, undefined, undefined, signal)
    if (cur.status === 404)
      await api.ok(
        'POST',
        '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
        newLease(name, node.metadata.uid),
        undefined,
        signal,
      )
    else if (cur.status === 200)
      await api.ok('PUT', path, newLease(name, node.metadata.uid, cur.body), undefined, signal)
    else throw new ApiError(cur.status, cur.body.reason, `lease: ${cur.body.message}`)
  }
  /** fn every ms after the first run (done before the loops start); ends when signal aborts. */
  const every = async (ms: number, what: string, fn: () => Promise<void>) => {
    for (;;) {
      await sleep(ms, undefined, { signal }).catch(() => undefined)
      if (signal.aborted) return
      await fn().catch((e: Error) => signal.aborted || log(`${name}: ${what}: ${e.message}`))
    }
  }

  // the serving certificate: the CSR manager (serverTLSBootstrap) or InitializeTLS's self-signed pair
  let serving: string | undefined
  let servingCsr: string | undefined
  const servingLoop = async () => {
    const cur = currentPair(certDir, 'kubelet-server')
    if (cur) return void (serving = cur.certPem)
    const keyPem = newKey()
    // addressesToHostnamesAndIPs: Hostname and InternalIP of the Node's status
    const sans = [...new Set(shape.addresses.map((a) => a.address))].sort()
    for (;;) {
      try {
        const got = await requestCertificate(
          api,
          { csrPem: nodeCsr(keyPem, name, sans), signerName: SERVING_SIGNER, usages: servingCsrUsages() },
          signal,
          (n) => {
            servingCsr = n
            log(`${name}: serving CSR ${n} filed, pending approval`)
          },
        )
        storePair(certDir, 'kubelet-server', got.certPem, keyPem)
        serving = got.certPem
        log(`${name}: serving certificate issued (${got.name})`)
        return
      } catch (e) {
        if (signal.aborted) return
        log(`${name}: serving certificate: ${(e as Error).message}`)
        await sleep(10_000, undefined, { signal }).catch(() => undefined)
      }
    }
  }
  if (!extra.serverTLSBootstrap) serving = selfSignedServing(certDir, name).certPem

  // kubelet's mirror pods for its static pods (v1.33.1 pkg/kubelet/kubelet.go tryReconcileMirrorPods :3283-3315):
  // created when missing; one being deleted (a deletionTimestamp: its Node was deleted and the pod GC came) or made from
  // another manifest is deleted with grace 0 and its UID as precondition (pod/mirror_client.go :116-133) and created
  // again. Kubelet does this on the mirror pod's update event; the lab looks every 2 s.
  const mirrorPods = async () => {
    for (const manifest of o.staticPods ?? []) {
      const want = mirrorPod(manifest, name, node.metadata.uid)
      const path = `/api/v1/namespaces/${want.metadata.namespace}/pods`
      const cur = await api.call('GET', `${path}/${want.metadata.name}`, undefined, undefined, signal)
      const hash = want.metadata.annotations['kubernetes.io/config.mirror']
      const same = cur.body?.metadata?.annotations?.['kubernetes.io/config.mirror'] === hash
      if (cur.status === 200 && same && !cur.body.metadata.deletionTimestamp) continue
      if (cur.status === 200) {
        const preconditions = { uid: cur.body.metadata.uid }
        await api.ok('DELETE', `${path}/${want.metadata.name}`, {
          kind: 'DeleteOptions',
          apiVersion: 'v1',
          gracePeriodSeconds: 0,
          preconditions,
        })
      }
      await api.ok('POST', path, want, undefined, signal)
      log(`${name}: mirror pod ${want.metadata.namespace}/${want.metadata.name} created`)
    }
  }

  await postStatus()
  await renewLease()
  await mirrorPods().catch((e: Error) => log(`${name}: mirror pods: ${e.message}`))
  const host: KubeletHost = o.host ?? {
    hardware: o.machine.hardware,
    root: o.sysroot,
    file: join(dirname(o.sysroot), 'containers.json'),
    boot: ids.bootID,
    config: () => cfg,
  }
  const pods = new PodSync(
    api,
    name,
    host,
    o.machine.address,
    async () => {
      if (!node.spec?.podCIDR) node = await api.ok('GET', `/api/v1/nodes/${name}`, undefined, undefined, signal)
      return node.spec?.podCIDR as string | undefined
    },
    (m) => log(`${name}: ${m}`),
  )
  const loops = [
    every(LEASE_RENEW_MS, 'lease', renewLease),
    every(10_000, 'node status', postStatus),
    ...(o.staticPods?.length ? [every(2_000, 'mirror pods', mirrorPods)] : []),
    pods.run(signal),
    ...(extra.serverTLSBootstrap ? [servingLoop()] : []),
  ]

  return {
    nodeName: name,
    kubeconfig,
    clientCsr,
    servingCsr: () => servingCsr,
    servingCertificate: () => serving,
    async stop() {
      abort.abort()
      await Promise.allSettled(loops)
      api.close()
      log(`${name}: stopped`)
    },
  }
}
