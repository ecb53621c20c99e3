// talosctl health (server-side, the default): the pkg/cluster/check default conditions, in order, against the
// lab state, the real etcd members and the lab Kubernetes API (admin kubeconfig credentials over HTTPS).
import { request } from 'node:https'
import { existsSync, readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import type { RunContext } from './context.ts'
import { RpcFailure, dial, perNode, rpcError, stripPort, withClient } from './common.ts'
import { EtcdClient } from '../etcd-client.ts'
import { etcdClientUrl, etcdHealthy } from '../node-services.ts'
import { parseMachineConfig } from '../machine-config.ts'
import { buildAdminKubeconfig } from '../kube-api/kubeconfig.ts'
import { findNodeByAddress, loadNodes, paths, type LabNode } from '../state.ts'
import { nodeServices } from './service.ts'
import * as io from './io.ts'

const SKIP = Symbol('skip')
type Check = { name: string; run: () => Promise<void | typeof SKIP> }

interface K8sCreds {
  ca: string
  cert: string
  key: string
  endpoints: string[]
}

function k8sGet(c: K8sCreds, path: string): Promise<any> {
  const tryOne = (ep: string) =>
    new Promise<any>((resolve, reject) => {
      const u = new URL(path, ep)
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname + u.search,
          ca: c.ca,
          cert: c.cert,
          key: c.key,
          method: 'GET',
          timeout: 3000,
          servername: undefined,
        },
        (res) => {
          let body = ''
          res.on('data', (d) => (body += d))
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(JSON.parse(body))
              : reject(new Error(`${u.href}: ${res.statusCode} ${body.slice(0, 200)}`)),
          )
        },
      )
      req.on('timeout', () => req.destroy(new Error(`Get "${u.href}": context deadline exceeded`)))
      req.on('error', (e) => reject(new Error(`Get "${u.href}": ${e.message}`)))
      req.end()
    })
  return c.endpoints.reduce<Promise<any>>(
    (p, ep) => p.catch(() => tryOne(ep)),
    Promise.reject(new Error('no Kubernetes endpoint')),
  )
}

/**
 * A list the lab API may not serve at all: it has no apps/v1 group, so no kube-proxy DaemonSet or CoreDNS Deployment
 * exists there. pkg/cluster/check (default.go: DaemonSetPresent / DeploymentPresent) turns "none present" into SKIP.
 */
async function k8sListOrNone(c: K8sCreds, path: string): Promise<any[]> {
  try {
    return (await k8sGet(c, path)).items as any[]
  } catch (e) {
    if (/: 404 /.test((e as Error).message)) return []
    throw e
  }
}

const quote = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`

export async function health(ctx: RunContext): Promise<void> {
  let s
  try {
    s = await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(e.message)
    throw e
  }
  if (s.nodes.length > 1) throw new Error('command "health" is not supported with multiple nodes')
  const runner = await dial(stripPort(s.nodes[0]), { insecure: false, caPem: s.caPem }).catch((e) => {
    throw new Error(`${s.nodes[0]}: ${(e as Error).message}`)
  })
  const cfg = parseMachineConfig(readFileSync(paths.config(runner.name), 'utf8'))
  const cpFlag = ctx.flags['control-plane-nodes'] as string[]
  const wFlag = ctx.flags['worker-nodes'] as string[]
  if (ctx.flags['init-node']) cpFlag.push(ctx.flags['init-node'])
  let cps: string[]
  let workers: string[]
  if (cpFlag.length || wFlag.length) {
    cps = cpFlag
    workers = wFlag
  } else {
    const members = loadNodes().filter(
      (n) => existsSync(paths.config(n.name)) && !['off', 'maintenance'].includes(n.stage),
    )
    cps = members.filter((n) => n.role === 'controlplane').map((n) => n.address)
    workers = members.filter((n) => n.role === 'worker').map((n) => n.address)
  }
  const all = [...cps, ...workers]
  io.err(`discovered nodes: ${quote(all)}\n`)
  const node = (a: string): LabNode => {
    const n = findNodeByAddress(a)
    if (!n)
      throw new Error(
        `${a}: ${rpcError('Unavailable', `connection error: desc = "transport: Error while dialing: dial tcp ${a}:50000: connect: no route to host"`)}`,
      )
    return n
  }
  const reach = async (addrs: string[]) => {
    const res = await perNode({ ...s, nodes: addrs }, async (n) => n)
    const errs = res.filter((r) => r.error).map((r) => `${r.addr}: ${r.error}`)
    if (errs.length) throw new Error(errs.join(', '))
    return res.map((r) => r.value!)
  }
  const pem = (b: string) => Buffer.from(b, 'base64').toString('utf8')
  let creds: K8sCreds | undefined
  const k8s = (): K8sCreds => {
    if (creds) return creds
    const kc = parseYaml(
      buildAdminKubeconfig({
        clusterName: cfg.clusterName,
        endpoint: cfg.controlPlaneEndpoint,
        caCrtPem: pem(cfg.k8sCaCrt),
        caKeyPem: pem(cfg.k8sCaKey),
      }),
    )
    const ep = (ctx.flags['k8s-endpoint'] as string) || cfg.controlPlaneEndpoint
    creds = {
      ca: pem(cfg.k8sCaCrt),
      cert: pem(kc.users[0].user['client-certificate-data']),
      key: pem(kc.users[0].user['client-key-data']),
      endpoints: [ep.startsWith('https://') ? ep : `https://${ep}:6443`, ...cps.map((a) => `https://${a}:6443`)],
    }
    return creds
  }
  const serviceHealthy = async (id: string) => {
    const errs: string[] = []
    for (const n of await reach(cps)) {
      const svc = (await nodeServices(n)).find((x) => x.id === id)
      if (!svc || svc.state !== 'Running' || svc.health !== 'OK')
        errs.push(
          `${n.address}: service "${id}" not in expected state "Running": current state [${svc?.state ?? 'Unknown'}]`,
        )
    }
    if (errs.length) throw new Error(errs.join('\n'))
  }
  const k8sNodes = async () => (await k8sGet(k8s(), '/api/v1/nodes')).items as any[]
  const nodeNames = () => all.map((a) => node(a).name)
  const checks: Check[] = [
    { name: 'etcd to be healthy', run: () => serviceHealthy('etcd') },
    {
      name: 'etcd members to be consistent across nodes',
      run: async () => {
        const lists = await Promise.all(
          (await reach(cps)).map(async (n) =>
            (await new EtcdClient(etcdClientUrl(n)).members())
              .map((m) => m.name)
              .sort()
              .join(','),
          ),
        )
        if (new Set(lists).size > 1)
          throw new Error(`etcd members are not consistent across nodes: ${lists.join(' vs ')}`)
      },
    },
    {
      name: 'etcd members to be control plane nodes',
      run: async () => {
        const [first] = await reach(cps.slice(0, 1))
        const names = (await new EtcdClient(etcdClientUrl(first)).members()).map((m) => m.name).sort()
        const want = cps.map((a) => node(a).name).sort()
        if (names.join(',') !== want.join(','))
          throw new Error(`etcd member ips ${quote(names)} are not equal to control plane node ips ${quote(want)}`)
      },
    },
    { name: 'apid to be ready', run: async () => void (await reach(all)) },
    {
      name: 'all nodes memory sizes',
      run: async () => {
        for (const n of await reach(all))
          if (!n.hardware.numaMemoryMiB.some((m) => m > 0)) throw new Error(`${n.address}: no memory reported`)
      },
    },
    {
      name: 'all nodes disk sizes',
      run: async () => {
        for (const n of await reach(all))
          if (!n.hardware.disks.length) throw new Error(`${n.address}: no disks reported`)
      },
    },
    { name: 'no diagnostics', run: async () => {} },
    { name: 'kubelet to be healthy', run: () => serviceHealthy('kubelet') },
    {
      name: 'all nodes to finish boot sequence',
      run: async () => {
        for (const n of await reach(all))
          if (n.stage !== 'running') throw new Error(`${n.address}: stage is ${n.stage}`)
      },
    },
    {
      name: 'all k8s nodes to report',
      run: async () => {
        const have = new Set((await k8sNodes()).map((x) => x.metadata.name))
        const missing = nodeNames().filter((x) => !have.has(x))
        if (missing.length) throw new Error(`expected number of nodes to be ${all.length}, got ${have.size}`)
      },
    },
    {
      name: 'all control plane static pods to be running',
      run: async () => {
        const pods = (await k8sGet(k8s(), '/api/v1/namespaces/kube-system/pods')).items as any[]
        for (const a of cps)
          for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
            const p = pods.find((x) => x.metadata.name === `${c}-${node(a).name}`)
            if (!p || p.status?.phase !== 'Running')
              throw new Error(`static pod "kube-system/${c}-${node(a).name}" not running`)
          }
      },
    },
    {
      name: 'all control plane components to be ready',
      run: async () => {
        const pods = (await k8sGet(k8s(), '/api/v1/namespaces/kube-system/pods')).items as any[]
        const notReady = pods.filter(
          (p) =>
            /^kube-(apiserver|controller-manager|scheduler)-/.test(p.metadata.name) &&
            !(p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
        )
        if (notReady.length) throw new Error(`pods not ready: ${notReady.map((p) => p.metadata.name).join(', ')}`)
      },
    },
    {
      name: 'all k8s nodes to report ready',
      run: async () => {
        const bad = (await k8sNodes())
          .filter((x) => !(x.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'))
          .map((x) => x.metadata.name)
        if (bad.length) throw new Error(`some nodes are not ready: ${quote(bad)}`)
      },
    },
    {
      name: 'kube-proxy to report ready',
      run: async () => {
        const ds = await k8sListOrNone(
          k8s(),
          '/apis/apps/v1/namespaces/kube-system/daemonsets?labelSelector=k8s-app%3Dkube-proxy',
        )
        if (!ds.length) return SKIP
        if (ds.some((d) => (d.status?.numberReady ?? 0) < (d.status?.desiredNumberScheduled ?? 0)))
          throw new Error('kube-proxy pods are not ready')
      },
    },
    {
      name: 'coredns to report ready',
      run: async () => {
        const dep = await k8sListOrNone(
          k8s(),
          '/apis/apps/v1/namespaces/kube-system/deployments?labelSelector=k8s-app%3Dkube-dns',
        )
        if (!dep.length) return SKIP
        if (dep.some((d) => (d.status?.readyReplicas ?? 0) < (d.spec?.replicas ?? 1)))
          throw new Error('coredns pods are not ready')
      },
    },
    {
      name: 'all k8s nodes to report schedulable',
      run: async () => {
        const bad = (await k8sNodes()).filter((x) => x.spec?.unschedulable).map((x) => x.metadata.name)
        if (bad.length) throw new Error(`some nodes are not schedulable: ${quote(bad)}`)
      },
    },
  ]
  const deadline = Date.now() + (ctx.flags['wait-timeout'] as number)
  const interval = Number(io.env('LAB_HEALTH_INTERVAL_MS') ?? 1000)
  for (const c of checks) {
    let last = ''
    const say = (line: string) => {
      if (line !== last) io.err(line + '\n')
      last = line
    }
    say(`waiting for ${c.name}: ...`)
    for (;;) {
      try {
        const r = await c.run()
        say(`waiting for ${c.name}: ${r === SKIP ? 'SKIP' : 'OK'}`)
        break
      } catch (e) {
        const msg = (e as Error).message
        say(`waiting for ${c.name}: ${msg}`)
        if (Date.now() + interval > deadline) throw new Error(rpcError('DeadlineExceeded', `${c.name}: ${msg}`))
      }
      await new Promise((r) => setTimeout(r, interval))
    }
  }
  void etcdHealthy
}
