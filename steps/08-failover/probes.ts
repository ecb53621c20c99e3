// The failover drill's I/O: gathering the preflight facts, and the probes the poller runs (etcd and API probes are
// steps/live-probes.ts; this adds the workloads).
import type { Cluster } from '../../config/cluster.ts'
import type { KubeList, KubePod } from '../../lib/kube/kubectl.ts'
import { disruptedPods, type PodView } from './judge.ts'
import type { FailoverProbes } from './watch.ts'
import { etcdAndApiProbes, kubeAt, type CpNode } from '../live-probes.ts'

/** One line: a CommandError's message already names the cause (lib/host/exec.ts firstMeaningfulLine). */
const errText = (e: unknown): string => (e instanceof Error ? e.message.split('\n')[0]! : String(e))

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
