// Probes polled every ~100 ms while a node is taken away (08-failover's watch, 09-upgrade's rollout timeline): each
// etcd probe talks to ONE node with that node as its only talosctl endpoint (with every control plane as endpoints,
// talosctl may route through the dead node and report a healthy member as failing); each API probe goes to one
// endpoint (`--server`) with a short request timeout, asking /readyz (which includes the apiserver's etcd check).
import { readFileSync } from 'node:fs'
import { Talosctl } from '../lib/talos/talosctl.ts'
import type { EtcdStatusRow } from '../lib/talos/parse.ts'
import { firstMeaningfulLine } from '../lib/host/exec.ts'
import { controlPlanes, type Cluster } from '../config/cluster.ts'
import { findKubeNode, isReady } from '../lib/kube/kubectl.ts'
import { credentialsFromKubeconfig, readyz, type ApiCredentials } from '../lib/kube/readyz.ts'
import { hasLeader, type CpNode, type EtcdMemberStatus, type PreflightInput } from './cluster-health.ts'

export type { CpNode }

/** A talosctl bound to one node (endpoint = node), quiet: the poller runs hundreds of these. */
export function nodeTalosctl(c: Cluster, node: CpNode, timeoutMs: number): Talosctl {
  return new Talosctl({
    bin: c.talosctlBin,
    talosconfig: c.paths.talosconfig,
    endpoints: [node.address],
    timeoutMs,
    quiet: true,
    shell: c.shell,
    nodeNames: { [node.address]: node.name },
  })
}

/**
 * A quiet talosctl through the talosconfig's endpoints, as the checks reach the nodes: a node back from a reboot
 * answers there only once the other apids have redialled it (apid backs off up to 15 s, backend/apid.go).
 */
function endpointsTalosctl(c: Cluster, timeoutMs: number): Talosctl {
  const nodeNames = Object.fromEntries(c.inv.nodes.map((n) => [n.address, n.name]))
  return new Talosctl({
    bin: c.talosctlBin,
    talosconfig: c.paths.talosconfig,
    timeoutMs,
    quiet: true,
    shell: c.shell,
    nodeNames,
  })
}

/** `talosctl etcd status` of one node, through that node only; throws when it returns no row. */
export async function etcdStatusRow(t: Talosctl, node: CpNode): Promise<EtcdStatusRow> {
  const [r] = await t.etcdStatus([node.address])
  if (!r) throw new Error(`etcd status on ${node.name} (${node.address}) returned no row`)
  return r
}

/** host:port of the Kubernetes API on each surviving control plane, then the cluster endpoint (the VIP). */
export function apiEndpoints(c: Cluster, survivors: CpNode[]): string[] {
  const url = new URL(c.inv.cluster.endpoint)
  const port = url.port || '443'
  const eps = survivors.map((n) => `${n.address.includes(':') ? `[${n.address}]` : n.address}:${port}`)
  const vip = `${url.hostname}:${port}`
  return eps.includes(vip) ? eps : [...eps, vip]
}

/** kubectl against one API endpoint; throws the first meaningful stderr line, or that it did not answer in time. */
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

interface EtcdProbeResult {
  memberId: string
  leader: string
  term: number
}

export interface EtcdAndApiProbes {
  /** Throws when the member does not answer. */
  etcd(node: CpNode): Promise<EtcdProbeResult>
  /** Throws when the API at `endpoint` does not answer (readyz, which includes etcd). */
  api(endpoint: string): Promise<void>
}

/** The kubeconfig's credentials for in-process probes, or undefined when it has none usable (an exec plugin, say). */
function apiCredentials(c: Cluster): ApiCredentials | undefined {
  try {
    return credentialsFromKubeconfig(readFileSync(c.paths.kubeconfig, 'utf8'), c.paths.kubeconfig)
  } catch {
    return undefined
  }
}

/**
 * Each etcd probe is `talosctl etcd status` against one node, as on a real cluster, where etcd serves only mTLS on
 * 2379 and talosctl (through apid) is how an operator reaches it. Each API probe is GET /readyz in-process with the
 * kubeconfig's credentials (a TLS handshake, not a kubectl process, so the VIP can be probed every few tens of ms),
 * or `kubectl get --raw /readyz` when the kubeconfig has no client certificate or token.
 */
export function etcdAndApiProbes(c: Cluster, cps: CpNode[], probeTimeoutMs: number): EtcdAndApiProbes {
  const talos = new Map(cps.map((n) => [n.name, nodeTalosctl(c, n, probeTimeoutMs)]))
  const creds = apiCredentials(c)
  return {
    async etcd(node) {
      const r = await etcdStatusRow(talos.get(node.name) ?? nodeTalosctl(c, node, probeTimeoutMs), node)
      return { memberId: r.memberId, leader: r.leader, term: r.raftTerm }
    },
    async api(endpoint) {
      if (creds) await readyz(endpoint, creds, probeTimeoutMs)
      else await kubeAt(c, endpoint, ['get', '--raw', '/readyz'], probeTimeoutMs)
    },
  }
}

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

/** One line: a CommandError's message already names the cause (lib/host/exec.ts firstMeaningfulLine). */
export const errText = (e: unknown): string => (e instanceof Error ? e.message.split('\n')[0]! : String(e))

/** Every fact evaluatePreflight judges, each failure recorded rather than thrown. */
export async function gatherPreflight(c: Cluster, opts: { timeoutMs?: number } = {}): Promise<PreflightInput> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const cps: CpNode[] = controlPlanes(c.inv).map((n) => ({ name: n.name, address: n.address }))
  const etcd: EtcdMemberStatus[] = []
  const etcdErrors: Record<string, string> = {}
  const etcdService: NonNullable<PreflightInput['etcdService']> = {}
  // each member's own status first; a node whose member does not answer is reported by that, not by its service
  // too (and a hung node costs one call timeout, not a second one for its service)
  await Promise.all(
    cps.map(async (n) => {
      try {
        etcd.push(await etcdStatusOf(nodeTalosctl(c, n, timeoutMs), n))
      } catch (e) {
        etcdErrors[n.name] = errText(e)
      }
    }),
  )
  const asked = cps.filter((n) => !etcdErrors[n.name])
  const services = await endpointsTalosctl(c, timeoutMs).serviceOfEach(
    asked.map((n) => n.address),
    'etcd',
  )
  for (const n of asked) {
    const svc = services.get(n.address)
    etcdService[n.name] =
      svc instanceof Error
        ? { state: 'unknown', health: '?', message: `talosctl service etcd: ${errText(svc)}` }
        : { state: svc!.state, health: svc!.health, message: svc!.lastHealthMessage }
  }
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
    etcdService,
    members,
    alarms,
    api,
    inventoryNodes: c.inv.nodes.map((n) => ({ name: n.name, address: n.address })),
  }
}
