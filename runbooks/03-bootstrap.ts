// 03-bootstrap: bootstrap etcd exactly once, then wait for etcd quorum, the Kubernetes API and the
// control-plane static pods, and fetch the admin kubeconfig (0600).
import { runbook } from '../lib/runner/runner.ts'
import { openCluster, controlPlanes } from '../config/cluster.ts'
import { log } from '../lib/runner/log.ts'
import {
  assertSafeToBootstrap,
  bootstrapWhenAllowed,
  fetchKubeconfig,
  waitForEtcd,
} from '../steps/03-bootstrap/steps.ts'
import { waitForStaticPods } from '../steps/static-pods.ts'
import { describeEtcd, etcdView, isBootstrapped } from '../steps/etcd-view.ts'
import { judgeQuorum, QuorumLostError } from '../steps/quorum.ts'
import { durationFlag } from '../lib/runner/flags.ts'

await runbook({
  id: '03-bootstrap',
  title: 'Bootstrap etcd and the Kubernetes control plane',
  flags: {
    node: {
      type: 'string',
      valueName: 'NAME',
      description: 'control-plane node to bootstrap (default: the first in the inventory)',
    },
    'bootstrap-timeout': {
      type: 'string',
      valueName: 'DURATION',
      default: '10m',
      description:
        'keep asking this long while the node says it is too early ("bootstrap is not available yet": its CRI is not up; "time is not in sync yet": its clock)',
    },
  },
  async context(flags) {
    const cluster = openCluster(flags.inventory, flags)
    const cps = controlPlanes(cluster.inv)
    const target = flags.node ? cps.find((n) => n.name === flags.node) : cps[0]
    if (!target)
      throw new Error(
        `--node ${flags.node}: not a control-plane node in ${flags.inventory} (${cps.map((n) => n.name).join(', ')})`,
      )
    const bootstrapTimeoutMs = durationFlag('bootstrap-timeout', flags.bootstrapTimeout)
    return { ...cluster, cluster: cluster.inv.cluster, cps, target, bootstrapTimeoutMs, etcd: await etcdView(cluster) }
  },
  steps: [
    {
      name: 'check-etcd',
      describe: 'ask every control-plane node for its etcd service; refuse if quorum is lost',
      targets: (c) => c.cps.map((n) => n.name),
      async run(c) {
        log.info(`  etcd: ${describeEtcd(c.etcd)}`)
        if (!isBootstrapped(c.etcd)) assertSafeToBootstrap(c.etcd)
        // a re-run on a cluster that lost quorum would wait out every timeout below: say so now
        const q = judgeQuorum(c.cps, c.etcd)
        if (!q.ok) throw new QuorumLostError(q.message)
        return { bootstrapped: isBootstrapped(c.etcd) }
      },
    },
    {
      name: 'bootstrap',
      describe: 'talosctl bootstrap, exactly once for the life of the cluster',
      destructive: true,
      targets: (c) => [c.target.name],
      confirm: (c) =>
        `Bootstrap etcd on ${c.target.name} (${c.target.address})? This is done once for the life of the cluster.`,
      async check(c) {
        return isBootstrapped(c.etcd)
          ? { done: true, reason: `cluster already bootstrapped (${describeEtcd(c.etcd)}): never bootstrapping twice` }
          : { done: false }
      },
      async run(c, step) {
        await bootstrapWhenAllowed(c, c.target, step, c.bootstrapTimeoutMs)
      },
    },
    {
      name: 'wait-etcd',
      describe: 'wait for every member and one agreed leader',
      detail: (c) => `${c.cps.length} members`,
      targets: (c) => c.cps.map((n) => n.name),
      async run(c, step) {
        if (step.dryRun) return
        const h = await waitForEtcd(c)
        log.info(`  members: ${h.members.join(', ')}; leader: ${h.leader}`)
        return { members: h.members, leader: h.leader }
      },
    },
    {
      name: 'kubeconfig',
      describe: 'fetch the admin kubeconfig (0600)',
      detail: (c) => c.paths.kubeconfig,
      targets: (c) => [c.target.name],
      async run(c) {
        await fetchKubeconfig(c, c.target)
      },
    },
    {
      name: 'wait-api',
      describe: 'wait for the Kubernetes API /readyz',
      targets: (c) => [c.inv.cluster.endpoint],
      async run(c, step) {
        if (!step.dryRun) await c.kube.waitForReady()
      },
    },
    {
      name: 'wait-control-plane-pods',
      describe: 'wait for the control-plane static pods',
      targets: (c) => c.cps.map((n) => n.name),
      async run(c, step) {
        if (!step.dryRun) await waitForStaticPods(c)
      },
    },
  ],
})
