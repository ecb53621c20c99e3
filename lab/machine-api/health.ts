// The cluster health checks a lab machine answers itself for machined's HealthCheck (lab/talos-api/health.go runs the
// loop, Talos's conditions and the checks that go through the Talos API). Each answer is the assertion of
// pkg/cluster/check (v1.10.3) with its error text: nodes.go (memory, disk sizes), diagnostics.go, events.go (boot
// sequence), kubernetes.go (the Kubernetes checks, through the cluster's API with the admin credentials this machine's
// config holds, as machined's KubernetesClient uses them).
import { request } from 'node:https'
import { existsSync, readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { parseMachineConfig } from '../machine-config.ts'
import { buildAdminKubeconfig } from '../kubeconfig.ts'
import { findNodeByAddress, isDown, loadNodes, paths, type LabNode } from '../state.ts'
import { ModelError } from './errors.ts'

const MiB = 2 ** 20
const GiB = 2 ** 30

interface HealthRequest {
  check?: string
  controlPlaneNodes?: string[]
  workerNodes?: string[]
  forceEndpoint?: string
}

/** A failed assertion: its message is what the condition reports. */
const fail = (msg: string) => new ModelError('Unknown', msg)

/**
 * The cluster members discovery knows: every configured machine, up or not (a machine that died stays a member
 * until its discovery entry expires), with its address and type.
 */
export function HealthMembers(): unknown {
  return loadNodes()
    .filter((n) => existsSync(paths.config(n.name)) && n.stage !== 'maintenance')
    .map((n) => ({ id: n.name, addresses: [n.address], machineType: n.role }))
}

/** What a Talos client call to these nodes fails with when some do not answer (apid's one-to-many errors). */
function unreachable(addrs: string[]): string | undefined {
  const down = addrs.filter((a) => {
    const n = findNodeByAddress(a)
    return !n || isDown(n) || ['off', 'rebooting', 'shutting down'].includes(n.stage)
  })
  if (!down.length) return undefined
  const lines = down.map(
    (a) =>
      `\t* ${a}: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp ${a}:50000: connect: connection refused"`,
  )
  return `${down.length} error${down.length > 1 ? 's' : ''} occurred:\n${lines.join('\n')}\n\n`
}

function reachable(addrs: string[], what: string): LabNode[] {
  const err = unreachable(addrs)
  if (err) throw fail(`${what}: ${err}`)
  return addrs.map((a) => findNodeByAddress(a)!)
}

/** AllNodesMemorySizes: minimal.Memory, control planes 1848 MiB − 150 MiB, workers 1 GiB − 150 MiB (pkg/minimal). */
function memorySizes(cps: string[], workers: string[]): void {
  const errs: string[] = []
  for (const [addrs, min] of [
    [cps, 1848 * MiB - 150 * MiB],
    [workers, GiB - 150 * MiB],
  ] as const)
    for (const n of reachable(addrs, 'error getting version')) {
      const total = n.hardware.numaMemoryMiB.reduce((a, b) => a + b, 0) * MiB
      if (total < min)
        errs.push(
          `node "${n.address}" does not meet memory requirements: expected at least ${min / MiB} MiB, actual ${total / MiB} MiB`,
        )
    }
  if (errs.length) throw fail(multi(errs))
}

/** AllNodesDiskSizes: the EPHEMERAL partition plus 1400 MiB of system partitions must reach minimal.DiskSize(), 6 GiB. */
function diskSizes(all: string[]): void {
  const errs: string[] = []
  for (const n of reachable(all, 'error getting version')) {
    const disk = n.hardware.disks.find((d) => d.dev === n.installDisk) ?? n.hardware.disks[0]
    if (!disk) {
      errs.push(`no ephemeral partition found for node '${n.address}'`)
      continue
    }
    // humanize.IBytes: one decimal below 10 units
    const ibytes = (b: number) => `${(b / GiB).toFixed(b < 10 * GiB ? 1 : 0)} GiB`
    const actual = disk.sizeBytes + 1400 * MiB
    if (actual < 6 * GiB)
      errs.push(
        `ephemeral partition "${disk.dev}" for node "${n.address}" is too small, expected at least 6.0 GiB, actual ${ibytes(actual)}`,
      )
  }
  if (errs.length) throw fail(multi(errs))
}

/** AllNodesBootedAssertion: every machine's MachineStatus stage is running. */
function bootSequence(all: string[]): void {
  const byStage = new Map<string, string[]>()
  for (const n of reachable(all, 'error watching machine status')) {
    if (n.stage === 'running') continue
    byStage.set(n.stage, [...(byStage.get(n.stage) ?? []), n.address].sort())
  }
  if (byStage.size)
    throw fail(
      `nodes are not running: ${[...byStage.keys()]
        .sort()
        .map((s) => `${s}: [${byStage.get(s)!.join(' ')}]`)
        .join(', ')}`,
    )
}

/** hashicorp/go-multierror's text, as the checks return several errors. */
function multi(errs: string[]): string {
  if (errs.length === 1) return `1 error occurred:\n\t* ${errs[0]}\n\n`
  return `${errs.length} errors occurred:\n${errs.map((e) => `\t* ${e}`).join('\n')}\n\n`
}

// ------------------------------------------------------------------------------------------- Kubernetes

interface K8sCreds {
  ca: string
  cert: string
  key: string
  endpoint: string
}

/** The admin credentials machined builds from this machine's config; the endpoint as KubernetesClient sets it. */
function k8sCreds(n: LabNode, forceEndpoint: string): K8sCreds {
  const cfg = parseMachineConfig(readFileSync(paths.config(n.name), 'utf8'), paths.config(n.name))
  const pem = (b: string) => Buffer.from(b, 'base64').toString('utf8')
  const kc = parseYaml(
    buildAdminKubeconfig({
      clusterName: cfg.clusterName,
      endpoint: cfg.controlPlaneEndpoint,
      caCrtPem: pem(cfg.k8sCaCrt),
      caKeyPem: pem(cfg.k8sCaKey),
    }),
  )
  let endpoint = cfg.controlPlaneEndpoint
  if (forceEndpoint) {
    // pkg/cluster/kubernetes.go K8sRestConfig: the forced host, port 6443 unless it names one
    const hostPort = forceEndpoint.replace(/^https:\/\//, '')
    endpoint = `https://${/:\d+$/.test(hostPort) ? hostPort : `${hostPort}:6443`}`
  }
  return {
    ca: pem(cfg.k8sCaCrt),
    cert: pem(kc.users[0].user['client-certificate-data']),
    key: pem(kc.users[0].user['client-key-data']),
    endpoint,
  }
}

/** A GET on the Kubernetes API; a 404 is `undefined` (a resource the lab's API does not serve has no objects). */
function k8sGet(c: K8sCreds, path: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, c.endpoint)
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        ca: c.ca,
        cert: c.cert,
        key: c.key,
        timeout: 4000,
      },
      (res) => {
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => {
          if (res.statusCode === 200) resolve(JSON.parse(body))
          else if (res.statusCode === 404) resolve(undefined)
          else reject(fail(`the server responded with the status code ${res.statusCode}: ${body.slice(0, 200)}`))
        })
      },
    )
    req.on('timeout', () => req.destroy(fail(`Get "${u.href}": context deadline exceeded`)))
    req.on('error', (e) => reject(e instanceof ModelError ? e : fail(`Get "${u.href}": ${e.message}`)))
    req.end()
  })
}

const items = async (c: K8sCreds, path: string): Promise<any[]> => ((await k8sGet(c, path)) ?? { items: [] }).items
const isReady = (obj: any, type: string) =>
  (obj.status?.conditions ?? []).some((x: any) => x.type === type && x.status === 'True')
const internalIP = (node: any): string | undefined =>
  (node.status?.addresses ?? []).find((a: any) => a.type === 'InternalIP')?.address
const goList = (xs: string[]) => `[${xs.join(' ')}]`
const quoted = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`

/** cluster.NodesMatch: every expected address among the Kubernetes nodes, and no other node. */
function nodesMatch(expected: string[], actual: string[]): void {
  const left = new Set(actual)
  for (const ip of expected) {
    if (!left.delete(ip)) throw fail(`can't find expected node with IPs ${quoted([ip])}`)
  }
  if (left.size) throw fail(`unexpected nodes with IPs ${quoted([...left].sort())}`)
}

/** K8sPodReadyAssertion for the pods of a DaemonSet or Deployment; none of them at all is SKIP. */
async function appReady(c: K8sCreds, kind: 'daemonsets' | 'deployments', app: string): Promise<'skip' | void> {
  const owners = await items(c, `/apis/apps/v1/namespaces/kube-system/${kind}?labelSelector=k8s-app%3D${app}`)
  if (!owners.length) return 'skip'
  const want = kind === 'daemonsets' ? (owners[0].status?.desiredNumberScheduled ?? 0) : (owners[0].spec?.replicas ?? 0)
  const pods = (await items(c, `/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3D${app}`)).filter(
    (p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Failed',
  )
  if (!pods.length) throw fail(`no pods found for namespace "kube-system" and label selector "k8s-app=${app}"`)
  const notReady = pods.filter((p) => !isReady(p, 'Ready')).map((p) => p.metadata.name)
  const ready = pods.length - notReady.length
  if (!ready) throw fail(`no ready pods found for namespace "kube-system" and label selector "k8s-app=${app}"`)
  if (notReady.length) throw fail(`some pods are not ready: ${goList(notReady)}`)
  if (ready !== want) throw fail(`expected ${want} ready pods, got ${ready}`)
}

async function k8sCheck(name: string, c: K8sCreds, cps: string[], all: string[]): Promise<'skip' | void> {
  const nodes = () => items(c, '/api/v1/nodes')
  switch (name) {
    case 'all k8s nodes to report':
      return nodesMatch(
        all,
        (await nodes()).map(internalIP).filter((x): x is string => !!x),
      )
    case 'all control plane static pods to be running': {
      const pods = await items(c, '/api/v1/namespaces/kube-system/pods')
      for (const a of cps) {
        const host = findNodeByAddress(a)?.name
        const missing = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']
          .filter((comp) => !pods.some((p) => p.metadata.name === `${comp}-${host}` && p.status?.phase === 'Running'))
          .map((comp) => `kube-system/${comp}`)
        if (missing.length) throw fail(`missing static pods on node ${a}: ${goList(missing)}`)
      }
      return
    }
    case 'all control plane components to be ready': {
      const cpNodes = (await nodes()).filter(
        (x) => 'node-role.kubernetes.io/control-plane' in (x.metadata.labels ?? {}),
      )
      nodesMatch(
        cps,
        cpNodes.map(internalIP).filter((x): x is string => !!x),
      )
      for (const app of ['kube-apiserver', 'kube-scheduler', 'kube-controller-manager']) {
        const pods = await items(c, `/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3D${app}`)
        if (pods.length !== cpNodes.length)
          throw fail(`expected number of pods for ${app} to be ${cpNodes.length}, got ${pods.length}`)
        const notReady = pods.filter((p) => !isReady(p, 'Ready')).map((p) => p.metadata.name)
        if (notReady.length) throw fail(`some pods are not ready for ${app}: ${goList(notReady)}`)
      }
      return
    }
    case 'all k8s nodes to report ready': {
      const bad = (await nodes()).filter((x) => !isReady(x, 'Ready')).map((x) => x.metadata.name)
      if (bad.length) throw fail(`some nodes are not ready: ${goList(bad)}`)
      return
    }
    case 'kube-proxy to report ready':
      return appReady(c, 'daemonsets', 'kube-proxy')
    case 'coredns to report ready':
      return appReady(c, 'deployments', 'kube-dns')
    case 'all k8s nodes to report schedulable': {
      // kubernetes.go K8sAllNodesSchedulableAssertion stops at the first cordoned node
      const bad = (await nodes()).filter((x) => x.spec?.unschedulable).map((x) => x.metadata.name)
      if (bad.length) throw fail(`some nodes are not schedulable: ${goList(bad.slice(0, 1))}`)
      return
    }
  }
  throw new ModelError('Unimplemented', `the lab does not answer the health check "${name}"`)
}

/** HealthAssert: one condition of the health check; {skip} when it does not apply, a refusal with its error otherwise. */
export async function HealthAssert(n: LabNode, req: HealthRequest): Promise<unknown> {
  const cps = req.controlPlaneNodes ?? []
  const workers = req.workerNodes ?? []
  const all = [...cps, ...workers]
  switch (req.check) {
    case 'all nodes memory sizes':
      memorySizes(cps, workers)
      return {}
    case 'all nodes disk sizes':
      diskSizes(all)
      return {}
    case 'no diagnostics':
      // the lab's machines raise no runtime.Diagnostic (network or kubelet misconfiguration warnings)
      return {}
    case 'all nodes to finish boot sequence':
      bootSequence(all)
      return {}
  }
  const skip = await k8sCheck(req.check ?? '', k8sCreds(n, req.forceEndpoint ?? ''), cps, all)
  return skip === 'skip' ? { skip: true } : {}
}
