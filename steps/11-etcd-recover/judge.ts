// 11-etcd-recover's judgements as pure functions: may the cluster be recovered from a snapshot at all (only when
// quorum is lost and every control plane answers), which control planes need their etcd data wiped, and the RPO/RTO
// report. The I/O that feeds them is assess.ts; unit-tested in test/unit/etcd-recover.test.ts.
import { hasLeader } from '../cluster-health.ts'
import { formatAge } from '../../lib/talos/etcd-backups.ts'

/** What one control-plane node says about its etcd. */
export interface NodeEtcd {
  name: string
  address: string
  /** `talosctl service etcd` STATE (Running, Preparing, Waiting, Finished, Failed, …); undefined when it did not answer. */
  state?: string
  /** The newest service event, for messages. */
  lastEvent?: string
  /** Why the Talos API did not answer. */
  unreachable?: string
  /** In maintenance mode: no machine config, so no etcd to recover. */
  maintenance?: boolean
  /** What `talosctl ls /var/lib/etcd` listed, read for a node whose etcd is Preparing; undefined when not read. */
  dataDir?: string[]
  /** `talosctl etcd status` when the member answered it. */
  status?: { memberId: string; leader: string; learner: boolean; errors: string; raftIndex: number }
}

/**
 * The newest event of an etcd that gave up waiting to join: with an empty data dir etcd's pre stage retries
 * buildInitialCluster for constants.EtcdJoinTimeout = 30 min (Talos v1.10.3 services/etcd.go:314,
 * pkg/machinery/constants/constants.go:933), then fails with "failed to build initial etcd cluster" (etcd.go:515);
 * the service is then Failed and nothing restarts it (system.go:186-198), until a bootstrap (BootstrapEtcd stops and
 * reloads it whatever its state, etcd.go:656-690) or a reboot.
 */
export const JOIN_GAVE_UP = /failed to build initial etcd cluster/

/**
 * What etcd's service says about the node's /var/lib/etcd. `waiting`: Preparing, waiting to join or be bootstrapped
 * with an empty data dir. `gave-up`: Failed after the join timeout, the data dir still empty (a bootstrap
 * --recover-from works on it; to join, it needs a reboot). `has-data`: anything else, wiped before a restore (a failed
 * restore too: etcdutl wrote into the dir before it failed).
 *
 * Preparing alone is not proof of an empty dir: Talos shows it for the whole pre stage, which for a node with data also
 * pulls the image and waits for the PKI (service_runner.go:264-270, services/etcd.go:87-135). So when `dataDir` (what
 * `talosctl ls /var/lib/etcd` listed) was read, a Preparing node with entries there has data. (A restore on such a node
 * would be refused by machined anyway: "etcd data directory is not empty", AlreadyExists.)
 */
export function etcdDataDir(
  state: string | undefined,
  lastEvent: string | undefined,
  dataDir?: string[],
): 'waiting' | 'gave-up' | 'has-data' {
  if (state === 'Preparing') return dataDir?.length ? 'has-data' : 'waiting'
  if (state === 'Failed' && JOIN_GAVE_UP.test(lastEvent ?? '')) return 'gave-up'
  return 'has-data'
}

export interface RecoveryVerdict {
  /** Set when recovering would be wrong or cannot work: the whole message (a refusal, exit 3). */
  refusal?: string
  /** Control planes whose etcd data dir is not empty (etcd neither waiting nor given up waiting): reset them first. */
  needWipe: string[]
  /**
   * Control planes with an empty data dir: etcd waits in Preparing, or gave up waiting to join (Failed after Talos's
   * 30-minute join timeout; also in gaveUp). Ready to be restored on.
   */
  waiting: string[]
  /** Of waiting: etcd gave up waiting to join; after the restore they are rebooted to join it. */
  gaveUp: string[]
  /** Members whose etcd still runs without quorum: their data may be newer than any snapshot. */
  survivors: string[]
  /** Members whose etcd is stopped (Finished): their data may still be whole. */
  stopped: string[]
}

/**
 * Talos's guide first asks to "make sure that etcd cluster can't be recovered" (disaster-recovery.md, Recovery): a
 * member that knows a leader means quorum exists, and a restore would throw away everything written since the
 * snapshot. The procedure resets every control plane and has them join the restored one, so each must answer.
 */
export function judgeRecovery(nodes: NodeEtcd[]): RecoveryVerdict {
  const needWipe: string[] = []
  const waiting: string[] = []
  const gaveUp: string[] = []
  const survivors: string[] = []
  const stopped: string[] = []
  const withLeader = nodes.filter((n) => n.status && hasLeader(n.status.leader) && !n.status.errors)
  if (withLeader.length) {
    const who = withLeader.map((n) => `${n.name} follows leader ${n.status!.leader}`).join(', ')
    return {
      refusal:
        `etcd has quorum (${who}): there is nothing to recover, and a restore would throw away everything written since the snapshot. ` +
        `If a member is down, bring it back (see "Quorum lost" in the README) or replace its machine (12-replace-node). Nothing was changed.`,
      needWipe,
      waiting,
      gaveUp,
      survivors,
      stopped,
    }
  }
  const silent = nodes.filter((n) => n.unreachable !== undefined)
  const maint = nodes.filter((n) => n.maintenance)
  if (silent.length || maint.length) {
    const why = [
      ...silent.map((n) => `${n.name}: ${n.address} does not answer (${n.unreachable})`),
      ...maint.map((n) => `${n.name}: in maintenance mode (no machine config)`),
    ].join('; ')
    return {
      refusal:
        `every control plane must answer the Talos API to be recovered (each is reset, then joins the restored member): ${why}. ` +
        `Bring ${[...silent, ...maint].map((n) => n.name).join(', ')} back (power it on, apply its config with 02-configure), then re-run. ` +
        `If that brings quorum back, no recovery is needed. Nothing was changed.`,
      needWipe,
      waiting,
      gaveUp,
      survivors,
      stopped,
    }
  }
  for (const n of nodes) {
    const dir = etcdDataDir(n.state, n.lastEvent, n.dataDir)
    if (dir === 'has-data') needWipe.push(n.name)
    else waiting.push(n.name)
    if (dir === 'gave-up') gaveUp.push(n.name)
    if (n.status) survivors.push(n.name)
    if (n.state === 'Finished') stopped.push(n.name)
  }
  return { needWipe, waiting, gaveUp, survivors, stopped }
}

/** What the restore loses, before the confirmation. */
export function lossSummary(o: {
  file: string
  takenAt: Date
  revision: number
  totalKeys: number
  now: Date
  verdict: RecoveryVerdict
  nodes: NodeEtcd[]
}): string[] {
  const age = formatAge(o.now.getTime() - o.takenAt.getTime())
  const lines = [
    `snapshot   ${o.file}`,
    `taken      ${o.takenAt.toISOString()} (${age} ago), revision ${o.revision}, ${o.totalKeys} keys`,
    `lost       everything written to etcd after ${o.takenAt.toISOString()}: Kubernetes objects created or changed in the last ${age}`,
  ]
  const survivors = o.nodes.filter((n) => o.verdict.survivors.includes(n.name))
  if (survivors.length)
    lines.push(
      `survivors  ${survivors.map((n) => `${n.name} (etcd runs without quorum, raft index ${n.status!.raftIndex})`).join(', ')}: ` +
        `its data may be newer than the snapshot; to keep it, stop here, take a snapshot from it (talosctl -n ${survivors[0]!.address} etcd snapshot FILE) and pass it with --snapshot FILE`,
    )
  else lines.push('survivors  none: no member answers etcd status, so no newer revision can be read')
  if (o.verdict.stopped.length)
    lines.push(
      `stopped    etcd on ${o.verdict.stopped.join(', ')} is stopped, not crashed: if its data is whole, ` +
        `talosctl service etcd start may bring quorum back without losing anything`,
    )
  return lines
}

export interface RecoveryReport {
  snapshotFile: string
  takenAt: Date
  revision: number
  /** When etcd answered again on the restored member. */
  recoveredAt: Date
  startedAt: Date
  /** When the Kubernetes API first answered after the restore. */
  apiAt?: Date
  /** When etcd had every member voting, the API answered and every node was Ready. */
  healthyAt?: Date
}

/** RPO: what the snapshot missed (its age when restored); RTO: the runbook's start to the API answering. */
export function formatRecovery(r: RecoveryReport): string[] {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`
  const rpoMs = r.recoveredAt.getTime() - r.takenAt.getTime()
  const lines = [
    `RPO  ${formatAge(rpoMs)} (${s(rpoMs)}): the cluster is back at ${r.takenAt.toISOString()}, revision ${r.revision} (${r.snapshotFile}); ` +
      `writes after it are lost (how many revisions is unknown: talosctl etcd status shows none, and the lost members' data is gone)`,
  ]
  if (r.apiAt)
    lines.push(
      `RTO  ${s(r.apiAt.getTime() - r.startedAt.getTime())} from this run's start to the Kubernetes API answering`,
    )
  if (r.healthyAt)
    lines.push(
      `     ${s(r.healthyAt.getTime() - r.startedAt.getTime())} until every etcd member voted and every node was Ready`,
    )
  return lines
}
