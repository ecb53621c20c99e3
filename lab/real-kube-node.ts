// The REAL Kubernetes control plane of one lab control-plane machine (issue #23, stage 2), for a lab whose
// lab.json says `"kubernetes": "real"` (createTestLab's `kubernetes: 'real'`):
//   node --import tsx lab/real-kube-node.ts --node cp1 [--lab-dir DIR]
// What Talos v1.10.3 runs on a control plane once its etcd is up:
// - kube-apiserver, kube-controller-manager and kube-scheduler v1.33.1 with the flags and files
//   `talos-api render-control-plane` renders from the machine's config (lab/control-plane.ts), in nodes/<n>/kube/;
// - the cluster VIP (lab/vip-holder.ts, Talos's etcd election): while this node holds it, connections to VIP:port are
//   forwarded to this node's kube-apiserver, as the VIP address on the holder's NIC would bring them to it;
// - the bootstrap manifests Talos's manifest controller applies, each object created when missing and never
//   updated (manifest_apply.go): Talos's own bootstrap manifests as its ManifestController renders them (`talos-api
//   render-bootstrap-manifests`: the bootstrap token and CSR RBAC, flannel, kube-proxy, CoreDNS) and
//   cluster.inlineManifests ("99-<name>"), in Talos's order (lab/manifest-objects.ts), each read before it is created
//   (lab/real-manifest-apply.ts).
// Lab deviations beyond lab/control-plane.ts's: the lab's etcd serves plain HTTP on the node's address (lab/
// node-services.ts), so kube-apiserver is given --etcd-servers=http://<address>:2379 and no etcd client certificate.
// A SIGTERM stops the components (and resigns the VIP); the lab's crash faults kill this process group whole.
import { type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
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
const { VipElection } = await import('./kube-api/vip-election.ts')
const { VipHolder } = await import('./vip-holder.ts')
const { EtcdClient } = await import('./etcd-client.ts')
const { parseMachineConfig, hostnameOf } = await import('./kube-api/labinfo.ts')
const { inlineManifests, manifestObjects } = await import('./manifest-objects.ts')
const { applyManifestObjects } = await import('./real-manifest-apply.ts')

const name = args.node
const log = (m: string) => console.log(`${new Date().toISOString()} real-kube[${name}] ${m}`)
const node = loadNode(name)
const cluster = loadCluster()
const configFile = paths.config(name)
const cfg = parseMachineConfig(readFileSync(configFile, 'utf8'))
const endpoint: string = cfg.cluster?.controlPlane?.endpoint ?? cluster.endpoint
const dir = join(paths.nodeDir(name), 'kube')
mkdirSync(dir, { recursive: true, mode: 0o700 })
const talosApi = talosApiBinary()
const rendered = cp.renderControlPlane(talosApi, configFile, dir, node.address)
const etcdUrl = `http://${node.address}:2379`
// the lab's etcd has no TLS: no etcd client certificate flags
rendered.args = rendered.args.filter((a) => !/^--etcd-(cafile|certfile|keyfile)=/.test(a))
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

// Talos holds the VIP once etcd is healthy, whether or not kube-apiserver is up yet (vip.go)
const vip = new VipHolder({
  node: name,
  address: node.address,
  endpoint,
  election: new VipElection(new EtcdClient(etcdUrl), new URL(endpoint).hostname, hostnameOf(node, cfg), log),
  listen: forwarder,
  log,
})
vip.start()
const etcd = new EtcdClient(etcdUrl, 1000)
setInterval(() => {
  etcd.status().then(
    () => vip.etcdProbe(undefined),
    (e: Error) => vip.etcdProbe(e.message),
  )
}, 250)

const children = new Set<ChildProcess>()
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
      log(`${component} running`)
      onRunning?.()
      const code = await new Promise<string>((r) => child.once('exit', (c, sig) => r(String(c ?? sig))))
      children.delete(child)
      if (stopping) return
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

const bootstrap = (() => {
  try {
    return cp.renderBootstrapManifests(talosApi, configFile, join(dir, 'manifests'))
  } catch (e) {
    log((e as Error).message)
    return []
  }
})()
// Talos's bootstrap manifests and cluster.inlineManifests ("99-<name>"), in its order
const manifests = manifestObjects([...bootstrap, ...inlineManifests(cfg)])
for (const e of manifests.errors) log(`manifests: ${e}`)

/**
 * The manifest controller's runs until one has no error: a failed run is run again after the controller runtime's
 * back-off (cosi-project/runtime v0.10.2 pkg/controller/runtime/internal/rruntime/rruntime.go:79-84, cenkalti/backoff
 * v4 NewExponentialBackOff's defaults: 0.5 s growing 1.5× up to 60 s, randomized ±50 %, no limit).
 */
async function applyUntilDone(): Promise<void> {
  let delay = 500
  while (!stopping) {
    const { created, errors } = applyManifestObjects(adminKubeconfig, manifests.objects)
    for (const c of created) log(`manifests: created ${c}`)
    if (!errors.length) break
    log(`manifests: ${errors.join('; ')}`)
    await sleep(delay * (0.5 + Math.random()))
    delay = Math.min(delay * 1.5, 60_000)
  }
  if (!stopping) log('bootstrap manifests applied')
}
void applyUntilDone()
