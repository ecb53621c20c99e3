// The steps of 11-etcd-recover: assess (refuse while quorum exists), pick the snapshot and say what it loses, wipe
// etcd's data on the control planes that still have it, restore on one, reboot those whose etcd gave up waiting to
// join, wait until the cluster is healthy, run the checks, report RPO and RTO. The runbook only wires them; reads are assess.ts, judging is judge.ts (pure), the
// changes are recover.ts.
import { RefusedError, type StepHandle } from '../../lib/runner/runner.ts'
import { log } from '../../lib/runner/log.ts'
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { formatAge } from '../../lib/talos/etcd-backups.ts'
import { requireChecksPass, runSuite } from '../run-checks.ts'
import { explicitSnapshot, newestVerifiedSnapshot, readNodes, type PickedSnapshot } from './assess.ts'
import {
  etcdDataDir,
  formatRecovery,
  judgeRecovery,
  lossSummary,
  type NodeEtcd,
  type RecoveryVerdict,
} from './judge.ts'
import {
  etcdService,
  pickRecoveryNode,
  rebootToJoin,
  restoreOn,
  someMemberHasLeader,
  waitHealthy,
  wipeNode,
} from './recover.ts'

/** What the runbook builds from its flags, and what the steps learn as the run goes (RPO and RTO need the times). */
export interface RecoverCtx extends Cluster {
  startedAt: Date
  wantedNode?: string
  snapshotFlag?: string
  nodeTimeoutMs: number
  healthyTimeoutMs: number
  nodes?: NodeEtcd[]
  verdict?: RecoveryVerdict
  snapshot?: PickedSnapshot
  recoveryNode?: InventoryNode
  recoveredAt?: Date
  apiAt?: Date
  healthyAt?: Date
}

/** The context as a step sees it: the runner adds whether this run is a dry run. */
type StepCtx = RecoverCtx & { dryRun: boolean }

/** Read every control plane and judge; refuses (exit 3) while quorum exists or a control plane does not answer. */
async function assess(c: RecoverCtx): Promise<RecoveryVerdict> {
  c.nodes = await readNodes(c, c.talos.timeoutMs)
  c.verdict = judgeRecovery(c.nodes)
  if (c.verdict.refusal) throw new RefusedError(c.verdict.refusal)
  return c.verdict
}

const pickSnapshot = (c: RecoverCtx) =>
  c.snapshotFlag ? explicitSnapshot(c.paths.outDir, c.snapshotFlag) : newestVerifiedSnapshot(c.paths.outDir)

const nodeNamed = (c: RecoverCtx, name: string) => c.inv.nodes.find((n) => n.name === name)!

/** assess: refuse while etcd has quorum; say, per control plane, whether its etcd waits or its data must go. */
export async function assessAndShow(c: RecoverCtx) {
  const v = await assess(c)
  for (const n of c.nodes!) {
    const verdict = v.gaveUp.includes(n.name)
      ? "gave up waiting to join (Talos's 30-minute join timeout; Failed, not restarted): its data dir is empty, it can be restored on, or rebooted after the restore to join"
      : v.waiting.includes(n.name)
        ? 'waits with an empty data dir'
        : 'has a data dir: to be wiped'
    log.info(`  ${n.name}: etcd ${n.state ?? '?'}${n.lastEvent ? ` (${n.lastEvent.split('\n')[0]})` : ''} → ${verdict}`)
  }
  log.warn(`  etcd has no quorum and no member knows a leader: recovering from a snapshot`)
  return { needWipe: v.needWipe, waiting: v.waiting, gaveUp: v.gaveUp, survivors: v.survivors, stopped: v.stopped }
}

/** pick-snapshot: the snapshot to restore and what restoring it loses. */
export async function pickAndShowSnapshot(c: RecoverCtx) {
  const v = c.verdict ?? (await assess(c))
  c.snapshot = await pickSnapshot(c)
  for (const l of lossSummary({ ...c.snapshot, now: new Date(), verdict: v, nodes: c.nodes! })) log.info(`  ${l}`)
  const { entry: _e, ...picked } = c.snapshot
  return picked
}

/** What wipe-etcd asks before it runs (unless --yes): the snapshot, its age, and who loses their data. */
export function wipeQuestion(c: RecoverCtx): string {
  const s = c.snapshot
  const what = s
    ? `${s.file} (taken ${s.takenAt.toISOString()}, ${formatAge(Date.now() - s.takenAt.getTime())} ago, revision ${s.revision})`
    : 'a snapshot'
  return `Recover etcd of ${c.inv.cluster.name} (${c.inv.cluster.target}) from ${what}? Everything written since is LOST; ${c.verdict?.needWipe.join(', ') || 'the control planes with etcd data'} get EPHEMERAL wiped and reboot.`
}

/** wipe-etcd is done when every control plane's etcd has an empty data dir (waiting, or given up waiting to join). */
export async function nothingLeftToWipe(c: RecoverCtx) {
  const v = await assess(c)
  return v.needWipe.length === 0
    ? {
        done: true,
        reason:
          `etcd has an empty data dir on ${v.waiting.join(', ')}` +
          (v.gaveUp.length
            ? ` (${v.gaveUp.join(', ')}: gave up waiting to join; rejoin reboots it after the restore)`
            : ''),
      }
    : { done: false }
}

/** wipe-etcd: reset EPHEMERAL on each control plane that still has etcd data, one at a time. */
export async function wipeEtcdData(c: StepCtx, step: StepHandle) {
  const v = await assess(c) // again: nothing is wiped on what an earlier look saw
  const took: Record<string, number> = {}
  for (const name of v.needWipe) {
    took[name] = await wipeNode(c, nodeNamed(c, name), step, {
      timeoutMs: c.nodeTimeoutMs,
      callTimeoutMs: c.talos.timeoutMs,
    })
    if (!c.dryRun) log.info(`  ${name}: back after ${(took[name]! / 1000).toFixed(1)} s, etcd waiting in Preparing`)
  }
  return { wiped: v.needWipe, ms: took }
}

/** restore is done when etcd runs with a leader again. */
export async function restoredAlready(c: RecoverCtx) {
  const has = await someMemberHasLeader(c, c.talos.timeoutMs)
  return has
    ? { done: true, reason: `etcd runs with a leader again (asked ${has}): restored already` }
    : { done: false }
}

/** restore: `talosctl bootstrap --recover-from` on one control plane, then wait for etcd to run on it. */
export async function restoreSnapshot(c: StepCtx, step: StepHandle) {
  c.snapshot ??= await pickSnapshot(c) // resumed at this step
  // a dry run wiped nothing, so no etcd waits yet: it names the node the real run would pick first
  c.recoveryNode = c.dryRun
    ? nodeNamed(c, c.wantedNode ?? controlPlanes(c.inv)[0]!.name)
    : await pickRecoveryNode(c, c.wantedNode, c.talos.timeoutMs)
  c.recoveredAt = await restoreOn(c, c.recoveryNode, c.snapshot.file, step, {
    timeoutMs: c.nodeTimeoutMs,
    callTimeoutMs: c.talos.timeoutMs,
  })
  if (c.recoveredAt)
    log.info(`  etcd runs on ${c.recoveryNode.name} from ${c.snapshot.file} (revision ${c.snapshot.revision})`)
  return { node: c.recoveryNode.name, file: c.snapshot.file, recoveredAt: c.recoveredAt?.toISOString() }
}

/** The control planes whose etcd gave up waiting to join (Failed after Talos's join timeout), read now. */
async function gaveUpNodes(c: RecoverCtx): Promise<{ gaveUp: string[]; unread: string[] }> {
  const gaveUp: string[] = []
  const unread: string[] = []
  for (const n of controlPlanes(c.inv)) {
    try {
      const s = await etcdService(c, n, c.talos.timeoutMs)
      if (etcdDataDir(s.state, s.event) === 'gave-up') gaveUp.push(n.name)
    } catch {
      unread.push(n.name)
    }
  }
  return { gaveUp, unread }
}

/** rejoin is done when no control plane's etcd has given up waiting to join (and each answered). */
export async function nothingGaveUp(c: RecoverCtx) {
  const { gaveUp, unread } = await gaveUpNodes(c)
  return gaveUp.length === 0 && unread.length === 0
    ? { done: true, reason: 'no control plane’s etcd gave up waiting to join' }
    : { done: false }
}

/**
 * rejoin: a wiped control plane whose etcd gave up waiting to join before the restore (Talos's 30-minute
 * EtcdJoinTimeout: a long wipe, a long wait at a prompt, a resumed run) stays Failed and never joins the restored
 * member by itself: reboot each, one at a time, so its etcd joins again.
 */
export async function rejoinGaveUp(c: StepCtx, step: StepHandle) {
  if (c.dryRun) return
  const { gaveUp } = await gaveUpNodes(c)
  const took: Record<string, number> = {}
  for (const name of gaveUp) {
    log.warn(
      `  ${name}: etcd gave up waiting to join before the restore (Talos's 30-minute join timeout; a failed service is not restarted): rebooting it so that it joins`,
    )
    took[name] = await rebootToJoin(c, nodeNamed(c, name), step, {
      timeoutMs: c.nodeTimeoutMs,
      callTimeoutMs: c.talos.timeoutMs,
    })
    log.info(`  ${name}: back after ${(took[name]! / 1000).toFixed(1)} s, its etcd joining`)
  }
  return { rebooted: gaveUp, ms: took }
}

/** wait-healthy: every control plane a voting member, one leader, the API answering, every node Ready. */
export async function waitUntilHealthy(c: StepCtx, step: StepHandle) {
  if (c.dryRun) return
  const h = await waitHealthy(c, step, c.healthyTimeoutMs)
  c.apiAt = h.apiAt
  c.healthyAt = h.healthyAt
  log.info(
    `  ${Object.keys(h.pre.memberIds).length} voting etcd members follow ${h.pre.leader?.node}; the API answered at ${h.apiAt.toISOString()}; every node Ready`,
  )
  return { apiAt: h.apiAt.toISOString(), healthyAt: h.healthyAt.toISOString(), leader: h.pre.leader }
}

/** post-checks: every check of checks/all.ts; any failure fails the run. */
export async function runPostChecks(c: StepCtx) {
  if (c.dryRun) return
  const report = await runSuite(c.inventoryFile, [], { callTimeoutMs: c.talos.timeoutMs })
  requireChecksPass(report)
  return { summary: report.summary }
}

/** report: RPO and RTO of this run (a run resumed after the restore has neither: the restoring run journaled them). */
export async function reportRpoRto(c: StepCtx) {
  if (c.dryRun) return
  if (!c.snapshot || !c.recoveredAt) {
    log.warn('  this run resumed after the restore: RPO and RTO are in the journal of the run that restored etcd')
    return
  }
  const r = {
    snapshotFile: c.snapshot.file,
    takenAt: c.snapshot.takenAt,
    revision: c.snapshot.revision,
    recoveredAt: c.recoveredAt,
    startedAt: c.startedAt,
    apiAt: c.apiAt,
    healthyAt: c.healthyAt,
  }
  for (const l of formatRecovery(r)) log.ok(l)
  return {
    rpoMs: c.recoveredAt.getTime() - c.snapshot.takenAt.getTime(),
    rtoMs: c.apiAt ? c.apiAt.getTime() - c.startedAt.getTime() : undefined,
    healthyMs: c.healthyAt ? c.healthyAt.getTime() - c.startedAt.getTime() : undefined,
    revision: c.snapshot.revision,
  }
}
