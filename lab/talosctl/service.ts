// talosctl service [<id> [start|stop|restart|status]]: the node's Talos services derived from lab state
// (etcd from its real process and health, kube-apiserver-backed kubelet, apid/machined always up).
import type { RunContext } from './context.ts'
import { RpcFailure, nodeErrors, perNode, warn, withClient } from './common.ts'
import { table, tabwrite } from './tabwriter.ts'
import { etcdHealthy, isConfigured, clusterBootstrapped, reconcileNode, stopEtcd } from '../node-services.ts'
import { isAlive } from '../processes.ts'
import { loadNode, updateNode, type LabNode } from '../state.ts'
import * as io from './io.ts'

export interface ServiceEvent {
  state: string
  msg: string
  ts: number
}
export interface ServiceInfo {
  id: string
  state: 'Running' | 'Preparing' | 'Finished' | 'Waiting' | 'Failed'
  health: 'OK' | 'Fail' | '?'
  lastMessage?: string
  events: ServiceEvent[]
}

/** Go's time.Duration.String() of a rounded-to-seconds duration. */
export function goDuration(ms: number): string {
  let s = Math.max(0, Math.round(ms / 1000))
  if (s === 0) return '0s'
  const h = Math.floor(s / 3600)
  s -= h * 3600
  const m = Math.floor(s / 60)
  s -= m * 60
  return (h ? `${h}h` : '') + (h || m ? `${m}m` : '') + `${s}s`
}

export async function nodeServices(n: LabNode): Promise<ServiceInfo[]> {
  const booted = Date.parse(n.bootedAt ?? new Date().toISOString())
  const running = (id: string, extra: Partial<ServiceInfo> = {}): ServiceInfo => ({
    id,
    state: 'Running',
    health: 'OK',
    events: [
      { state: 'Preparing', msg: 'Running pre state', ts: booted },
      { state: 'Preparing', msg: 'Creating service runner', ts: booted + 1000 },
      { state: 'Running', msg: 'Service started as goroutine', ts: booted + 1000 },
      { state: 'Running', msg: 'Health check successful', ts: booted + 2000 },
    ],
    ...extra,
  })
  const out: ServiceInfo[] = [
    running('apid'),
    running('auditd'),
    running('containerd'),
    running('cri'),
    running('dashboard'),
    running('machined'),
    running('syslogd'),
    running('trustd'),
    running('udevd'),
  ]
  if (n.role === 'controlplane') {
    const alive = isAlive(n.etcd.pid)
    if (alive && (await etcdHealthy(n))) out.push(running('etcd'))
    else if (alive)
      out.push({
        id: 'etcd',
        state: 'Running',
        health: 'Fail',
        lastMessage: 'context deadline exceeded',
        events: [{ state: 'Running', msg: 'Health check failed: context deadline exceeded', ts: Date.now() - 5000 }],
      })
    else if (n.faults.etcdDataLoss)
      // its data destroyed, etcd exits at start; Talos's restart runner retries forever (v1.10.3
      // internal/app/machined/pkg/system/runner/restart/restart.go, services/etcd.go Runner: restart.Forever)
      out.push({
        id: 'etcd',
        state: 'Waiting',
        health: '?',
        events: [
          { state: 'Running', msg: 'Service started as goroutine', ts: Date.now() - 6000 },
          {
            state: 'Waiting',
            msg: 'Error running Containerd(etcd), going to restart forever: task "etcd" failed: exit code 1',
            ts: Date.now() - 1000,
          },
        ],
      })
    else if (n.etcd.recoverError)
      // the recovery runs in etcd's pre stage: its error fails the service (services/etcd.go recoverFromSnapshot)
      out.push({
        id: 'etcd',
        state: 'Failed',
        health: '?',
        events: [
          { state: 'Preparing', msg: 'Running pre state', ts: Date.now() - 3000 },
          { state: 'Failed', msg: `Failed to run pre stage: ${n.etcd.recoverError}`, ts: Date.now() - 1000 },
        ],
      })
    else if (!clusterBootstrapped() || !n.etcd.memberId)
      out.push({
        id: 'etcd',
        state: 'Preparing',
        health: '?',
        events: [
          { state: 'Waiting', msg: 'Waiting for service "cri" to be "up", time sync', ts: booted },
          { state: 'Preparing', msg: 'Running pre state', ts: booted + 1000 },
        ],
      })
    else
      out.push({
        id: 'etcd',
        state: 'Finished',
        health: '?',
        events: [
          { state: 'Running', msg: 'Service started as goroutine', ts: booted },
          { state: 'Finished', msg: 'Service finished successfully', ts: Date.now() - 1000 },
        ],
      })
  }
  const kubeletReady = n.role === 'worker' ? clusterBootstrapped() : clusterBootstrapped() && isAlive(n.etcd.pid)
  // kubelet exiting at start: Talos's restart runner (internal/app/machined/pkg/system/runner/restart/restart.go)
  // reports "Error running %v, going to restart forever: %v" and waits before the next try
  const restarting = 'Error running Containerd(kubelet), going to restart forever: task "kubelet" failed: exit code 1'
  if (n.kubeletError)
    out.push({
      id: 'kubelet',
      state: 'Waiting',
      health: '?',
      lastMessage: restarting,
      events: [
        { state: 'Running', msg: 'Service started as goroutine', ts: booted + 1000 },
        { state: 'Waiting', msg: restarting, ts: booted + 2000 },
      ],
    })
  else
    out.push(
      kubeletReady
        ? running('kubelet')
        : {
            id: 'kubelet',
            state: 'Running',
            health: 'Fail',
            lastMessage: 'Get "http://127.0.0.1:10248/healthz": dial tcp 127.0.0.1:10248: connect: connection refused',
            events: [
              {
                state: 'Running',
                msg: 'Health check failed: Get "http://127.0.0.1:10248/healthz": dial tcp 127.0.0.1:10248: connect: connection refused',
                ts: booted + 3000,
              },
            ],
          },
    )
  return out.sort((a, b) => a.id.localeCompare(b.id))
}

export async function service(ctx: RunContext): Promise<void> {
  let s
  try {
    s = await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(`error listing services: ${e.message}`)
    throw e
  }
  const [id, action] = ctx.args
  const now = Date.now()
  if (!id) {
    const results = await perNode(s, (n) => nodeServices(n))
    const err = nodeErrors(results)
    const ok = results.filter((r) => !r.error)
    if (err && !ok.length) throw new Error(`error listing services: ${err}`)
    if (err) warn(err)
    const rows: string[][] = [['NODE', 'SERVICE', 'STATE', 'HEALTH', 'LAST CHANGE', 'LAST EVENT']]
    for (const r of ok)
      for (const svc of r.value!) {
        const last = svc.events[svc.events.length - 1]
        rows.push([
          r.addr,
          svc.id,
          svc.state,
          svc.health,
          `${last ? goDuration(now - last.ts) : ''} ago`,
          last?.msg ?? '<none>',
        ])
      }
    io.out(table(rows))
    return
  }
  if (action && action !== 'status') {
    if (!['start', 'stop', 'restart'].includes(action)) throw new Error(`unknown action "${action}"`)
    const results = await perNode(s, async (n) => {
      if (id !== 'etcd' || n.role !== 'controlplane')
        throw new Error(`rpc error: code = Unknown desc = service "${id}" can't be ${action}ed via the API`)
      if (action !== 'start') await stopEtcd(n.name)
      if (action !== 'stop') {
        updateNode(n.name, (x) => delete x.faults.etcdCrash)
        await reconcileNode(n.name)
      }
      return `Service "${id}" ${action === 'stop' ? 'stopped' : action === 'start' ? 'started' : 'restarted'}`
    })
    const err = nodeErrors(results)
    const ok = results.filter((r) => !r.error)
    if (err && !ok.length) throw new Error(`error starting service: ${err}`)
    if (err) warn(err)
    io.out(table([['NODE', 'RESPONSE'], ...ok.map((r) => [r.addr, r.value!])]))
    return
  }
  const results = await perNode(s, async (n) => (await nodeServices(loadNode(n.name))).find((x) => x.id === id))
  const err = nodeErrors(results)
  const found = results.filter((r) => !r.error && r.value)
  if (err && !results.some((r) => !r.error)) throw new Error(`error listing services: ${err}`)
  if (err) warn(err)
  if (!found.length) throw new Error(`service "${id}" is not registered on any nodes`)
  let text = ''
  for (const r of found) {
    const svc = r.value!
    text += `NODE\t${r.addr}\nID\t${svc.id}\nSTATE\t${svc.state}\nHEALTH\t${svc.health}\n`
    if (svc.lastMessage) text += `LAST HEALTH MESSAGE\t${svc.lastMessage}\n`
    let label = 'EVENTS'
    for (const ev of [...svc.events].reverse()) {
      text += `${label}\t[${ev.state}]: ${ev.msg} (${goDuration(now - ev.ts)} ago)\n`
      label = ''
    }
  }
  io.out(tabwrite(text))
}

export { isConfigured }

/** `talosctl logs kubelet`: the lab kubelet's start failure as kubelet logs it (klog), prefixed by the node. */
export async function logs(ctx: RunContext): Promise<void> {
  let s
  try {
    s = await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(`error fetching logs: ${e.message}`)
    throw e
  }
  const [id] = ctx.args
  const results = await perNode(s, async (n) => {
    if (id !== 'kubelet') return []
    if (!n.kubeletError) return [`I${klogTime(Date.now())} kubelet.go:2468] "Starting kubelet main sync loop"`]
    return [
      `E${klogTime(Date.now())} kubelet.go:1678] "Failed to start ContainerManager" err=${JSON.stringify(n.kubeletError)}`,
    ]
  })
  for (const r of results) if (!r.error) for (const l of r.value!) io.out(`${r.addr}: ${l}\n`)
  const err = nodeErrors(results)
  if (err) throw new Error(`error fetching logs: ${err}`)
}

/** klog's "MMDD hh:mm:ss.uuuuuu    1 " header. */
function klogTime(ms: number): string {
  const d = new Date(ms)
  const p = (x: number, w = 2) => String(x).padStart(w, '0')
  return `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds() * 1000, 6)}    2361`
}
