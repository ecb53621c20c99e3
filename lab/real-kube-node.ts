// The real Kubernetes control plane of one lab control-plane machine (issue #23):
//   node --import tsx lab/real-kube-node.ts --node cp1 [--lab-dir DIR]
// What Talos v1.10.3 runs on a control plane once machined calls its etcd service healthy:
// - kube-apiserver, kube-controller-manager and kube-scheduler v1.33.1 with the flags and files
//   `talos-api render-control-plane` renders from the machine's config (lab/control-plane.ts), in nodes/<n>/kube/;
// - the cluster VIP (lab/vip-holder.ts, Talos's etcd election): while this node holds it, connections to VIP:port are
//   forwarded to this node's kube-apiserver, as the VIP address on the holder's NIC would bring them to it;
// - the bootstrap manifests Talos's manifest controller applies, each object created when missing and never
//   updated (manifest_apply.go): Talos's own bootstrap manifests as its ManifestController renders them (`talos-api
//   render-bootstrap-manifests`: the bootstrap token and CSR RBAC, flannel, kube-proxy, CoreDNS) and
//   cluster.inlineManifests ("99-<name>"), in Talos's order (lab/manifest-objects.ts), each read before it is created
//   (lab/real-manifest-apply.ts);
// - a config applied without a reboot: the static pods rendered again, a changed one replaced, the manifests applied
//   again (onConfigChange below).
// Lab deviations beyond lab/control-plane.ts's: the lab's etcd listens on the node's address only (lab/
// node-services.ts), so kube-apiserver is given --etcd-servers=https://<address>:2379 (Talos: https://localhost:2379)
// with the etcd client certificate Talos renders for it.
// A SIGTERM stops the components (and resigns the VIP); the lab's crash faults kill this process group whole.
import { type ChildProcess } from 'node:child_process'
import { createHash, X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'

const { values: args } = parseArgs({ options: { node: { type: 'string' }, 'lab-dir': { type: 'string' } } })
if (!args.node) {
  console.error('usage: real-kube-node.ts --node NAME [--lab-dir DIR]')
  process.exit(2)
}
if (args['lab-dir']) process.env.TALOS_LAB_DIR = args['lab-dir']

const { loadCluster, loadNode, paths } = await import('./state.ts')
const { talosApiBinary } = await import('./go-builds.ts')
const cp = await import('./control-plane.ts')
const { VipElection } = await import('./vip-election.ts')
const { VipHolder } = await import('./vip-holder.ts')
const { EtcdClient } = await import('./etcd-client.ts')
const { parseMachineConfig, hostnameOf } = await import('./node-shape.ts')
const { inlineManifests, manifestObjects } = await import('./manifest-objects.ts')
const { applyManifestObjects } = await import('./real-manifest-apply.ts')
const { withLock } = await import('./etcd-mutex.ts')
const { untilEtcdHealthy } = await import('./etcd-health.ts')
type RenderedControlPlane = import('./control-plane.ts').RenderedControlPlane
type Manifest = import('./manifest-objects.ts').Manifest

const name = args.node
const log = (m: string) => console.log(`${new Date().toISOString()} real-kube[${name}] ${m}`)
const node = loadNode(name)
const cluster = loadCluster()
const configFile = paths.config(name)
let configText = readFileSync(configFile, 'utf8')
let cfg = parseMachineConfig(configText)
const endpoint: string = cfg.cluster?.controlPlane?.endpoint ?? cluster.endpoint
const dir = join(paths.nodeDir(name), 'kube')
mkdirSync(dir, { recursive: true, mode: 0o700 })
const talosApi = talosApiBinary()
const etcdUrl = `https://${node.address}:2379`
/** This machine's etcd as machined's clients reach it: its admin certificate (lab/node-services.ts etcdClient). */
const etcdClient = (timeoutMs?: number) => new EtcdClient(etcdUrl, paths.etcdPki(name), timeoutMs)

const renderNow = (): RenderedControlPlane => cp.renderControlPlane(talosApi, configFile, dir, node.address)
let rendered = renderNow()
const admin = cp.kubeClientCert(talosApi, configFile, join(dir, 'admin'), 'admin', ['system:masters'])
const adminKubeconfig = cp.writeKubeconfig(
  join(dir, 'admin.kubeconfig'),
  `https://${node.address}:${cp.flagValue(rendered.args, 'secure-port')}`,
  join(dir, 'secrets', 'ca.crt'),
  admin,
)

/** A TCP forwarder to this node's kube-apiserver: what the VIP on this machine's NIC amounts to. */
function forwarder(): Server {
  const sockets = new Set<Socket>()
  const port = Number(cp.flagValue(rendered.args, 'secure-port'))
  const s = createServer((client) => {
    const upstream = createConnection({ host: node.address, port })
    for (const x of [client, upstream]) {
      sockets.add(x)
      x.on('close', () => sockets.delete(x))
      x.on('error', () => (client.destroy(), upstream.destroy()))
    }
    client.pipe(upstream).pipe(client)
  })
  // the VIP moving away breaks the connections that came through it
  return Object.assign(s, { closeAllConnections: () => sockets.forEach((x) => x.destroy()) })
}

// Talos campaigns for the VIP once etcd is healthy (below), whether or not kube-apiserver is up yet (vip.go)
const vip = new VipHolder({
  node: name,
  address: node.address,
  endpoint,
  election: new VipElection(etcdClient(), new URL(endpoint).hostname, hostnameOf(node, cfg), log),
  listen: forwarder,
  log,
})
/** How often the local etcd is probed: a stopped etcd takes the node out of the election within 2 s of probes. */
const ETCD_PROBE_MS = 500
const etcd = etcdClient(ETCD_PROBE_MS)
// Talos's campaign ends when the etcd service stops (vip.go:284-290, a Destroyed event), not when etcd is slow: only
// an etcd that does not listen counts here. A status that times out on a loaded host says nothing either way (taken
// for a stop, it made a survivor abandon its place in the queue and wait out its own old key).
// One probe at a time: on a loaded host a status can outlast the interval, and overlapping ones each open a TLS
// connection of their own.
let probing = false
setInterval(() => {
  if (probing) return
  probing = true
  etcd
    .status()
    .then(
      () => vip.etcdProbe(undefined),
      (e: Error) => /ECONNREFUSED/.test(e.message) && vip.etcdProbe(e.message),
    )
    .finally(() => (probing = false))
}, ETCD_PROBE_MS)

const children = new Set<ChildProcess>()
/** Each component's running process, and those stopped to be started again at once with a new static pod. */
const running = new Map<string, ChildProcess>()
const replacing = new Set<string>()
let stopping = false

async function shutdown(sig: string, code = 0): Promise<void> {
  if (stopping) return
  stopping = true
  log(`${sig}: stopping`)
  await vip.stop().catch(() => undefined)
  for (const c of [...children].reverse()) await cp.stopChild(c, 3000)
  process.exit(code)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))

/**
 * A static pod as kubelet keeps it running: started, and after it exits (or fails to start) started again after
 * kubelet's crash-loop back-off, 10 s doubling to 5 min, reset after 10 min of running (pkg/kubelet/kubelet.go
 * backOffPeriod, MaxContainerBackOff; pkg/kubelet/kuberuntime). Two API servers that start together can make one
 * exit at once ("cannot create cluster IP allocator: … another caller has already initialized the resource"): on
 * Talos kubelet starts it again, and so does this.
 */
async function supervise(component: string, start: () => Promise<ChildProcess>, onRunning?: () => void) {
  let backoff = 10_000
  while (!stopping) {
    const startedAt = Date.now()
    try {
      const child = await start()
      children.add(child)
      running.set(component, child)
      log(`${component} running`)
      onRunning?.()
      const code = await new Promise<string>((r) => child.once('exit', (c, sig) => r(String(c ?? sig))))
      children.delete(child)
      running.delete(component)
      if (stopping) return
      // a changed static pod is a new pod: kubelet starts it without a back-off
      if (replacing.delete(component)) {
        log(`${component} stopped for its new static pod`)
        continue
      }
      log(`${component} exited (${code})`)
    } catch (e) {
      log(`${component}: ${(e as Error).message}`)
    }
    if (Date.now() - startedAt > 10 * 60_000) backoff = 10_000
    log(`${component}: starting again in ${backoff / 1000} s (back-off)`)
    await sleep(backoff)
    backoff = Math.min(backoff * 2, 300_000)
  }
}

// machined starts the static pods, and the VIP operator campaigns, once it calls the etcd service healthy: its first
// check 5 s after etcd starts, then one every 20 s (lab/etcd-health.ts untilEtcdHealthy)
log('waiting for the etcd service to be healthy')
await untilEtcdHealthy(
  node,
  () => loadNode(name).etcd.pid,
  (h) => log(`etcd service not healthy yet: ${h.message}`),
)
log('etcd service healthy')
vip.start()

let othersStarted = false
log(`starting kube-apiserver (etcd ${etcdUrl})`)
void supervise(
  'kube-apiserver',
  () => cp.startKubeApiServer(rendered, node.address, etcdUrl, admin, join(dir, 'kube-apiserver.log')),
  () => {
    // kubelet starts every static pod together; the lab starts the other two once the API answered first
    if (othersStarted) return
    othersStarted = true
    if (rendered.controllerManager)
      void supervise('kube-controller-manager', () =>
        cp.startKubeControllerManager(rendered, node.address, join(dir, 'kube-controller-manager.log')),
      )
    if (rendered.scheduler)
      void supervise('kube-scheduler', () =>
        cp.startKubeScheduler(rendered, node.address, join(dir, 'kube-scheduler.log')),
      )
  },
)

/** The manifests Talos's ManifestController renders: its bootstrap manifests and cluster.inlineManifests ("99-<name>"). */
function currentManifests() {
  let bootstrap: Manifest[] = []
  try {
    bootstrap = cp.renderBootstrapManifests(talosApi, configFile, join(dir, 'manifests'))
  } catch (e) {
    log((e as Error).message)
  }
  const m = manifestObjects([...bootstrap, ...inlineManifests(cfg)])
  for (const e of m.errors) log(`manifests: ${e}`)
  return m.objects
}
let manifests = currentManifests()

/**
 * The manifest controller's runs until one has no error: a failed run is run again after the controller runtime's
 * back-off (cosi-project/runtime v0.10.2 pkg/controller/runtime/internal/rruntime/rruntime.go:79-84, cenkalti/backoff
 * v4 NewExponentialBackOff's defaults: 0.5 s growing 1.5× up to 60 s, randomized ±50 %, no limit). Talos runs it
 * when its inputs change (manifest_apply.go:91-96, r.EventCh()), not on a timer: an object deleted by hand comes back
 * at the next change of the manifests (a config apply that changes them) or the next boot, not by itself.
 */
/** constants.EtcdTalosManifestApplyMutex (pkg/machinery/constants/constants.go:463). */
const MANIFEST_APPLY_MUTEX = 'talos:v1:manifestApplyMutex'
let applying = false
let applyAgain = false
function runManifestController(): void {
  applyAgain = true
  if (applying) return
  applying = true
  void (async () => {
    while (applyAgain && !stopping) {
      applyAgain = false
      let delay = 500
      while (!stopping && !applyAgain) {
        // etcd.WithLock(constants.EtcdTalosManifestApplyMutex) around apply (manifest_apply.go:162-166): one control
        // plane applies at a time; a lock that cannot be taken fails the run like an apply error
        const { created, errors } = await withLock(etcd, MANIFEST_APPLY_MUTEX, () =>
          applyManifestObjects(adminKubeconfig, manifests),
        ).catch((e: Error) => ({ created: [], errors: [e.message] }))
        for (const c of created) log(`manifests: created ${c}`)
        if (!errors.length) {
          log('bootstrap manifests applied')
          break
        }
        log(`manifests: ${errors.join('; ')}`)
        await sleep(delay * (0.5 + Math.random()))
        delay = Math.min(delay * 1.5, 60_000)
      }
    }
    applying = false
  })()
}
runManifestController()

/**
 * What makes a component's static pod change: its flags, the rendered files they name, and of a certificate only who
 * it names and who signed it. Each render issues the certificates anew, where Talos's secrets controllers issue them
 * again only when their subject, SANs or CA change; so a new certificate for the same names is no change, and keys and
 * kubeconfigs (which embed the certificates) are left out.
 */
function podParts(args: string[] | undefined): Map<string, string> {
  const parts = new Map<string, string>()
  for (const a of args ?? []) {
    parts.set(a, '')
    const [, flag, file] = /^--([\w-]+)=(\/.+)$/.exec(a) ?? []
    // the audit log is what the API server writes, not what its pod is made of
    if (!file?.startsWith(dir + '/') || flag === 'audit-log-path' || !existsSync(file)) continue
    if (/\.key$|kubeconfig$/.test(file)) continue
    const c = file.endsWith('.crt') ? new X509Certificate(readFileSync(file)) : undefined
    const what = c ? `${c.subject}|${c.subjectAltName ?? ''}|${c.issuer}` : readFileSync(file)
    parts.set(file, createHash('sha256').update(what).digest('hex'))
  }
  return parts
}
/** The flags and files that differ between two static pods of a component. */
function podChanges(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()])
  return [...keys].filter((k) => a.get(k) !== b.get(k)).map((k) => k.replace(dir + '/', ''))
}
const componentArgs = (r: RenderedControlPlane): Record<string, string[] | undefined> => ({
  'kube-apiserver': r.args,
  'kube-controller-manager': r.controllerManager?.args,
  'kube-scheduler': r.scheduler?.args,
})

/**
 * A config applied without a reboot (Talos applies cluster.* changes in place) changes the control plane as Talos's
 * controllers do: the static pods are rendered again (control_plane_static_pod.go: a pod whose config or secrets
 * changed carries a new talos.dev/config-version or secrets-version annotation, :464-466, :645-646, :835-836, so
 * kubelet replaces it) and the manifest controller runs with the new manifests.
 */
function onConfigChange(): void {
  const before = Object.entries(componentArgs(rendered)).map(([c, a]) => [c, podParts(a)] as const)
  const parts = new Map(before)
  try {
    rendered = renderNow()
  } catch (e) {
    log(`config changed, not rendered: ${(e as Error).message}`)
    return
  }
  for (const [component, args] of Object.entries(componentArgs(rendered))) {
    const child = running.get(component)
    const changed = podChanges(parts.get(component)!, podParts(args))
    if (!child || !changed.length) continue
    log(`config changed: ${component} gets a new static pod (${changed.join(', ')})`)
    replacing.add(component)
    void cp.stopChild(child, 3000)
  }
  manifests = currentManifests()
  runManifestController()
}
setInterval(() => {
  let text: string
  try {
    text = readFileSync(configFile, 'utf8')
  } catch {
    return
  }
  if (text === configText) return
  configText = text
  try {
    cfg = parseMachineConfig(text)
  } catch (e) {
    log(`config changed, not parsed: ${(e as Error).message}`)
    return
  }
  onConfigChange()
}, 1000)
