// The steps of 03-bootstrap. The one rule that matters: etcd is bootstrapped exactly once, so every
// decision starts from what the control-plane nodes report now.
import { log } from '../../lib/runner/log.ts'
import { waitFor, type KubePod } from '../../lib/kube/kubectl.ts'
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import type { ServiceStatus, EtcdMemberRow, EtcdStatusRow } from '../../lib/talos/parse.ts'
import { RefusedError } from '../../lib/runner/types.ts'

export interface EtcdView {
  /** etcd service per control-plane node name; undefined when the node did not answer. */
  service: Record<string, ServiceStatus | undefined>
  /** Control-plane nodes that answered neither the authenticated nor the maintenance API → why. */
  unreachable: Record<string, string>
  /**
   * Control-plane nodes that answer only the maintenance API → what they said. A node in maintenance mode has no
   * machine config, so it runs no etcd: evidence that etcd was not bootstrapped there.
   */
  maintenance?: Record<string, string>
  members: EtcdMemberRow[]
}

export async function etcdView(c: Cluster): Promise<EtcdView> {
  const cps = controlPlanes(c.inv)
  const view: EtcdView = { service: {}, unreachable: {}, maintenance: {}, members: [] }
  await Promise.all(
    cps.map(async (n) => {
      try {
        view.service[n.name] = (await c.talos.service([n.address], 'etcd'))[0]
      } catch (e) {
        const stage = await maintenanceStage(c, n.address)
        if (stage) view.maintenance![n.name] = `in maintenance mode (stage ${stage}): no machine config yet, so no etcd`
        else view.unreachable[n.name] = (e as Error).message
      }
    }),
  )
  // in inventory order, whichever answered first
  view.unreachable = Object.fromEntries(
    cps.filter((n) => n.name in view.unreachable).map((n) => [n.name, view.unreachable[n.name]!]),
  )
  const running = cps.find((n) => view.service[n.name]?.state === 'Running')
  if (running) view.members = await c.talos.etcdMembers(running.address).catch(() => [])
  return view
}

/** The node's stage when it answers the maintenance API (`get machinestatus --insecure`), else undefined. */
async function maintenanceStage(c: Cluster, address: string): Promise<string | undefined> {
  try {
    const [st] = await c.talos.machineStatus([address], { insecure: true })
    return st ? st.spec.stage : undefined
  } catch {
    return undefined
  }
}

/** Bootstrapped = some control-plane node runs etcd (real Talos keeps etcd in Preparing until bootstrap). */
export function isBootstrapped(v: EtcdView): boolean {
  return Object.values(v.service).some((s) => s?.state === 'Running') || v.members.length > 0
}

export function describeEtcd(v: EtcdView): string {
  const states = Object.entries(v.service).map(([n, s]) => `${n}: ${s?.state ?? '?'}`)
  const maint = Object.keys(v.maintenance ?? {}).map((n) => `${n}: maintenance mode`)
  const down = Object.keys(v.unreachable).map((n) => `${n}: unreachable`)
  return (
    [...states, ...maint, ...down].join(', ') +
    (v.members.length ? `; ${v.members.length} member(s): ${v.members.map((m) => m.hostname).join(', ')}` : '')
  )
}

/**
 * A bootstrap must see every control-plane node: one we cannot see might already run etcd, and one in maintenance
 * mode has no config to bootstrap from. Either way going on would be unsafe or pointless: a refusal (exit 3).
 */
export function assertSafeToBootstrap(v: EtcdView): void {
  const down = Object.keys(v.unreachable)
  if (down.length)
    throw new RefusedError(
      `cannot tell whether etcd was bootstrapped: ${down.join(', ')} did not answer (${Object.values(v.unreachable)[0]}). Bring ${down.length > 1 ? 'them' : 'it'} back, then re-run. Nothing was changed.`,
    )
  const maint = Object.keys(v.maintenance ?? {})
  if (maint.length)
    throw new RefusedError(
      `${maint.join(', ')} ${maint.length > 1 ? 'are' : 'is'} in maintenance mode with no machine config: run 02-configure first, then re-run. Nothing was changed.`,
    )
}

export interface EtcdHealth {
  members: string[]
  leader: string
  status: EtcdStatusRow[]
}

/** All control-plane nodes are voting members, every member answers, and all name the same leader. */
export function evaluateEtcd(
  cpNames: string[],
  members: EtcdMemberRow[],
  status: (EtcdStatusRow & { node: string })[],
): EtcdHealth | string {
  const names = members.filter((m) => !m.learner).map((m) => m.hostname)
  const missing = cpNames.filter((n) => !names.includes(n))
  if (missing.length) return `not yet members: ${missing.join(', ')} (members: ${names.join(', ') || 'none'})`
  const errs = status.filter((s) => s.errors)
  if (errs.length) return `member errors: ${errs.map((s) => `${s.node}: ${s.errors}`).join('; ')}`
  const leaders = [...new Set(status.map((s) => s.leader))]
  if (leaders.length !== 1 || !leaders[0]) return `members disagree on the leader: ${leaders.join(', ') || 'none'}`
  return { members: names, leader: members.find((m) => m.id === leaders[0])?.hostname ?? leaders[0], status }
}

export async function waitForEtcd(c: Cluster, timeoutMs = 5 * 60_000): Promise<EtcdHealth> {
  const cps = controlPlanes(c.inv)
  let last = ''
  return waitFor(
    'etcd on every control-plane node with one leader',
    async () => {
      const members = await c.talos.etcdMembers(cps[0]!.address)
      const status = await c.talos.etcdStatus(cps.map((n) => n.address))
      const byAddr = new Map(cps.map((n) => [n.address, n.name]))
      const r = evaluateEtcd(
        cps.map((n) => n.name),
        members,
        status.map((s) => ({ ...s, node: byAddr.get(s.node) ?? s.node })),
      )
      if (typeof r === 'string') {
        if (r !== last) log.dim(`  ${r}`)
        last = r
        return undefined
      }
      return r
    },
    { timeoutMs, intervalMs: 1000 },
  )
}

/** From `node`: the control plane the runbook names (--node), so the step fetches from the node it shows. */
export async function fetchKubeconfig(c: Cluster, node: InventoryNode): Promise<void> {
  await c.talos.kubeconfig(node.address, c.paths.kubeconfig, { force: true })
}

export async function waitForApi(c: Cluster, timeoutMs = 5 * 60_000): Promise<void> {
  await waitFor(
    'the Kubernetes API to answer /readyz',
    async () => {
      const r = await c.kube.run(['get', '--raw', '/readyz'], { nothrow: true, quiet: true })
      return r.exitCode === 0 && r.stdout.trim() === 'ok' ? true : undefined
    },
    { timeoutMs, intervalMs: 1000 },
  )
}

const STATIC_PODS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']

export function missingStaticPods(cpNames: string[], pods: KubePod[]): string[] {
  const running = new Set(
    pods.filter((p) => (p as { status?: { phase?: string } }).status?.phase === 'Running').map((p) => p.metadata.name),
  )
  return cpNames.flatMap((n) => STATIC_PODS.map((s) => `${s}-${n}`)).filter((p) => !running.has(p))
}

export async function waitForStaticPods(c: Cluster, timeoutMs = 5 * 60_000): Promise<void> {
  const cps = controlPlanes(c.inv).map((n) => n.name)
  await waitFor(
    'control-plane static pods Running',
    async () => {
      const missing = missingStaticPods(cps, await c.kube.pods('kube-system'))
      return missing.length === 0 ? true : undefined
    },
    { timeoutMs, intervalMs: 1000 },
  )
}
