// The kubelets of every lab machine, beside the real control plane (issue #23):
//   node --import tsx lab/real-kubelets.ts [--lab-dir DIR]
// Each second, for each machine: while it runs configured (stage running, not down, its kubelet not failed at start:
// lab/kubelet.ts) it has a kubelet agent (lab/kubelet-agent/) for this boot; when it goes down or boots again the
// agent is dropped without a goodbye (a dead kubelet posts nothing: the node lifecycle controller notices). A control
// plane's agent is given the static pods Talos writes for it (lab/kubelet-agent/static-pods.ts, from what
// lab/real-kube-node.ts rendered). Beside each agent runs machined's NodeApplyController (lab/machine-api/node-apply.ts)
// with the client Talos uses: the kubelet's credential on a worker, an admin one on a control plane.
// Talos's kubelet reaches the API through KubePrism when machine.features.kubePrism is enabled (v1.10.3
// controllers/secrets/kubelet.go :47-65: https://127.0.0.1:7445, else the cluster endpoint): a load balancer over the
// cluster endpoint and every control plane that cluster discovery finds (controllers/k8s/kubeprism_endpoints.go
// :51-79). So a worker keeps its API while the VIP is dark (a crashed VIP holder: until its election lease expires).
// A worker's agent here is given those upstreams itself (the lab cannot listen on 127.0.0.1:7445 for each machine)
// and moves on to the next one when a connection fails. Lab deviation: a control plane's kubelet uses its own API
// server.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values: args } = parseArgs({ options: { 'lab-dir': { type: 'string' } } })
if (args['lab-dir']) process.env.TALOS_LAB_DIR = args['lab-dir']

const { loadCluster, loadNodes, paths, isDown } = await import('./state.ts')
type LabNode = import('./state.ts').LabNode
const { startKubeletAgent } = await import('./kubelet-agent/index.ts')
const { controlPlaneStaticPods } = await import('./kubelet-agent/static-pods.ts')
const { readRenderedControlPlane } = await import('./control-plane.ts')
const { parseMachineConfig, nodeShape, readSysroot } = await import('./node-shape.ts')
const { ApiClient } = await import('./kubelet-agent/client.ts')
const { currentPair } = await import('./kubelet-agent/certificates.ts')
const { nodeClient, syncNode } = await import('./machine-api/node-apply.ts')
const { labHost } = await import('./containers.ts')

type Agent = Awaited<ReturnType<typeof startKubeletAgent>>
const log = (m: string) => console.log(`${new Date().toISOString()} kubelets ${m}`)

interface Running {
  boot: string
  agent?: Agent
  starting?: Promise<void>
  applied?: string
}
const running = new Map<string, Running>()

const runs = (n: LabNode) => n.stage === 'running' && !isDown(n) && !n.kubeletError && existsSync(paths.config(n.name))

/** The cluster CA kubelet trusts (cluster.ca in the machine config), as a file. */
function caFile(n: LabNode, cfg: Record<string, any>): string {
  const dir = join(paths.nodeDir(n.name), 'kubelet')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const f = join(dir, 'ca.crt')
  writeFileSync(f, Buffer.from(String(cfg.cluster.ca.crt), 'base64'), { mode: 0o600 })
  return f
}

/** The API servers a machine's kubelet and Talos client reach, in KubePrism's order (see above). */
function apiServersFor(n: LabNode, cfg: Record<string, any>): string[] {
  if (n.role === 'controlplane') return [`https://${n.address}:6443`]
  const endpoint: string = cfg.cluster?.controlPlane?.endpoint ?? loadCluster().endpoint
  if (cfg.machine?.features?.kubePrism?.enabled !== true) return [endpoint]
  const discovered =
    cfg.cluster?.discovery?.enabled === true
      ? loadNodes()
          .filter((x) => x.role === 'controlplane')
          .map((x) => `https://${x.address}:6443`)
      : []
  return [endpoint, ...discovered]
}

async function start(n: LabNode, r: Running): Promise<void> {
  const text = readFileSync(paths.config(n.name), 'utf8')
  const cfg = parseMachineConfig(text, paths.config(n.name))
  const controlPlane = n.role === 'controlplane'
  const kubeDir = join(paths.nodeDir(n.name), 'kube')
  if (controlPlane && !existsSync(join(kubeDir, 'kube-apiserver.json'))) return // its control plane is not rendered yet
  const servers = apiServersFor(n, cfg)
  r.agent = await startKubeletAgent({
    machine: n,
    config: text,
    sysroot: paths.root(n.name),
    host: labHost(n),
    servers,
    caFile: caFile(n, cfg),
    staticPods: controlPlane ? controlPlaneStaticPods(readRenderedControlPlane(kubeDir), cfg) : undefined,
    log,
  })
  log(`${n.name}: kubelet agent running (boot ${r.boot})`)
}

/** machined's NodeApplyController, again whenever the machine config changed. */
async function nodeApply(n: LabNode, r: Running): Promise<void> {
  if (!r.agent) return
  const text = readFileSync(paths.config(n.name), 'utf8')
  if (r.applied === text) return
  const cfg = parseMachineConfig(text, paths.config(n.name))
  const s = nodeShape(n, cfg, readSysroot(paths.root(n.name)))
  const kubeDir = join(paths.nodeDir(n.name), 'kube')
  const pair =
    n.role === 'controlplane'
      ? {
          certPem: readFileSync(join(kubeDir, 'admin.crt'), 'utf8'),
          keyPem: readFileSync(join(kubeDir, 'admin.key'), 'utf8'),
        }
      : currentPair(join(paths.root(n.name), 'var/lib/kubelet/pki'), 'kubelet-client')
  if (!pair) return
  const servers = apiServersFor(n, cfg).map((s) => new URL(s))
  const api = new ApiClient(servers, readFileSync(caFile(n, cfg), 'utf8'), {
    cert: pair.certPem,
    key: pair.keyPem,
  })
  try {
    await syncNode(nodeClient(api), s.name, {
      labels: s.configLabels,
      annotations: s.configAnnotations,
      taints: s.configTaints,
    })
    log(`${n.name}: Talos node labels, annotations and taints applied`)
  } catch (e) {
    log(`${n.name}: Talos node apply: ${(e as Error).message}`)
  } finally {
    // applied or refused: Talos retries on its next event; the lab tries again when the config changes
    r.applied = text
    api.close()
  }
}

async function tick(): Promise<void> {
  for (const n of loadNodes()) {
    const boot = n.bootedAt ?? ''
    const cur = running.get(n.name)
    if (cur && (!runs(n) || cur.boot !== boot)) {
      running.delete(n.name)
      void cur.starting?.then(() => cur.agent?.stop())
      void cur.agent?.stop()
      log(`${n.name}: kubelet gone (${runs(n) ? 'a new boot' : `stage ${n.stage}${isDown(n) ? ', down' : ''}`})`)
      continue
    }
    if (!runs(n)) continue
    if (!cur) {
      const r: Running = { boot }
      running.set(n.name, r)
      r.starting = start(n, r)
        .catch((e: Error) => log(`${n.name}: kubelet: ${e.message}`))
        .finally(() => {
          r.starting = undefined
          if (!r.agent && running.get(n.name) === r) running.delete(n.name) // try again next tick
        })
      continue
    }
    if (!cur.starting) await nodeApply(n, cur)
  }
}

let busy = false
setInterval(() => {
  if (busy) return
  busy = true
  void tick().finally(() => (busy = false))
}, 1000)
const stop = () =>
  void Promise.allSettled([...running.values()].map((r) => r.agent?.stop())).then(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
log('watching the lab machines')
