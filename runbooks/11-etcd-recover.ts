// 11-etcd-recover: etcd quorum lost for good (members' data destroyed, two disks dead, a bad upgrade). Refuses while
// quorum exists; restores the newest verified snapshot (or --snapshot FILE) following Talos's disaster-recovery
// procedure: reset EPHEMERAL on the control planes that still have etcd data, `bootstrap --recover-from` on one, the
// others join; then waits for three voting members, the API and Ready nodes, runs the checks, reports RPO and RTO.
import { runbook, RefusedError } from '../lib/runner/runner.ts'
import { UsageError, durationFlag, type FlagSpecs } from '../lib/runner/flags.ts'
import { log } from '../lib/runner/log.ts'
import { openCluster, controlPlanes, type Cluster } from '../config/cluster.ts'
import type { InventoryNode } from '../config/inventory.ts'
import { formatAge } from '../lib/talos/etcd-backups.ts'
import { runSuite } from '../steps/run-checks.ts'
import { renderProblems, summaryLine } from '../checks/engine/reporter.ts'
import {
  explicitSnapshot,
  newestVerifiedSnapshot,
  readNodes,
  type PickedSnapshot,
} from '../steps/11-etcd-recover/assess.ts'
import {
  formatRecovery,
  judgeRecovery,
  lossSummary,
  type NodeEtcd,
  type RecoveryVerdict,
} from '../steps/11-etcd-recover/judge.ts'
import {
  pickRecoveryNode,
  restoreOn,
  someMemberHasLeader,
  waitHealthy,
  wipeNode,
} from '../steps/11-etcd-recover/recover.ts'

interface RecoverCtx extends Cluster {
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

const FLAGS = {
  snapshot: {
    type: 'string',
    valueName: 'FILE',
    description: 'the snapshot to restore (default: the newest verified one in <outputDir>/backups/index.json)',
  },
  node: {
    type: 'string',
    valueName: 'NAME',
    description: 'the control plane to restore on (default: the first of the inventory whose etcd waits)',
  },
  'node-timeout': {
    type: 'string',
    valueName: 'DURATION',
    default: '10m',
    description: 'how long a reset control plane gets to come back with etcd waiting',
  },
  'healthy-timeout': {
    type: 'string',
    valueName: 'DURATION',
    default: '15m',
    description: 'how long the others get to join and the API and nodes to be Ready after the restore',
  },
} as const satisfies FlagSpecs

await runbook<typeof FLAGS, RecoverCtx>({
  id: '11-etcd-recover',
  title: 'Recover etcd from a snapshot after quorum is lost for good (Talos disaster recovery)',
  flags: FLAGS,
  context(flags): RecoverCtx {
    const cluster = openCluster(flags.inventory, flags)
    const cps = controlPlanes(cluster.inv)
    if (flags.node !== undefined && !cps.some((n) => n.name === flags.node))
      throw new UsageError(
        `flag --node for 11-etcd-recover: ${flags.node} is not a control-plane node of ${flags.inventory} (control planes: ${cps.map((n) => n.name).join(', ')})`,
      )
    return {
      ...cluster,
      startedAt: new Date(),
      wantedNode: flags.node,
      snapshotFlag: flags.snapshot,
      nodeTimeoutMs: durationFlag('node-timeout', flags.nodeTimeout),
      healthyTimeoutMs: durationFlag('healthy-timeout', flags.healthyTimeout),
    }
  },
  steps: [
    {
      name: 'assess',
      describe: 'refuse while etcd has quorum or a control plane does not answer; find the members whose data must go',
      detail: (c) =>
        `Ask ${controlPlanes(c.inv)
          .map((n) => n.name)
          .join(', ')} for etcd: refuse while any member knows a leader (quorum) or a control plane does not answer`,
      targets: (c) => controlPlanes(c.inv).map((n) => n.name),
      async run(c) {
        const v = await assess(c)
        for (const n of c.nodes!)
          log.info(
            `  ${n.name}: etcd ${n.state ?? '?'}${n.lastEvent ? ` (${n.lastEvent})` : ''} → ${v.waiting.includes(n.name) ? 'waits with an empty data dir' : 'has a data dir: to be wiped'}`,
          )
        log.warn(`  etcd has no quorum and no member knows a leader: recovering from a snapshot`)
        return { needWipe: v.needWipe, waiting: v.waiting, survivors: v.survivors, stopped: v.stopped }
      },
    },
    {
      name: 'pick-snapshot',
      describe:
        'the newest verified snapshot of the backup index (or --snapshot, refused unless it verifies); what it loses',
      detail: (c) =>
        c.snapshotFlag
          ? `Verify ${c.snapshotFlag} and show what restoring it loses`
          : 'Pick the newest snapshot of the backup index that still verifies and show what restoring it loses',
      async run(c) {
        const v = c.verdict ?? (await assess(c))
        c.snapshot = await pickSnapshot(c)
        for (const l of lossSummary({ ...c.snapshot, now: new Date(), verdict: v, nodes: c.nodes! })) log.info(`  ${l}`)
        const { entry: _e, ...picked } = c.snapshot
        return picked
      },
    },
    {
      name: 'wipe-etcd',
      destructive: true,
      describe:
        'talosctl reset --system-labels-to-wipe EPHEMERAL --reboot --graceful=false on each control plane with etcd data, one at a time',
      detail: (c) =>
        `Reset EPHEMERAL (etcd's data dir) on ${c.verdict?.needWipe.join(', ') || 'the control planes that need it'}, one at a time, each back with etcd waiting`,
      targets: (c) => c.verdict?.needWipe ?? controlPlanes(c.inv).map((n) => n.name),
      confirm: (c) => {
        const s = c.snapshot
        const what = s
          ? `${s.file} (taken ${s.takenAt.toISOString()}, ${formatAge(Date.now() - s.takenAt.getTime())} ago, revision ${s.revision})`
          : 'a snapshot'
        return `Recover etcd of ${c.inv.cluster.name} (${c.inv.cluster.target}) from ${what}? Everything written since is LOST; ${c.verdict?.needWipe.join(', ') || 'the control planes with etcd data'} get EPHEMERAL wiped and reboot.`
      },
      async check(c) {
        const v = await assess(c)
        return v.needWipe.length === 0
          ? { done: true, reason: `etcd waits with an empty data dir on ${v.waiting.join(', ')}` }
          : { done: false }
      },
      async run(c, step) {
        const v = await assess(c) // again: nothing is wiped on what an earlier look saw
        const took: Record<string, number> = {}
        for (const name of v.needWipe) {
          took[name] = await wipeNode(c, nodeNamed(c, name), step, {
            timeoutMs: c.nodeTimeoutMs,
            callTimeoutMs: c.talos.timeoutMs,
          })
          if (!c.dryRun)
            log.info(`  ${name}: back after ${(took[name]! / 1000).toFixed(1)} s, etcd waiting in Preparing`)
        }
        return { wiped: v.needWipe, ms: took }
      },
    },
    {
      name: 'restore',
      destructive: true,
      describe: 'talosctl bootstrap --recover-from=FILE on one control plane (--node, or the first whose etcd waits)',
      detail: (c) =>
        `talosctl bootstrap --recover-from=${c.snapshot?.file ?? 'FILE'} on ${c.wantedNode ?? 'the first control plane whose etcd waits'}; wait for etcd to run on it`,
      targets: (c) => [c.wantedNode ?? controlPlanes(c.inv)[0]!.name],
      confirm: (c) =>
        `Restore etcd from ${c.snapshot?.file ?? 'the snapshot'} on ${c.wantedNode ?? 'the first waiting control plane'}? The cluster goes back to revision ${c.snapshot?.revision ?? '?'}.`,
      async check(c) {
        const has = await someMemberHasLeader(c, c.talos.timeoutMs)
        return has
          ? { done: true, reason: `etcd runs with a leader again (asked ${has}): restored already` }
          : { done: false }
      },
      async run(c, step) {
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
      },
    },
    {
      name: 'wait-healthy',
      describe:
        'wait for every control plane to join and be promoted, one leader, the Kubernetes API, every node Ready',
      targets: (c) => controlPlanes(c.inv).map((n) => n.name),
      async run(c, step) {
        if (c.dryRun) return
        const h = await waitHealthy(c, step, c.healthyTimeoutMs)
        c.apiAt = h.apiAt
        c.healthyAt = h.healthyAt
        log.info(
          `  ${Object.keys(h.pre.memberIds).length} voting etcd members follow ${h.pre.leader?.node}; the API answered at ${h.apiAt.toISOString()}; every node Ready`,
        )
        return { apiAt: h.apiAt.toISOString(), healthyAt: h.healthyAt.toISOString(), leader: h.pre.leader }
      },
    },
    {
      name: 'post-checks',
      describe: 'run every post-change check (checks/all.ts); any failure fails the run',
      async run(c) {
        if (c.dryRun) return
        const report = await runSuite(c.inventoryFile, [], { callTimeoutMs: c.talos.timeoutMs })
        for (const line of renderProblems(report)) log.info(`  ${line}`)
        log.info(`  ${summaryLine(report.summary)}`)
        const failed = report.results.filter((r) => r.status === 'fail')
        if (failed.length)
          throw new Error(
            `${failed.length} post-change check(s) failed: ${failed
              .slice(0, 5)
              .map((r) => `${r.check} on ${r.target}: ${r.message}`)
              .join('; ')}`,
          )
        return { summary: report.summary }
      },
    },
    {
      name: 'report',
      describe: 'RPO (the snapshot’s age when restored, its revision) and RTO (this run’s start to the API answering)',
      async run(c) {
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
      },
    },
  ],
})
