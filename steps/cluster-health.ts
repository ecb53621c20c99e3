// Is the cluster healthy enough to be changed NOW (08 before it takes a node down, 11 after a restore): every
// control-plane etcd member answers, all agree on one leader, no alarm, no learner, the API answers, every node Ready.
// Pure: the facts are gathered by steps/live-probes.ts gatherPreflight, so every verdict is unit-tested with plain data.
/** A control-plane node as the probes and the drill know it: its inventory name and address. */
export interface CpNode {
  name: string
  address: string
}

export interface EtcdMemberStatus {
  /** Inventory node name. */
  node: string
  memberId: string
  /** Member id of the leader as this member sees it; '' or all zeros when it knows none. */
  leader: string
  term: number
  learner: boolean
  /** talosctl's ERRORS column, '' when none. */
  errors: string
}

export interface PreflightInput {
  controlPlanes: CpNode[]
  /** One row per control-plane node that answered `etcd status`. */
  etcd: EtcdMemberStatus[]
  /** Control-plane node name → why its `etcd status` failed. */
  etcdErrors: Record<string, string>
  /**
   * Control-plane node name → its etcd service as `talosctl service etcd` shows it, for the members that answered.
   * Talos checks the service's health 5 s after it starts and then every 20 s (a quorum read, 15 s to answer), so a
   * member that answers a status can still show "Fail" or "?" for a while; the checks want "OK". Asked through the
   * talosconfig's endpoints, as the checks ask: an error there is a state of "unknown".
   */
  etcdService?: Record<string, { state: string; health: string; message?: string }>
  /** The member list as one healthy member sees it; undefined when nobody could say. */
  members?: { id: string; hostname: string; learner: boolean }[]
  alarms: { memberId: string; alarm: string }[]
  /** Kubernetes API: the node list, or the error getting it. */
  api: { ok: true; nodes: { name: string; ready: boolean; reason?: string }[] } | { ok: false; error: string }
  /** Every inventory node, to find those Kubernetes does not list as Ready. */
  inventoryNodes: CpNode[]
}

export interface PreflightResult {
  ok: boolean
  problems: string[]
  /** The leader every member agrees on (when they do). */
  leader?: { node: string; memberId: string; term: number }
  /** Control-plane node name → its etcd member id. */
  memberIds: Record<string, string>
  /**
   * Control planes whose etcd service runs but has had no health check yet (health "?"): machined checks 5 s after
   * etcd starts (services/etcd.go HealthSettings), so a member back from a reboot shows it for a few seconds. Each is
   * one of the problems too.
   */
  pendingHealth: string[]
}

const NO_LEADER = /^0*$/
export const hasLeader = (id: string) => !NO_LEADER.test(id)
export const normId = (id: string) => id.replace(/^0+(?=.)/, '').toLowerCase()
export const sameMember = (a: string, b: string) => normId(a) === normId(b)

/** Healthy NOW: every control-plane member answers, all agree on one leader, no alarm, no error, the API answers, every node Ready. */
export function evaluatePreflight(i: PreflightInput): PreflightResult {
  const problems: string[] = []
  const memberIds: Record<string, string> = {}
  const pendingHealth: string[] = []
  const label = (n: string) => {
    const cp = i.controlPlanes.find((c) => c.name === n) ?? i.inventoryNodes.find((c) => c.name === n)
    return cp ? `${cp.name} (${cp.address})` : n
  }
  for (const cp of i.controlPlanes) {
    const row = i.etcd.find((r) => r.node === cp.name)
    if (!row) {
      problems.push(
        `etcd member on ${label(cp.name)} does not answer: ${i.etcdErrors[cp.name] ?? 'no status returned'}`,
      )
      continue
    }
    memberIds[cp.name] = row.memberId
    if (row.learner) problems.push(`etcd member on ${label(cp.name)} is still a learner`)
    if (row.errors) problems.push(`etcd member on ${label(cp.name)} reports errors: ${row.errors}`)
    if (!hasLeader(row.leader)) problems.push(`etcd member on ${label(cp.name)} knows no leader`)
    const svc = i.etcdService?.[cp.name]
    if (svc?.state === 'Running' && svc.health === '?') pendingHealth.push(cp.name)
    if (svc && (svc.state !== 'Running' || svc.health !== 'OK'))
      problems.push(
        `etcd service on ${label(cp.name)} is ${svc.state}, health ${svc.health}${svc.message ? ` (${svc.message})` : ''}`,
      )
  }
  const leaders = [...new Set(i.etcd.filter((r) => hasLeader(r.leader)).map((r) => normId(r.leader)))]
  let leader: PreflightResult['leader']
  if (leaders.length > 1) {
    const views = i.etcd.map((r) => `${r.node} says ${r.leader}`).join(', ')
    problems.push(`etcd members disagree on the leader (${leaders.length} leaders: ${views})`)
  } else if (leaders.length === 1) {
    const row = i.etcd.find((r) => sameMember(r.memberId, leaders[0]!))
    if (!row) problems.push(`etcd leader ${leaders[0]} is not one of the control-plane members that answered`)
    else leader = { node: row.node, memberId: row.memberId, term: Math.max(...i.etcd.map((r) => r.term)) }
  }
  if (i.members) {
    const voters = i.members.filter((m) => !m.learner)
    if (voters.length !== i.controlPlanes.length) {
      problems.push(
        `etcd has ${voters.length} voting member(s) (${voters.map((m) => m.hostname).join(', ')}), the inventory ${i.controlPlanes.length} control-plane node(s)`,
      )
    }
    if (i.members.some((m) => m.learner))
      problems.push(
        `etcd has learner member(s): ${i.members
          .filter((m) => m.learner)
          .map((m) => m.hostname)
          .join(', ')}`,
      )
  } else problems.push('etcd member list unavailable')
  if (i.controlPlanes.length < 3)
    problems.push(`only ${i.controlPlanes.length} control-plane node(s): losing one would lose etcd quorum`)
  for (const a of i.alarms) {
    const who = Object.entries(memberIds).find(([, id]) => sameMember(id, a.memberId))?.[0]
    problems.push(`etcd alarm ${a.alarm} on member ${a.memberId}${who ? ` (${who})` : ''}`)
  }
  if (!i.api.ok) problems.push(`Kubernetes API does not answer: ${i.api.error}`)
  else {
    for (const n of i.inventoryNodes) {
      const k = i.api.nodes.find((x) => x.name === n.name)
      if (!k) problems.push(`node ${label(n.name)} is not registered in Kubernetes`)
      else if (!k.ready) problems.push(`node ${label(n.name)} is not Ready${k.reason ? `: ${k.reason}` : ''}`)
    }
  }
  return { ok: problems.length === 0, problems, leader, memberIds, pendingHealth }
}
