// The failover drill's pollers: fine-grained, overlapping probes of every surviving etcd member, every API endpoint
// and the workloads, each observation fed to a FailoverTimeline with its start and end time since the fault.
//
// Resolution: one `talosctl etcd status` is a process spawn plus a gRPC round trip (the lab's talosctl is a Node
// process: a few hundred ms on its own). Waiting for each call before the next would see a new leader only one
// whole call later. So each probe key (a node, an endpoint) starts a new call every `intervalMs` while fewer than
// `maxInFlight` are running: with latency L the observations of one node arrive about every max(intervalMs,
// L / maxInFlight) ms, and the summary's `resolution` reports the gaps actually achieved. An observation's time is
// when its call returned (an upper bound: the state it reports held somewhere in the call's run time, also kept).
import { sleep } from 'zx'
import type { FailoverTimeline, Observation, TimelineEvent } from './judge.ts'
import type { EtcdAndApiProbes } from '../live-probes.ts'

export interface FailoverProbes extends EtcdAndApiProbes {
  /** The baseline pods that are disrupted now; throws when no API answered. */
  workloads(): Promise<string[]>
}

export interface WatchOptions {
  /** Probed for etcd: the target and every surviving control-plane node. */
  etcdNodes: { name: string; address: string }[]
  apiEndpoints: string[]
  /** performance.now() when the fault was issued. */
  t0: number
  intervalMs?: number
  maxInFlight?: number
  /** Probes in flight per API endpoint (default 1: kubectl is cheap, and the API is not what needs ms resolution). */
  apiInFlight?: number
  /**
   * The cluster VIP, probed every vipIntervalMs with up to maxInFlight overlapping calls: on a graceful shutdown of
   * its holder the VIP moves in a couple of hundred ms, and probes 100 ms apart could step over the gap.
   */
  vipEndpoint?: string
  /** Default 25 ms: an in-process /readyz call costs a TLS handshake (lib/kube/readyz.ts). */
  vipIntervalMs?: number
  /**
   * VIP probes in flight (default 16). A probe is a TLS handshake and a readyz answer: up to a second on a loaded API
   * server. With 4 in flight a new probe started only every ~250 ms, and a VIP move that short went unseen (the lab's
   * deploy e2e on 2 cores: "answered throughout" while the holder log showed the move).
   */
  vipInFlight?: number
  /** Nodes probed with at most one call in flight (the target: calls to a dead host only wait out their timeout). */
  lowPriority?: string[]
  workloadIntervalMs?: number
  timeoutMs: number
  /** Keep watching this long after the timeline settles, to catch flaps. */
  lingerMs?: number
  signal?: AbortSignal
  onEvent?: (e: TimelineEvent) => void
  now?: () => number
}

const errText = (e: unknown) => (e instanceof Error ? e.message.split('\n')[0]! : String(e))

/** Poll until the timeline settles (plus lingerMs) or timeoutMs passes; waits for in-flight probes before returning. */
export async function watchFailover(
  tl: FailoverTimeline,
  probes: FailoverProbes,
  o: WatchOptions,
): Promise<{ settled: boolean; timedOut: boolean }> {
  const now = o.now ?? (() => performance.now())
  const since = () => Math.round(now() - o.t0)
  const interval = o.intervalMs ?? 100
  const vipInterval = Math.min(interval, o.vipIntervalMs ?? 25)
  const maxInFlight = o.maxInFlight ?? 4
  const workloadInterval = o.workloadIntervalMs ?? 1000
  const linger = o.lingerMs ?? 2000
  const inFlight = new Map<string, number>()
  const lastStart = new Map<string, number>()
  const pending = new Set<Promise<void>>()

  const feed = (obs: Observation) => {
    for (const e of tl.observe(obs)) o.onEvent?.(e)
  }
  const launch = (key: string, every: number, limit: number, call: (startedAt: number) => Promise<Observation>) => {
    const t = now()
    if ((inFlight.get(key) ?? 0) >= limit || t - (lastStart.get(key) ?? -Infinity) < every) return
    lastStart.set(key, t)
    inFlight.set(key, (inFlight.get(key) ?? 0) + 1)
    const startedAt = since()
    const p = call(startedAt)
      .then(feed)
      .finally(() => {
        inFlight.set(key, inFlight.get(key)! - 1)
        pending.delete(p)
      })
    pending.add(p)
  }

  let settledAt: number | undefined
  let timedOut = false
  for (;;) {
    if (o.signal?.aborted) break
    for (const n of o.etcdNodes) {
      const limit = o.lowPriority?.includes(n.name) ? 1 : maxInFlight
      launch(`etcd:${n.name}`, interval, limit, async (startedAt) => {
        try {
          const r = await probes.etcd(n)
          return { kind: 'etcd', node: n.name, startedAt, at: since(), ok: true, ...r }
        } catch (e) {
          return { kind: 'etcd', node: n.name, startedAt, at: since(), ok: false, error: errText(e) }
        }
      })
    }
    for (const ep of o.apiEndpoints) {
      const isVip = ep === o.vipEndpoint
      launch(
        `api:${ep}`,
        isVip ? vipInterval : interval,
        isVip ? (o.vipInFlight ?? 16) : (o.apiInFlight ?? 1),
        async (startedAt) => {
          try {
            await probes.api(ep)
            return { kind: 'api', endpoint: ep, startedAt, at: since(), ok: true }
          } catch (e) {
            return { kind: 'api', endpoint: ep, startedAt, at: since(), ok: false, error: errText(e) }
          }
        },
      )
    }
    launch('workloads', workloadInterval, 1, async (startedAt) => {
      try {
        return { kind: 'workloads', startedAt, at: since(), ok: true, disrupted: await probes.workloads() }
      } catch (e) {
        return { kind: 'workloads', startedAt, at: since(), ok: false, error: errText(e) }
      }
    })
    if (tl.settled) settledAt ??= now()
    else settledAt = undefined
    if (settledAt !== undefined && now() - settledAt >= linger) break
    if (now() - o.t0 >= o.timeoutMs) {
      timedOut = true
      break
    }
    await sleep(Math.min(25, interval, o.vipEndpoint ? vipInterval : 25))
  }
  await Promise.allSettled([...pending])
  return { settled: tl.settled, timedOut }
}
