// The failover drill's I/O: gathering the preflight facts, and the probes the poller runs (etcd and API probes are
// steps/live-probes.ts; this adds the workloads).
import type { Talosctl } from '../../lib/talos/talosctl.ts'
import type { Cluster } from '../../config/cluster.ts'
import { controlPlanes } from '../../config/cluster.ts'
import type { KubeList, KubePod } from '../../lib/kube/kubectl.ts'
import { findKubeNode, isReady } from '../../lib/kube/kubectl.ts'
import { disruptedPods, hasLeader, type EtcdMemberStatus, type PodView, type PreflightInput } from './judge.ts'
import type { FailoverProbes } from './watch.ts'
import { etcdAndApiProbes, etcdStatusRow, kubeAt, nodeTalosctl, type CpNode } from '../live-probes.ts'

/** One line: a CommandError's message already names the cause (lib/host/exec.ts firstMeaningfulLine). */
const errText = (e: unknown): string => (e instanceof Error ? e.message.split('\n')[0]! : String(e))

async function etcdStatusOf(t: Talosctl, node: CpNode): Promise<EtcdMemberStatus> {
  const r = await etcdStatusRow(t, node)
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

/** host:port of the cluster VIP when the inventory has one (the endpoint then names it), else undefined. */
export function vipEndpoint(c: Cluster): string | undefined {
  const vip = c.inv.cluster.vip
  if (!vip) return undefined
  const url = new URL(c.inv.cluster.endpoint)
  return `${vip.includes(':') ? `[${vip}]` : vip}:${url.port || '443'}`
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

/** The etcd and API probes of steps/live-probes.ts, plus which baseline pods are disrupted now. */
export function liveProbes(
  c: Cluster,
  o: { baseline: Map<string, string | undefined>; endpoints: string[]; cps: CpNode[]; probeTimeoutMs: number },
): FailoverProbes {
  return {
    ...etcdAndApiProbes(c, o.cps, o.probeTimeoutMs),
    async workloads() {
      // apiEndpoints() puts the VIP last: it may still point at the dead node for a while
      return disruptedPods(o.baseline, await listPods(c, o.endpoints, o.probeTimeoutMs))
    },
  }
}
