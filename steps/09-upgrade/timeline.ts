// The rollout's timeline: per node when it went down (the upgrade call) and when it was back on its new version,
// and while a control plane is upgraded, probes every second of each etcd member (talosctl etcd status, one node per
// call) and of the API through the VIP (/readyz): the fewest healthy members seen and how long the API did not
// answer. At most one call per probe target runs at a time, so the achieved resolution is reported with it. Every
// second, not every 100 ms: a node is down for tens of seconds, and each talosctl call costs the operator's machine
// about 0.2 s of CPU, so probes 100 ms apart ran back to back and kept two cores busy for the whole rollout. A probe
// waits up to 5 s, etcdctl's default --command-timeout (etcd's etcdctl/ctlv3/command/global.go): a busy client host
// (talosctl starts a process per call) must not read as a member down. When the count fell below a majority, the
// moment and each missing member's own error are kept, so the report says which member failed and how.
import type { Cluster } from '../../config/cluster.ts'
import { controlPlanes } from '../../config/cluster.ts'
import { apiEndpoints, errText, etcdAndApiProbes } from '../live-probes.ts'

export interface ProbeSample {
  /** ms since the probing started, when the call returned. */
  t: number
  /** The call's start, ms since the probing started. */
  t0: number
  target: string
  ok: boolean
  /** A failed call's first line (the command's own error, or that it timed out). */
  error?: string
}

/** The moment the fewest members answered, when that was below a majority: who was missing and why. */
interface QuorumLoss {
  /** ms since the probing started. */
  t: number
  missing: { member: string; error: string }[]
}

interface ProbeSummary {
  /** The fewest members answering at any moment (each member counted by its latest answer). */
  minHealthyMembers: number
  members: number
  /** Total time from a failed /readyz through the VIP to the next one that answered. */
  apiUnavailableMs: number
  etcdProbes: number
  apiProbes: number
  /** Median gap between two answers of one member. */
  resolutionMs?: number
  quorumLoss?: QuorumLoss
}

/** Pure: the summary of what the probes saw. */
export function summarizeProbes(samples: ProbeSample[], members: string[], api = 'api'): ProbeSummary {
  const sorted = [...samples].sort((a, b) => a.t - b.t)
  const latest = new Map<string, ProbeSample | undefined>(members.map((m) => [m, undefined]))
  const majority = Math.floor(members.length / 2) + 1
  let min = members.length
  let quorumLoss: QuorumLoss | undefined
  for (const s of sorted) {
    if (s.target === api) continue
    latest.set(s.target, s)
    const failed = [...latest.values()].filter((x): x is ProbeSample => !!x && !x.ok)
    const healthy = members.length - failed.length
    if (healthy < min && healthy < majority) {
      quorumLoss = { t: s.t, missing: failed.map((x) => ({ member: x.target, error: x.error ?? 'failed' })) }
    }
    min = Math.min(min, healthy)
  }
  let apiUnavailableMs = 0
  let downSince: number | undefined
  for (const s of sorted.filter((x) => x.target === api)) {
    if (!s.ok && downSince === undefined) downSince = s.t0
    if (s.ok && downSince !== undefined) {
      apiUnavailableMs += s.t0 - downSince
      downSince = undefined
    }
  }
  if (downSince !== undefined) apiUnavailableMs += (sorted.at(-1)?.t ?? downSince) - downSince
  const gaps = members.flatMap((m) => {
    const ts = sorted.filter((s) => s.target === m).map((s) => s.t)
    return ts.slice(1).map((t, i) => t - ts[i]!)
  })
  gaps.sort((a, b) => a - b)
  return {
    minHealthyMembers: min,
    members: members.length,
    apiUnavailableMs,
    etcdProbes: sorted.filter((s) => s.target !== api).length,
    apiProbes: sorted.filter((s) => s.target === api).length,
    ...(gaps.length ? { resolutionMs: gaps[Math.floor(gaps.length / 2)] } : {}),
    ...(quorumLoss ? { quorumLoss } : {}),
  }
}

/** Start probing etcd and the API through the VIP; stop() ends it and returns the summary. */
export function startProbes(c: Cluster, intervalMs = 1000): { stop(): Promise<ProbeSummary> } {
  const cps = controlPlanes(c.inv).map((n) => ({ name: n.name, address: n.address }))
  const vip = apiEndpoints(c, []).at(-1)!
  const probes = etcdAndApiProbes(c, cps, 5000)
  const samples: ProbeSample[] = []
  const started = Date.now()
  const busy = new Set<string>()
  const running: Promise<void>[] = []
  const fire = (target: string, call: () => Promise<unknown>) => {
    if (busy.has(target)) return
    busy.add(target)
    const t0 = Date.now() - started
    const p = call().then(
      () => void samples.push({ t: Date.now() - started, t0, target, ok: true }),
      (e: unknown) => void samples.push({ t: Date.now() - started, t0, target, ok: false, error: errText(e) }),
    )
    running.push(p.finally(() => busy.delete(target)))
  }
  const tick = () => {
    for (const n of cps) fire(n.name, () => probes.etcd(n))
    fire('api', () => probes.api(vip))
  }
  tick()
  const timer = setInterval(tick, intervalMs)
  return {
    async stop() {
      clearInterval(timer)
      await Promise.allSettled(running)
      return summarizeProbes(
        samples,
        cps.map((n) => n.name),
      )
    },
  }
}

export interface NodeTimeline {
  node: string
  kind: string
  /** ISO times. */
  down: string
  back: string
  downtimeMs: number
  probes?: ProbeSummary
}

export function formatTimeline(rows: NodeTimeline[]): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`
  return rows
    .map((r) => {
      const p = r.probes
      const etcd = p
        ? `; etcd ≥ ${p.minHealthyMembers}/${p.members} healthy, API via VIP unavailable ${s(p.apiUnavailableMs)} (${p.etcdProbes + p.apiProbes} probes${p.resolutionMs ? `, every ~${p.resolutionMs} ms per member` : ''})`
        : ''
      const loss = p?.quorumLoss
        ? `\n  below quorum ${s(p.quorumLoss.t)} into the upgrade: ${p.quorumLoss.missing.map((m) => `${m.member}: ${m.error}`).join('; ')}`
        : ''
      return `${r.node} (${r.kind}): down ${r.down.slice(11, 23)}, back ${r.back.slice(11, 23)}, downtime ${s(r.downtimeMs)}${etcd}${loss}`
    })
    .join('\n')
}
