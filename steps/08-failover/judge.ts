// The failover drill's judgement, as pure functions: is the cluster healthy enough to lose a control-plane node
// (evaluatePreflight), which node to take down (selectTarget), and what happened afterwards (FailoverTimeline: a
// state machine fed with timestamped observations from the pollers, emitting events and the RTOs). No I/O here:
// the pollers live in watch.ts, so every verdict below is unit-tested with plain data.
import type { CpNode } from '../live-probes.ts'
import { hasLeader, sameMember, type PreflightResult } from '../cluster-health.ts'

// ---------------------------------------------------------------- preflight

// ---------------------------------------------------------------- target

export interface Target extends CpNode {
  memberId: string
  wasLeader: boolean
}

/** The node to take down: `requested` (a control-plane name) or, by default, the current etcd leader. */
export function selectTarget(pre: PreflightResult, controlPlanes: CpNode[], requested?: string): Target {
  let node: CpNode | undefined
  if (requested !== undefined) {
    node = controlPlanes.find((c) => c.name === requested)
    if (!node)
      throw new Error(
        `--node ${requested} is not a control-plane node of the inventory (control planes: ${controlPlanes.map((c) => c.name).join(', ')})`,
      )
  } else {
    if (!pre.leader) throw new Error('no etcd leader known: cannot pick the leader as the target (pass --node NAME)')
    node = controlPlanes.find((c) => c.name === pre.leader!.node)
    if (!node) throw new Error(`etcd leader ${pre.leader.node} is not a control-plane node of the inventory`)
  }
  const memberId = pre.memberIds[node.name]
  if (!memberId) throw new Error(`no etcd member id known for ${node.name}`)
  return { ...node, memberId, wasLeader: !!pre.leader && sameMember(pre.leader.memberId, memberId) }
}

// ---------------------------------------------------------------- timeline

/** Times are ms since the fault was issued. startedAt..at is when the probe ran: the state it saw held in between. */
export type Observation =
  | {
      kind: 'etcd'
      node: string
      startedAt: number
      at: number
      ok: true
      memberId: string
      leader: string
      term: number
    }
  | { kind: 'etcd'; node: string; startedAt: number; at: number; ok: false; error: string }
  | { kind: 'api'; endpoint: string; startedAt: number; at: number; ok: boolean; error?: string }
  | { kind: 'workloads'; startedAt: number; at: number; ok: true; disrupted: string[] }
  | { kind: 'workloads'; startedAt: number; at: number; ok: false; error: string }

type TimelineEventType =
  | 'fault'
  | 'target-unreachable'
  | 'target-answering'
  | 'member-error'
  | 'member-answering'
  | 'etcd-no-leader'
  | 'etcd-new-leader'
  | 'etcd-leader-kept'
  | 'etcd-agreed'
  | 'api-down'
  | 'api-up'
  | 'workloads-disrupted'
  | 'workloads-ok'

export interface TimelineEvent {
  at: number
  type: TimelineEventType
  detail: string
  node?: string
  endpoint?: string
  leader?: string
  term?: number
  /** How long the probe that saw it ran: the event happened at most this long before `at`. */
  uncertaintyMs?: number
}

interface TimelineOptions {
  target: Target
  /** The surviving control-plane nodes and their member ids. */
  remaining: (CpNode & { memberId: string })[]
  initialLeader: { memberId: string; term: number }
  /** Every API endpoint polled (each surviving CP, the VIP): all must answer for the API to count as recovered. */
  apiEndpoints: string[]
}

interface Outage {
  endpoint: string
  fromMs: number
  toMs?: number
}

export interface FailoverSummary {
  target: string
  wasLeader: boolean
  targetUnreachableMs?: number
  newLeader?: { node: string; memberId: string; term: number; atMs: number; uncertaintyMs: number }
  /** Fault → a surviving member reports a working leader again (0: etcd never lost its leader). */
  etcdRtoMs?: number
  /** Fault → every surviving member reports that same leader. */
  etcdAgreedMs?: number
  /** Fault → every API endpoint answers again (0: none ever failed). */
  apiRtoMs?: number
  apiOutages: Outage[]
  workloadsObserved: number
  workloadsStayedUp: boolean
  disruptedPods: string[]
  /** Per surviving node: etcd observations applied and the gaps between them (the poller's resolution). */
  resolution: Record<
    string,
    { observations: number; medianGapMs?: number; maxGapMs?: number; medianLatencyMs?: number }
  >
  passed: boolean
  problems: string[]
}

interface EtcdView {
  startedAt: number
  at: number
  ok: boolean
  leader?: string
  term?: number
}

const median = (xs: number[]) => {
  if (!xs.length) return undefined
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor((s.length - 1) / 2)]
}

/**
 * Fed with observations in the order the probes finish, returns the events each one causes. Probes overlap, so an
 * older probe may finish after a newer one: an observation that started before the last one applied for the same
 * node/endpoint is stale and ignored (it cannot undo what a newer probe saw).
 */
export class FailoverTimeline {
  readonly events: TimelineEvent[] = []
  private readonly opts: TimelineOptions
  private readonly etcd = new Map<string, EtcdView>()
  private readonly etcdTimes = new Map<string, { at: number[]; latency: number[] }>()
  private readonly api = new Map<string, { startedAt: number; ok: boolean; downSince?: number }>()
  private readonly outages: Outage[] = []
  private lastWorkloads = { startedAt: -Infinity, disrupted: [] as string[] }
  private readonly disruptedEver = new Set<string>()
  private workloadsObserved = 0
  private workloadsAfterRecovery = 0
  private targetDownAt?: number
  private targetUp = true
  private etcdLeaderless: boolean
  private etcdRecoveredAt?: number
  private noLeaderSeen = false
  private newLeader?: FailoverSummary['newLeader']
  private agreedAt?: number
  private memberDown = new Set<string>()

  constructor(opts: TimelineOptions) {
    this.opts = opts
    // A dead leader leaves the cluster without a working leader from the moment it dies, even while followers still
    // name it (they notice only after the election timeout).
    this.etcdLeaderless = opts.target.wasLeader
    this.events.push({
      at: 0,
      type: 'fault',
      node: opts.target.name,
      detail: `fault issued on ${opts.target.name}${opts.target.wasLeader ? ' (the etcd leader)' : ''}`,
    })
  }

  private emit(e: TimelineEvent): TimelineEvent {
    this.events.push(e)
    return e
  }

  private nameOf(memberId: string): string {
    if (sameMember(memberId, this.opts.target.memberId)) return this.opts.target.name
    return this.opts.remaining.find((r) => sameMember(r.memberId, memberId))?.name ?? memberId
  }

  observe(o: Observation): TimelineEvent[] {
    const before = this.events.length
    if (o.kind === 'etcd') this.observeEtcd(o)
    else if (o.kind === 'api') this.observeApi(o)
    else this.observeWorkloads(o)
    return this.events.slice(before)
  }

  private observeEtcd(o: Extract<Observation, { kind: 'etcd' }>): void {
    const prev = this.etcd.get(o.node)
    if (prev && o.startedAt < prev.startedAt) return
    this.etcd.set(o.node, {
      startedAt: o.startedAt,
      at: o.at,
      ok: o.ok,
      ...(o.ok ? { leader: o.leader, term: o.term } : {}),
    })
    const times = this.etcdTimes.get(o.node) ?? { at: [], latency: [] }
    times.at.push(o.at)
    times.latency.push(o.at - o.startedAt)
    this.etcdTimes.set(o.node, times)
    const unc = o.at - o.startedAt

    if (o.node === this.opts.target.name) {
      if (!o.ok && this.targetUp) {
        this.targetUp = false
        this.targetDownAt ??= o.at
        this.emit({
          at: o.at,
          type: 'target-unreachable',
          node: o.node,
          uncertaintyMs: unc,
          detail: `${o.node} stopped answering: ${o.error}`,
        })
      } else if (o.ok && !this.targetUp) {
        this.targetUp = true
        this.emit({ at: o.at, type: 'target-answering', node: o.node, detail: `${o.node} answers again` })
      }
      return
    }
    if (!this.opts.remaining.some((r) => r.name === o.node)) return

    if (!o.ok) {
      if (!this.memberDown.has(o.node)) {
        this.memberDown.add(o.node)
        this.emit({
          at: o.at,
          type: 'member-error',
          node: o.node,
          uncertaintyMs: unc,
          detail: `etcd status on ${o.node} failed: ${o.error}`,
        })
      }
      return
    }
    if (this.memberDown.delete(o.node))
      this.emit({ at: o.at, type: 'member-answering', node: o.node, detail: `etcd on ${o.node} answers again` })

    const target = this.opts.target
    const knowsLeader = hasLeader(o.leader) && !sameMember(o.leader, target.memberId)
    if (!knowsLeader) {
      if (!hasLeader(o.leader) && !this.noLeaderSeen) {
        this.noLeaderSeen = true
        this.emit({
          at: o.at,
          type: 'etcd-no-leader',
          node: o.node,
          term: o.term,
          uncertaintyMs: unc,
          detail: `${o.node} knows no leader (election under way, term ${o.term})`,
        })
      }
      if (!hasLeader(o.leader) && !this.etcdLeaderless && this.etcdRecoveredAt === undefined) this.etcdLeaderless = true
      return
    }
    if (this.etcdLeaderless || this.etcdRecoveredAt === undefined) {
      const changed = !sameMember(o.leader, this.opts.initialLeader.memberId) || o.term > this.opts.initialLeader.term
      if (this.etcdLeaderless || changed) {
        this.etcdLeaderless = false
        this.etcdRecoveredAt = o.at
        if (changed) {
          this.newLeader = {
            node: this.nameOf(o.leader),
            memberId: o.leader,
            term: o.term,
            atMs: o.at,
            uncertaintyMs: unc,
          }
          this.emit({
            at: o.at,
            type: 'etcd-new-leader',
            node: o.node,
            leader: o.leader,
            term: o.term,
            uncertaintyMs: unc,
            detail: `${o.node} reports leader ${this.nameOf(o.leader)} (${o.leader}), term ${o.term} (was ${this.opts.initialLeader.term})`,
          })
        } else {
          this.emit({
            at: o.at,
            type: 'etcd-leader-kept',
            node: o.node,
            leader: o.leader,
            term: o.term,
            uncertaintyMs: unc,
            detail: `${o.node} reports the leader ${this.nameOf(o.leader)} again, term ${o.term}`,
          })
        }
      } else if (this.targetDownAt !== undefined) {
        // The target was a follower: the leader never changed.
        this.etcdRecoveredAt = 0
        this.emit({
          at: o.at,
          type: 'etcd-leader-kept',
          node: o.node,
          leader: o.leader,
          term: o.term,
          detail: `${o.node} still follows leader ${this.nameOf(o.leader)}, term ${o.term}: no election needed`,
        })
      }
    }
    if (this.agreedAt === undefined && this.etcdRecoveredAt !== undefined) {
      const views = this.opts.remaining.map((r) => this.etcd.get(r.name))
      const leaderNow = o.leader
      if (
        views.every(
          (v) =>
            v?.ok && v.leader !== undefined && sameMember(v.leader, leaderNow) && v.at >= (this.etcdRecoveredAt ?? 0),
        )
      ) {
        this.agreedAt = o.at
        this.emit({
          at: o.at,
          type: 'etcd-agreed',
          leader: leaderNow,
          term: o.term,
          detail: `all surviving members (${this.opts.remaining.map((r) => r.name).join(', ')}) follow ${this.nameOf(leaderNow)}`,
        })
      }
    }
  }

  private observeApi(o: Extract<Observation, { kind: 'api' }>): void {
    const prev = this.api.get(o.endpoint)
    if (prev && o.startedAt < prev.startedAt) return
    const next = { startedAt: o.startedAt, ok: o.ok, downSince: prev?.downSince }
    const unc = o.at - o.startedAt
    if (!o.ok && (prev === undefined || prev.ok)) {
      next.downSince = o.at
      this.outages.push({ endpoint: o.endpoint, fromMs: o.at })
      this.emit({
        at: o.at,
        type: 'api-down',
        endpoint: o.endpoint,
        uncertaintyMs: unc,
        detail: `API at ${o.endpoint} fails: ${o.error ?? 'error'}`,
      })
    } else if (o.ok && prev && !prev.ok) {
      next.downSince = undefined
      const open = [...this.outages].reverse().find((x) => x.endpoint === o.endpoint && x.toMs === undefined)
      if (open) open.toMs = o.at
      this.emit({
        at: o.at,
        type: 'api-up',
        endpoint: o.endpoint,
        uncertaintyMs: unc,
        detail: `API at ${o.endpoint} answers again${open ? ` after ${o.at - open.fromMs} ms` : ''}`,
      })
    }
    this.api.set(o.endpoint, next)
  }

  private observeWorkloads(o: Extract<Observation, { kind: 'workloads' }>): void {
    if (!o.ok || o.startedAt < this.lastWorkloads.startedAt) return
    this.workloadsObserved++
    if (this.etcdRecovered && this.apiRecovered) this.workloadsAfterRecovery++
    const was = this.lastWorkloads.disrupted
    this.lastWorkloads = { startedAt: o.startedAt, disrupted: [...o.disrupted].sort() }
    for (const p of o.disrupted) this.disruptedEver.add(p)
    if (o.disrupted.length && !was.length) {
      this.emit({
        at: o.at,
        type: 'workloads-disrupted',
        detail: `pods on surviving nodes not running/ready: ${o.disrupted.join(', ')}`,
      })
    } else if (!o.disrupted.length && was.length) {
      this.emit({
        at: o.at,
        type: 'workloads-ok',
        detail: 'every pod on the surviving nodes is running and ready again',
      })
    }
  }

  get etcdRecovered(): boolean {
    return this.etcdRecoveredAt !== undefined && !this.etcdLeaderless
  }

  /** Every polled endpoint's latest observation succeeded. */
  get apiRecovered(): boolean {
    return this.opts.apiEndpoints.every((e) => this.api.get(e)?.ok === true)
  }

  /** Nothing left to see: the target is gone, etcd has a leader all survivors follow, the API answers everywhere, workloads were looked at since. */
  get settled(): boolean {
    return (
      this.targetDownAt !== undefined &&
      this.etcdRecovered &&
      this.agreedAt !== undefined &&
      this.apiRecovered &&
      this.workloadsAfterRecovery > 0
    )
  }

  summary(): FailoverSummary {
    const problems: string[] = []
    if (this.targetDownAt === undefined)
      problems.push(`${this.opts.target.name} never stopped answering: the fault did not take it down`)
    if (!this.etcdRecovered)
      problems.push(
        this.opts.target.wasLeader
          ? 'etcd elected no new leader among the surviving members'
          : 'etcd lost its leader and did not regain one',
      )
    else if (this.agreedAt === undefined) problems.push('the surviving etcd members never all reported the same leader')
    const down = this.opts.apiEndpoints.filter((e) => this.api.get(e)?.ok !== true)
    if (down.length) problems.push(`Kubernetes API not answering at ${down.join(', ')}`)
    if (this.workloadsObserved === 0) problems.push('workloads on the surviving nodes were never observed')
    if (this.disruptedEver.size)
      problems.push(`pods on surviving nodes were disrupted: ${[...this.disruptedEver].sort().join(', ')}`)
    const apiRto = down.length ? undefined : Math.max(0, ...this.outages.map((x) => x.toMs ?? Infinity))
    const resolution: FailoverSummary['resolution'] = {}
    for (const r of this.opts.remaining) {
      const t = this.etcdTimes.get(r.name)
      const gaps = (t?.at ?? []).slice(1).map((x, i) => x - t!.at[i]!)
      resolution[r.name] = {
        observations: t?.at.length ?? 0,
        medianGapMs: median(gaps),
        maxGapMs: gaps.length ? Math.max(...gaps) : undefined,
        medianLatencyMs: median(t?.latency ?? []),
      }
    }
    return {
      target: this.opts.target.name,
      wasLeader: this.opts.target.wasLeader,
      targetUnreachableMs: this.targetDownAt,
      newLeader: this.newLeader,
      etcdRtoMs: this.etcdRecovered ? this.etcdRecoveredAt : undefined,
      etcdAgreedMs: this.agreedAt,
      apiRtoMs: apiRto,
      apiOutages: this.outages.map((x) => ({ ...x })),
      workloadsObserved: this.workloadsObserved,
      workloadsStayedUp: this.workloadsObserved > 0 && this.disruptedEver.size === 0,
      disruptedPods: [...this.disruptedEver].sort(),
      resolution,
      passed: problems.length === 0,
      problems,
    }
  }
}

// ---------------------------------------------------------------- workloads

export interface PodView {
  metadata: { name: string; namespace?: string; uid?: string; deletionTimestamp?: string }
  spec?: { nodeName?: string }
  status?: { phase?: string; conditions?: { type: string; status: string }[] }
}

const podKey = (p: PodView) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`
const podUp = (p: PodView) =>
  p.status?.phase === 'Running' &&
  (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') &&
  !p.metadata.deletionTimestamp

/** The pods the drill watches: running and ready, on a node other than the target. */
export function workloadBaseline(pods: PodView[], targetNode: string): Map<string, string | undefined> {
  return new Map(
    pods
      .filter((p) => p.spec?.nodeName && p.spec.nodeName !== targetNode && podUp(p))
      .map((p) => [podKey(p), p.metadata.uid]),
  )
}

/** Baseline pods now missing (or replaced), not running, or not ready: "ns/name (why)". */
export function disruptedPods(baseline: Map<string, string | undefined>, pods: PodView[]): string[] {
  const now = new Map(pods.map((p) => [podKey(p), p]))
  const out: string[] = []
  for (const [key, uid] of baseline) {
    const p = now.get(key)
    if (!p) out.push(`${key} (gone)`)
    else if (uid && p.metadata.uid && uid !== p.metadata.uid) out.push(`${key} (recreated)`)
    else if (!podUp(p))
      out.push(`${key} (${p.status?.phase ?? 'unknown'}${p.status?.phase === 'Running' ? ', not ready' : ''})`)
  }
  return out.sort()
}

// ---------------------------------------------------------------- report

const fmtMs = (ms: number | undefined) => (ms === undefined ? '—' : `${ms} ms`)

/**
 * The lease behind Talos' VIP election: vip.go (internal/app/machined/pkg/controllers/network/operator, v1.10.3) opens
 * concurrency.NewSession without WithTTL, so etcd's defaultSessionTTL (client/v3/concurrency/session.go), renewed
 * every TTL/3. A holder that resigns (graceful shutdown, reboot) hands the VIP over at once; one that vanishes (power
 * cut, kernel panic, etcd gone) keeps it dark until its lease expires: 40–60 s after it died.
 */
export const VIP_ELECTION_LEASE_S = 60

/** What the VIP did during the drill (measured by its probes), and what an abrupt loss of its holder would cost. */
export function vipLines(s: FailoverSummary, vip: string | undefined): string[] {
  if (!vip) return []
  const dark = s.apiOutages.filter((o) => o.endpoint === vip)
  const seen = dark.length
    ? `dark ${dark.map((o) => `${o.fromMs}–${o.toMs ?? '…'} ms (${o.toMs === undefined ? 'still' : o.toMs - o.fromMs} ms)`).join(', ')}: its holder resigned the election and another control plane took it`
    : 'answered throughout (its holder was not taken down, or the move was shorter than a probe)'
  return [
    `  VIP ${vip}: ${seen}`,
    `  an abrupt loss of the VIP holder (power cut, crash) resigns nothing: the VIP stays dark until its etcd election lease expires, ${(VIP_ELECTION_LEASE_S * 2) / 3}–${VIP_ELECTION_LEASE_S} s, more if it also led etcd (a new etcd leader renews every lease) (Talos VIP election, etcd session TTL ${VIP_ELECTION_LEASE_S} s)`,
  ]
}

/** The timeline and verdict as lines for the terminal. */
export function formatTimeline(events: TimelineEvent[], s: FailoverSummary, vip?: string): string[] {
  const lines = events.map(
    (e) =>
      `  +${String(e.at).padStart(6)} ms  ${e.type.padEnd(20)} ${e.detail}${e.uncertaintyMs !== undefined ? ` (probe ran ${e.uncertaintyMs} ms)` : ''}`,
  )
  lines.push(
    '',
    `  etcd RTO: ${fmtMs(s.etcdRtoMs)}${s.newLeader ? ` (new leader ${s.newLeader.node}, term ${s.newLeader.term}, seen by a probe that ran ${s.newLeader.uncertaintyMs} ms)` : s.etcdRtoMs === 0 ? ' (leader unchanged)' : ''}`,
    `  all survivors agree: ${fmtMs(s.etcdAgreedMs)}`,
    `  API RTO:  ${fmtMs(s.apiRtoMs)}${s.apiOutages.length ? ` (${s.apiOutages.map((o) => `${o.endpoint} ${o.fromMs}–${o.toMs ?? '…'} ms`).join(', ')})` : ' (no endpoint ever failed)'}`,
    ...vipLines(s, vip),
    `  workloads on surviving nodes: ${s.workloadsStayedUp ? `stayed up (${s.workloadsObserved} observations)` : `DISRUPTED ${s.disruptedPods.join(', ') || '(never observed)'}`}`,
    `  poll resolution: ${Object.entries(s.resolution)
      .map(
        ([n, r]) =>
          `${n} ${r.observations} obs, median gap ${fmtMs(r.medianGapMs)}, max ${fmtMs(r.maxGapMs)}, probe ${fmtMs(r.medianLatencyMs)}`,
      )
      .join('; ')}`,
  )
  return lines
}
