// 11-etcd-recover: etcd quorum lost for good (members' data destroyed, two disks dead, a bad upgrade). Refuses while
// quorum exists; restores the newest verified snapshot (or --snapshot FILE) following Talos's disaster-recovery
// procedure: reset EPHEMERAL on the control planes that still have etcd data, `bootstrap --recover-from` on one, the
// others join (those whose etcd gave up waiting, after Talos's 30-minute join timeout, are rebooted to); then waits
// for three voting members, the API and Ready nodes, runs the checks, reports RPO and RTO.
// The steps are steps/11-etcd-recover/steps.ts; this file wires them and parses the flags.
import { runbook } from '../lib/runner/runner.ts'
import { UsageError, durationFlag, type FlagSpecs } from '../lib/runner/flags.ts'
import { openCluster, controlPlanes } from '../config/cluster.ts'
import {
  assessAndShow,
  nothingLeftToWipe,
  pickAndShowSnapshot,
  nothingGaveUp,
  rejoinGaveUp,
  reportRpoRto,
  restoredAlready,
  restoreSnapshot,
  runPostChecks,
  waitUntilHealthy,
  wipeEtcdData,
  wipeQuestion,
  type RecoverCtx,
} from '../steps/11-etcd-recover/steps.ts'

const FLAGS = {
  snapshot: {
    type: 'string',
    valueName: 'FILE',
    description: 'the snapshot to restore (default: the newest verified one in <outputDir>/backups/index.json)',
  },
  node: {
    type: 'string',
    valueName: 'NAME',
    description:
      'the control plane to restore on (default: the first of the inventory whose etcd gave up waiting to join, else the first whose etcd waits)',
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
      run: (c) => assessAndShow(c),
    },
    {
      name: 'pick-snapshot',
      describe:
        'the newest verified snapshot of the backup index (or --snapshot, refused unless it verifies); what it loses',
      detail: (c) =>
        c.snapshotFlag
          ? `Verify ${c.snapshotFlag} and show what restoring it loses`
          : 'Pick the newest snapshot of the backup index that still verifies and show what restoring it loses',
      run: (c) => pickAndShowSnapshot(c),
    },
    {
      name: 'wipe-etcd',
      destructive: true,
      describe:
        'talosctl reset --system-labels-to-wipe EPHEMERAL --reboot --graceful=false on each control plane with etcd data, one at a time',
      detail: (c) =>
        `Reset EPHEMERAL (etcd's data dir) on ${c.verdict?.needWipe.join(', ') || 'the control planes that need it'}, one at a time, each back with etcd waiting`,
      targets: (c) => c.verdict?.needWipe ?? controlPlanes(c.inv).map((n) => n.name),
      confirm: (c) => wipeQuestion(c),
      check: (c) => nothingLeftToWipe(c),
      run: (c, step) => wipeEtcdData(c, step),
    },
    {
      name: 'restore',
      destructive: true,
      describe:
        'talosctl bootstrap --recover-from=FILE on one control plane with an empty data dir (--node, or the first whose etcd gave up waiting to join, else the first whose etcd waits); a failed restore wipes that node again',
      detail: (c) =>
        `talosctl bootstrap --recover-from=${c.snapshot?.file ?? 'FILE'} on ${c.wantedNode ?? 'the first control plane whose etcd waits'}; wait for etcd to run on it`,
      targets: (c) => [c.wantedNode ?? controlPlanes(c.inv)[0]!.name],
      confirm: (c) =>
        `Restore etcd from ${c.snapshot?.file ?? 'the snapshot'} on ${c.wantedNode ?? 'the first waiting control plane'}? The cluster goes back to revision ${c.snapshot?.revision ?? '?'}.`,
      check: (c) => restoredAlready(c),
      run: (c, step) => restoreSnapshot(c, step),
    },
    {
      name: 'rejoin',
      destructive: true,
      describe:
        'talosctl reboot each control plane whose etcd gave up waiting to join (Failed after Talos’s 30-minute join timeout), so it joins the restored member',
      detail: () =>
        'Reboot, one at a time, the control planes whose etcd gave up waiting to join (Failed: "failed to build initial etcd cluster"); Talos does not restart it',
      targets: (c) => controlPlanes(c.inv).map((n) => n.name),
      confirm: () =>
        'Reboot, one at a time, each control plane whose etcd gave up waiting to join? After the reboot its etcd joins the restored member.',
      check: (c) => nothingGaveUp(c),
      run: (c, step) => rejoinGaveUp(c, step),
    },
    {
      name: 'wait-healthy',
      describe:
        'wait for every control plane to join and be promoted, one leader, the Kubernetes API, every node Ready, the ' +
        "control planes' static pods Running",
      targets: (c) => controlPlanes(c.inv).map((n) => n.name),
      run: (c, step) => waitUntilHealthy(c, step),
    },
    {
      name: 'post-checks',
      describe: 'run every post-change check (checks/all.ts); any failure fails the run',
      run: (c) => runPostChecks(c),
    },
    {
      name: 'report',
      describe: 'RPO (the snapshot’s age when restored, its revision) and RTO (this run’s start to the API answering)',
      run: (c) => reportRpoRto(c),
    },
  ],
})
