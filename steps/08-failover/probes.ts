// The failover drill's I/O: gathering the preflight facts, and the probes the poller runs. Each etcd probe talks to
// ONE node with that node as its only talosctl endpoint: with every control plane as endpoints, talosctl may route
// through the dead node and report a healthy member as failing. API probes go to one endpoint each (`--server`),
// with a short request timeout, asking /readyz (which includes the apiserver's etcd check).
import { Talosctl } from '../../lib/talos/talosctl.ts'
import { firstMeaningfulLine } from '../../lib/host/exec.ts'
import type { Cluster } from '../../config/cluster.ts'
import { controlPlanes } from '../../config/cluster.ts'
import type { KubeList, KubePod } from '../../lib/kube/kubectl.ts'
import { isReady } from '../../lib/kube/kubectl.ts'
import { findKubeNode } from '../07-smoke-pod/smoke-pod.ts'
import {
  disruptedPods,
  hasLeader,
  type CpNode,
  type EtcdMemberStatus,
  type PodView,
  type PreflightInput,
} from './judge.ts'
import type { EtcdProbeResult, FailoverProbes } from './watch.ts'

/** One line: a CommandError's message already names the cause (lib/host/exec.ts firstMeaningfulLine). */
const errText = (e: unknown): string => (e instanceof Error ? e.message.split('\n')[0]! : String(e))

/** A talosctl bound to one node (endpoint = node), quiet: the poller runs hundreds of these. */
export function nodeTalosctl(c: Cluster, node: CpNode, timeoutMs: number): Talosctl {
  return new Talosctl({
    bin: c.talosctlBin,
    talosconfig: c.paths.talosconfig,
    endpoints: [node.address],
    timeoutMs,
    quiet: true,
    nodeNames: { [node.address]: node.name },
  })
}

export async function etcdStatusOf(t: Talosctl, node: CpNode): Promise<EtcdMemberStatus> {
  const rows = await t.etcdStatus([node.address])
  const r = rows[0]
  if (!r) throw new Error(`etcd status on ${node.name} (${node.address}) returned no row`)
  return {
    node: node.name,
    memberId: r.memberId,
    leader: r.leader,
    term: r.raftTerm,
    learner: r.learner,
    errors: r.errors,
  }
}

/** Every fact evaluatePreflight judges, each failure recorded rather than thrown. */
export async function gatherPreflight(c: Cluster, opts: { timeoutMs?: number } = {}): Promise<PreflightInput> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const cps: CpNode[] = controlPlanes(c.inv).map((n) => ({ name: n.name, address: n.address }))
  const etcd: EtcdMemberStatus[] = []
  const etcdErrors: Record<string, string> = {}
  await Promise.all(
    cps.map(async (n) => {
      try {
        etcd.push(await etcdStatusOf(nodeTalosctl(c, n, timeoutMs), n))
      } catch (e) {
        etcdErrors[n.name] = errText(e)
      }
    }),
  )
  etcd.sort((a, b) => a.node.localeCompare(b.node))
  const healthy = cps.find((n) => etcd.some((r) => r.node === n.name && hasLeader(r.leader)))
  let members: PreflightInput['members']
  let alarms: PreflightInput['alarms'] = []
  if (healthy) {
    const t = nodeTalosctl(c, healthy, timeoutMs)
    try {
      members = (await t.etcdMembers(healthy.address)).map((m) => ({
        id: m.id,
        hostname: m.hostname,
        learner: m.learner,
      }))
    } catch (e) {
      etcdErrors[healthy.name] ??= `etcd members: ${errText(e)}`
    }
    try {
      alarms = (await t.etcdAlarms([healthy.address])).map((a) => ({ memberId: a.memberId, alarm: a.alarm }))
    } catch (e) {
      alarms = [{ memberId: '?', alarm: `unknown (etcd alarm list failed: ${errText(e)})` }]
    }
  }
  let api: PreflightInput['api']
  try {
    const nodes = await c.kube.nodes()
    api = {
      ok: true,
      nodes: c.inv.nodes.flatMap((n) => {
        const k = findKubeNode(nodes, n)
        if (!k) return []
        const ready = k.status?.conditions?.find((x) => x.type === 'Ready')
        return [{ name: n.name, ready: isReady(k), reason: ready?.reason ?? ready?.message }]
      }),
    }
  } catch (e) {
    api = { ok: false, error: errText(e) }
  }
  return {
    controlPlanes: cps,
    etcd,
    etcdErrors,
    members,
    alarms,
    api,
    inventoryNodes: c.inv.nodes.map((n) => ({ name: n.name, address: n.address })),
  }
}

/** host:port of the Kubernetes API on each surviving control plane, then the cluster endpoint (the VIP). */
export function apiEndpoints(c: Cluster, survivors: CpNode[]): string[] {
  const url = new URL(c.inv.cluster.endpoint)
  const port = url.port || '443'
  const eps = survivors.map((n) => `${n.address.includes(':') ? `[${n.address}]` : n.address}:${port}`)
  const vip = `${url.hostname}:${port}`
  return eps.includes(vip) ? eps : [...eps, vip]
}

/** host:port of the cluster VIP when the inventory has one (the endpoint then names it), else undefined. */
export function vipEndpoint(c: Cluster): string | undefined {
  const vip = c.inv.cluster.vip
  if (!vip) return undefined
  const url = new URL(c.inv.cluster.endpoint)
  return `${vip.includes(':') ? `[${vip}]` : vip}:${url.port || '443'}`
}

export async function kubeAt(c: Cluster, endpoint: string, args: string[], timeoutMs: number): Promise<string> {
  const seconds = Math.max(1, Math.floor(timeoutMs / 1000) - 1)
  const r = await c.kube.run(['--server', `https://${endpoint}`, ...args, `--request-timeout=${seconds}s`], {
    nothrow: true,
    quiet: true,
    timeoutMs,
  })
  if (r.exitCode !== 0 || r.timedOut)
    throw new Error(
      r.timedOut ? `no answer within ${timeoutMs} ms` : firstMeaningfulLine(r.stderr) || `exit ${r.exitCode}`,
    )
  return r.stdout
}

export async function listPods(c: Cluster, endpoints: string[], timeoutMs: number): Promise<PodView[]> {
  let last: unknown
  for (const ep of endpoints) {
    try {
      return (JSON.parse(await kubeAt(c, ep, ['get', 'pods', '-A', '-o', 'json'], timeoutMs)) as KubeList<KubePod>)
        .items as PodView[]
    } catch (e) {
      last = e
    }
  }
  throw new Error(`no API endpoint answered (${endpoints.join(', ')}): ${errText(last)}`)
}

/**
 * Each etcd probe is `talosctl etcd status` against one node, as on a real cluster, where etcd serves only mTLS on
 * 2379 and talosctl (through apid) is how an operator reaches it.
 */
export function liveProbes(
  c: Cluster,
  o: { baseline: Map<string, string | undefined>; endpoints: string[]; cps: CpNode[]; probeTimeoutMs: number },
): FailoverProbes {
  const talos = new Map(o.cps.map((n) => [n.name, nodeTalosctl(c, n, o.probeTimeoutMs)]))
  return {
    async etcd(node): Promise<EtcdProbeResult> {
      const s = await etcdStatusOf(talos.get(node.name) ?? nodeTalosctl(c, node, o.probeTimeoutMs), node)
      return { memberId: s.memberId, leader: s.leader, term: s.term }
    },
    async api(endpoint) {
      await kubeAt(c, endpoint, ['get', '--raw', '/readyz'], o.probeTimeoutMs)
    },
    async workloads() {
      // apiEndpoints() puts the VIP last: it may still point at the dead node for a while
      return disruptedPods(o.baseline, await listPods(c, o.endpoints, o.probeTimeoutMs))
    },
  }
}
