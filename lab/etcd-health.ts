// The etcd service's health as `talosctl service etcd` shows it on Talos v1.10.3: machined's health runner
// (internal/app/machined/pkg/system/health/check.go Run) checks etcd 5 s after the service starts and then every 20 s,
// giving each check 15 s (services/etcd.go HealthSettings); the check is a quorum read of the key "health"
// (internal/pkg/etcd/etcd.go ValidateQuorum, QuorumCheckTimeout 15 s). The service shows the last result, '?' before
// the first. The lab used to ask for a status when asked and call it failed after 1.5 s: on a loaded host that failed
// a healthy member, and a member without quorum (which still answers a status) passed.
import { etcdClient } from './node-services.ts'
import { isAlive, runningForMs } from './processes.ts'
import type { LabNode } from './state.ts'

export const HEALTH_INITIAL_DELAY_MS = 5_000
export const HEALTH_PERIOD_MS = 20_000
export const QUORUM_CHECK_TIMEOUT_MS = 15_000
/** How long a query waits for a check already under way before it answers with what is known. */
const ANSWER_WAIT_MS = 1_000

export interface EtcdHealth {
  health: 'OK' | 'Fail' | '?'
  message: string
}

interface Runner {
  pid: number
  last?: EtcdHealth
  inFlight?: Promise<void>
  timer?: NodeJS.Timeout
}

/** One runner per etcd process: node name → its runner (a new pid is a new service run). */
const runners = new Map<string, Runner>()

/** One of machined's checks: a quorum read of "health" within 15 s, its error as Go's client reports it. */
function quorumCheck(n: LabNode): Promise<EtcdHealth> {
  return etcdClient(n, QUORUM_CHECK_TIMEOUT_MS)
    .get('health')
    .then(
      (): EtcdHealth => ({ health: 'OK', message: '' }),
      // a check that ran out of its 15 s fails with its context's error, and one etcd refused with etcd's own error,
      // as Go's client reports them (without the lab client's URL: "etcdserver: request timed out" without quorum)
      (e: Error): EtcdHealth => {
        const message = /TimeoutError|AbortError/.test(e.message)
          ? 'context deadline exceeded'
          : (/etcdserver: .*/.exec(e.message)?.[0] ?? e.message)
        return { health: 'Fail', message }
      },
    )
}

function check(n: LabNode, r: Runner): Promise<void> {
  r.inFlight ??= quorumCheck(n)
    .then((h) => void (r.last = h))
    .finally(() => (r.inFlight = undefined))
  return r.inFlight
}

/**
 * Resolves when machined would first call the etcd service of `n` healthy: its checks on their schedule (5 s after
 * etcd started, then every 20 s) until one passes. What waits for it on Talos: the control plane's static pods
 * (k8s/control_plane_static_pod.go:111-125, "wait for etcd to be healthy as kube-apiserver is using local etcd
 * instance") and the VIP's campaign (network/operator/vip.go:155-165, Running && Healthy). A learner fails the quorum
 * read ("rpc not supported for learner"), so a joining control plane starts neither until it is promoted.
 * `pidOf` gives etcd's current process (a new one starts the schedule again); `onFail` hears each failed check.
 */
export async function untilEtcdHealthy(
  n: LabNode,
  pidOf: () => number | undefined,
  onFail: (h: EtcdHealth) => void = () => undefined,
): Promise<void> {
  let pid = pidOf()
  let due = Math.max(0, HEALTH_INITIAL_DELAY_MS - (pid ? runningForMs(pid) : 0))
  for (;;) {
    await new Promise((res) => setTimeout(res, due))
    const current = pidOf()
    if (current !== pid || !isAlive(current)) {
      pid = current
      due = Math.max(1000, HEALTH_INITIAL_DELAY_MS - (current && isAlive(current) ? runningForMs(current) : 0))
      continue
    }
    const startedAt = Date.now()
    const h = await quorumCheck(n)
    if (h.health === 'OK') return
    onFail(h)
    // the period runs from one check's start to the next's
    due = Math.max(0, HEALTH_PERIOD_MS - (Date.now() - startedAt))
  }
}

function start(n: LabNode, pid: number): Runner {
  const r: Runner = { pid }
  const tick = () => {
    if (!isAlive(pid) || runners.get(n.name) !== r) return stop(n.name, r)
    void check(n, r)
  }
  const first = setTimeout(
    () => {
      tick()
      r.timer = setInterval(tick, HEALTH_PERIOD_MS).unref()
    },
    Math.max(0, HEALTH_INITIAL_DELAY_MS - runningForMs(pid)),
  ).unref()
  r.timer = first
  runners.set(n.name, r)
  return r
}

function stop(name: string, r: Runner): void {
  clearTimeout(r.timer)
  clearInterval(r.timer)
  if (runners.get(name) === r) runners.delete(name)
}

/** The health `talosctl service etcd` shows for a node whose etcd process `pid` is running. */
export async function etcdServiceHealth(n: LabNode, pid: number): Promise<EtcdHealth> {
  let r = runners.get(n.name)
  if (r?.pid !== pid) {
    if (r) stop(n.name, r)
    r = start(n, pid)
  }
  // the lab learns of a process when first asked: a check already due runs now, and the answer waits for it briefly
  if (!r.last && runningForMs(pid) >= HEALTH_INITIAL_DELAY_MS) {
    const due = check(n, r)
    await Promise.race([due, new Promise((res) => setTimeout(res, ANSWER_WAIT_MS).unref())])
  }
  return r.last ?? { health: '?', message: '' }
}
