// What the control-plane nodes say about etcd (service state per node, members): read by 03-bootstrap (bootstrap
// exactly once) and by the quorum step every other runbook starts with.
import { controlPlanes, type Cluster } from '../config/cluster.ts'
import type { ServiceStatus, EtcdMemberRow, EtcdStatusRow } from '../lib/talos/parse.ts'

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
  const services = await c.talos.serviceOfEach(
    cps.map((n) => n.address),
    'etcd',
  )
  await Promise.all(
    cps.map(async (n) => {
      try {
        const svc = services.get(n.address)
        if (svc instanceof Error) throw svc
        view.service[n.name] = svc
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
  lastViews.set(c, { at: Date.now(), view })
  return view
}

const lastViews = new WeakMap<Cluster, { at: number; view: EtcdView }>()

/**
 * The view this run read at most `maxAgeMs` ago, else a fresh one. For a step that asks again right after another
 * (02's backup step after its quorum step asks only whether etcd was bootstrapped): the same calls again would only
 * repeat the answer and cost a no-op re-run a second round of them.
 */
export async function recentEtcdView(c: Cluster, maxAgeMs: number): Promise<EtcdView> {
  const last = lastViews.get(c)
  return last && Date.now() - last.at <= maxAgeMs ? last.view : etcdView(c)
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
  // `talosctl etcd status -n a,b,c` exits 0 when a node fails: apid turns that node's error into a message, talosctl
  // prints it as a WARNING on stderr and leaves its row out (cmd/talosctl/cmd/talos/etcd.go status, helpers.CheckErrors)
  const silent = cpNames.filter((n) => !status.some((s) => s.node === n))
  if (silent.length) return `no etcd status from ${silent.join(', ')} (their etcd or Talos API did not answer)`
  const errs = status.filter((s) => s.errors)
  if (errs.length) return `member errors: ${errs.map((s) => `${s.node}: ${s.errors}`).join('; ')}`
  const leaders = [...new Set(status.map((s) => s.leader))]
  if (leaders.length !== 1 || !leaders[0]) return `members disagree on the leader: ${leaders.join(', ') || 'none'}`
  return { members: names, leader: members.find((m) => m.id === leaders[0])?.hostname ?? leaders[0], status }
}
