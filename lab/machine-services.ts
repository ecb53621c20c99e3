// machined's services on a lab machine (what ServiceList answers and `talosctl service` shows), derived from lab state.
import { ETCD_JOIN_TIMED_OUT, etcdJoinGaveUpAt, etcdPreStageAt, clusterBootstrapped } from './node-services.ts'
import { etcdServiceHealth } from './etcd-health.ts'
import { isAlive } from './processes.ts'
import type { LabNode } from './state.ts'

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

/**
 * The Talos services of a lab machine as machined lists them, derived from the lab's state: etcd from its real process
 * and health (and the faults that stop it), kubelet from the cluster's state and its own start error, the rest up.
 */
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
    const h = alive ? await etcdServiceHealth(n, n.etcd.pid!) : undefined
    if (h?.health === 'OK') out.push(running('etcd'))
    else if (h?.health === '?')
      out.push({
        id: 'etcd',
        state: 'Running',
        health: '?',
        events: [{ state: 'Running', msg: 'Service started as goroutine', ts: Date.now() - 1000 }],
      })
    else if (h)
      out.push({
        id: 'etcd',
        state: 'Running',
        health: 'Fail',
        lastMessage: h.message,
        events: [{ state: 'Running', msg: `Health check failed: ${h.message}`, ts: Date.now() - 5000 }],
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
    else if (!clusterBootstrapped() || !n.etcd.memberId) {
      // an empty data dir waits in the pre stage to join (or to be bootstrapped) for EtcdJoinTimeout, then fails and
      // stays Failed (lab/node-services.ts etcdJoinGaveUpAt; services/etcd.go:314, :513-516; system.go:186-198)
      // before that it waits for the CRI and its condition (lab/node-services.ts etcdPreStageAt)
      const gaveUpAt = etcdJoinGaveUpAt(n)
      const waiting = Date.now() < etcdPreStageAt(n)
      const events: ServiceEvent[] = [
        { state: 'Waiting', msg: 'Waiting for service "cri" to be "up", time sync', ts: booted },
        ...(waiting ? [] : [{ state: 'Preparing', msg: 'Running pre state', ts: etcdPreStageAt(n) }]),
      ]
      if (gaveUpAt !== undefined) events.push({ state: 'Failed', msg: ETCD_JOIN_TIMED_OUT, ts: gaveUpAt })
      const state = gaveUpAt !== undefined ? 'Failed' : waiting ? 'Waiting' : 'Preparing'
      out.push({ id: 'etcd', state, health: '?', events })
    } else
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
