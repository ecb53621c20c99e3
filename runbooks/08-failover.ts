// 08-failover: take one control-plane node down on purpose and prove the cluster survives it: etcd elects a new
// leader, the Kubernetes API answers through the surviving endpoints, workloads elsewhere stay up. Then bring the
// node back, wait for it to rejoin, and run every post-change check. Refuses to start unless the cluster is healthy.
// The steps are steps/08-failover/steps.ts; this file wires them and parses the flags.
import { runbook } from '../lib/runner/runner.ts'
import { openCluster, controlPlanes, type Cluster } from '../config/cluster.ts'
import { backupFirstStep } from '../steps/etcd-backup.ts'
import {
  bringBackAndWaitHealthy,
  checkHealthy,
  judgeDrill,
  runPostChecks,
  showPlan,
  takeDownAndWatch,
  takeDownQuestion,
  type Action,
  type DrillCtx,
} from '../steps/08-failover/steps.ts'

const positive = (flag: string, v: string | undefined): number => {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} ${v}: must be a positive number`)
  return n
}

await runbook({
  id: '08-failover',
  title: 'Failover drill: take down one control-plane node and prove the cluster survives',
  json: true,
  flags: {
    node: {
      type: 'string',
      valueName: 'NAME',
      description: 'control-plane node to take down (default: the current etcd leader)',
    },
    action: {
      type: 'string',
      valueName: 'shutdown|reboot',
      default: 'shutdown',
      description:
        'how to take the node down: talosctl shutdown (then power it on through its BMC, or you are asked) or talosctl reboot',
    },
    'poll-interval-ms': {
      type: 'string',
      valueName: 'MS',
      default: '100',
      description: 'start a new probe per node/endpoint this often',
    },
    'max-in-flight': {
      type: 'string',
      valueName: 'N',
      default: '3',
      description: 'overlapping etcd probes per surviving node',
    },
    'probe-timeout-ms': {
      type: 'string',
      valueName: 'MS',
      default: '3000',
      description: 'one probe gives up after this long',
    },
    'watch-timeout': {
      type: 'string',
      valueName: 'SECONDS',
      default: '120',
      description: 'how long to wait for etcd and the API to recover',
    },
    'no-backup': { type: 'boolean', description: 'do not take an etcd snapshot before the drill' },
    'rejoin-timeout': {
      type: 'string',
      valueName: 'SECONDS',
      default: '900',
      description: 'how long to wait for the node to come back and rejoin',
    },
  },
  async context(flags) {
    const cluster = openCluster(flags.inventory, flags)
    const action = flags.action as Action
    if (action !== 'shutdown' && action !== 'reboot')
      throw new Error(`--action ${flags.action}: must be shutdown or reboot`)
    const cps = controlPlanes(cluster.inv)
    if (flags.node !== undefined && !cps.some((n) => n.name === flags.node)) {
      throw new Error(
        `--node ${flags.node} is not a control-plane node of ${flags.inventory} (control planes: ${cps.map((n) => n.name).join(', ')})`,
      )
    }
    const ctx: Omit<DrillCtx, 'dryRun' | 'flags'> & { cluster: typeof cluster.inv.cluster } = {
      ...cluster,
      cluster: cluster.inv.cluster,
      action,
      requested: flags.node,
      pollIntervalMs: positive('poll-interval-ms', flags.pollIntervalMs),
      maxInFlight: Math.max(1, Math.floor(positive('max-in-flight', flags.maxInFlight))),
      unattended: flags.yes,
      inventoryFile: flags.inventory,
      probeTimeoutMs: positive('probe-timeout-ms', flags.probeTimeoutMs),
      watchTimeoutMs: positive('watch-timeout', flags.watchTimeout) * 1000,
      rejoinTimeoutMs: positive('rejoin-timeout', flags.rejoinTimeout) * 1000,
    }
    return ctx as typeof ctx & { inv: Cluster['inv'] }
  },
  steps: [
    {
      name: 'preflight',
      describe:
        'refuse unless every etcd member is up and agrees on one leader, no alarm, the API answers, every node Ready',
      targets: (c) => controlPlanes(c.inv).map((n) => n.name),
      run: (c, step) => checkHealthy(c, step),
    },
    backupFirstStep('before-failover'),
    {
      name: 'plan',
      describe: 'pick the node (default: the etcd leader) and show what the drill will do',
      detail: (c) => c.flags.node ?? 'the etcd leader',
      run: (c) => showPlan(c),
    },
    {
      name: 'take-down',
      destructive: true,
      describe: 'take the node down and record the timeline: node gone, new etcd leader, API back, workloads',
      detail: (c) => c.plan?.target.name ?? c.flags.node ?? 'the etcd leader',
      confirm: (c) => takeDownQuestion(c),
      targets: (c) => [c.plan?.target.name ?? c.flags.node ?? '(etcd leader)'],
      run: (c, step) => takeDownAndWatch(c, step),
    },
    {
      name: 'bring-back',
      describe:
        'bring the node back (shutdown: power it on through its BMC, or by hand when asked) and wait until it rejoins etcd and is Ready',
      detail: (c) => c.plan?.target.name ?? 'the node',
      targets: (c) => [c.plan?.target.name ?? c.flags.node ?? '(down node)'],
      run: (c, step) => bringBackAndWaitHealthy(c, step),
    },
    {
      name: 'post-checks',
      describe: 'run every post-change check (checks/all.ts); any failure fails the drill',
      run: (c) => runPostChecks(c),
    },
    {
      name: 'verdict',
      describe: 'pass only if etcd and the API recovered, workloads stayed up and every check passed',
      run: (c) => judgeDrill(c),
    },
  ],
})
