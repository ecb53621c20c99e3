// The lab Kubernetes API server for one control-plane node:
//   node --import tsx lab/kube-api/server.ts --node cp1 [--lab-dir DIR]
// Serves HTTPS on <node address>:6443 (client certs from the cluster CA), stores objects in the node's
// local etcd member, competes for the cluster VIP (endpoint host:port) and, while holding it, runs the
// controllers (node lifecycle, CSR signing, static pods, scheduler) so exactly one instance does.
import { createServer, type Server } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { parseArgs } from 'node:util'
import { ApiError } from './errors.ts'

const { values: args } = parseArgs({ options: { node: { type: 'string' }, 'lab-dir': { type: 'string' } } })
if (!args.node) {
  console.error('usage: server.ts --node NAME [--lab-dir DIR]')
  process.exit(2)
}
if (args['lab-dir']) process.env.TALOS_LAB_DIR = args['lab-dir']

// state.ts reads TALOS_LAB_DIR when called, so import the lab modules after setting it
const { loadCluster, loadNode, paths } = await import('../state.ts')
const { loadMachineConfig, kubernetesVersion, hostnameOf } = await import('./labinfo.ts')
const { clusterCa, servingCert, servingSans } = await import('./tls.ts')
const { Store } = await import('./storage.ts')
const { handle, isPublicPath, sendError } = await import('./handlers.ts')
const { Controllers } = await import('./controllers.ts')
const { podSecurityConfig } = await import('./pod-security.ts')
const { fileStamp } = await import('./labcache.ts')
const { VipElection } = await import('./vip-election.ts')
const { EtcdClient } = await import('../etcd-client.ts')
const { VipHolder } = await import('../vip-holder.ts')

const nodeName = args.node
const log = (msg: string) => console.log(`${new Date().toISOString()} kube-apiserver[${nodeName}] ${msg}`)

const cluster = loadCluster()
const node = loadNode(nodeName)
const cfg = loadMachineConfig(nodeName)
if (!cfg) {
  log(`no machine config at ${paths.config(nodeName)}: nothing to serve`)
  process.exit(1)
}
const ca = clusterCa(cfg, paths.config(nodeName))
const endpoint: string = cfg.cluster?.controlPlane?.endpoint ?? cluster.endpoint
const sans = servingSans(node.address, endpoint, cfg.cluster?.apiServer?.certSANs ?? [])
const cert = servingCert(nodeName, ca, sans)
const port = Number(new URL(node.kubeApi?.url ?? `https://${node.address}:6443`).port || 6443)
const store = new Store(node.etcd.clientUrl)
// PodSecurity's configuration, as kube-apiserver reads it at start: read again when the machine config changes (a new
// config restarts the real static pod)
let podSecurityCfg = { stamp: fileStamp(paths.config(nodeName)), cfg: podSecurityConfig(cfg) }
function podSecurity() {
  const stamp = fileStamp(paths.config(nodeName))
  if (stamp !== podSecurityCfg.stamp) {
    try {
      podSecurityCfg = { stamp, cfg: podSecurityConfig(loadMachineConfig(nodeName)) }
    } catch (e) {
      log(`PodSecurity: keeping the configuration in force: ${(e as Error).message}`)
    }
  }
  return podSecurityCfg.cfg
}
const ctx = { store, gitVersion: kubernetesVersion(cfg), serverAddress: `${node.address}:${port}`, log, podSecurity }

function makeServer(): Server {
  return createServer(
    { key: cert.key, cert: cert.crt, ca: ca.crt, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const sock = req.socket as TLSSocket
      const peer = sock.authorized ? sock.getPeerCertificate() : undefined
      const path = new URL(req.url ?? '/', 'https://lab').pathname
      if (!peer?.subject) {
        if (isPublicPath(path))
          return void handle(ctx, { name: 'system:anonymous', groups: ['system:unauthenticated'] }, req, res)
        return sendError(res, new ApiError(401, 'Unauthorized', 'Unauthorized'))
      }
      const o = peer.subject.O
      const groups = Array.isArray(o) ? o : o ? [o] : []
      void handle(ctx, { name: String(peer.subject.CN ?? ''), groups }, req, res)
    },
  )
}

const main = makeServer()
main.on('error', (e) => {
  log(`cannot listen on ${node.address}:${port}: ${e.message}`)
  process.exit(1)
})
main.listen(port, node.address, () =>
  log(`serving on https://${node.address}:${port} (kubernetes ${ctx.gitVersion}, etcd ${node.etcd.clientUrl})`),
)

// --- the shared VIP: held by the winner of Talos' etcd election (lab/vip-holder.ts) -------------------------
// one campaign per node, on its LOCAL etcd member (vip.go: etcd.NewLocalClient), the hostname as its value
const vip = new VipHolder({
  node: nodeName,
  address: node.address,
  endpoint,
  election: new VipElection(
    new EtcdClient(node.etcd.clientUrl),
    new URL(endpoint).hostname,
    hostnameOf(node, cfg),
    log,
  ),
  listen: makeServer,
  log,
})
vip.start()
let stopping = false

// --- controllers, in the VIP holder only; every instance watches its own etcd's health ---------
const controllers = new Controllers(store, ca, log)
let busy = false
async function loop(): Promise<void> {
  if (busy || stopping) return
  busy = true
  try {
    const { error: bad, revision } = await store.probe()
    // Talos' VIP is an etcd election: a node whose etcd is gone loses it
    vip.etcdProbe(bad)
    if (bad) return
    if (vip.servesEndpoint) await controllers.tick(revision)
    else await controllers.ensureNamespaces()
  } catch (e) {
    log(`controllers: ${(e as Error).message}`)
  } finally {
    busy = false
  }
}
const loopTimer = setInterval(() => void loop(), 250)

function shutdown(sig: string): void {
  if (stopping) return
  stopping = true
  log(`${sig}: shutting down`)
  clearInterval(loopTimer)
  main.close()
  main.closeAllConnections?.()
  // a graceful stop resigns at once (vip.go's deferred Resign, the session's Close): the next candidate takes over
  // within a campaign round. A SIGKILL (the lab's crash faults, a power cut) skips this: the lease has to expire.
  void vip.stop().finally(() => setTimeout(() => process.exit(0), 50))
  setTimeout(() => process.exit(0), 2500).unref()
}
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
