// 03-bootstrap: bootstrap etcd exactly once, then wait for etcd quorum, the Kubernetes API and the
// control-plane static pods, and fetch the admin kubeconfig (0600).
import { runbook } from '../lib/runner/runner.ts'
import { openCluster, controlPlanes } from '../config/cluster.ts'
import { log } from '../lib/runner/log.ts'
import { assertSafeToBootstrap, fetchKubeconfig, waitForEtcd, waitForStaticPods } from '../steps/03-bootstrap/steps.ts'
import { describeEtcd, etcdView, isBootstrapped } from '../steps/etcd-view.ts'
import { judgeQuorum, QuorumLostError } from '../steps/quorum.ts'

await runbook({
  id: '03-bootstrap',
  title: 'Bootstrap etcd and the Kubernetes control plane',
  flags: {
    node: {
      type: 'string',
      valueName: 'NAME',
      description: 'control-plane node to bootstrap (default: the first in the inventory)',
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
    return { ...cluster, cluster: cluster.inv.cluster, cps, target, etcd: await etcdView(cluster) }
  },
  steps: [
    {
      name: 'check-etcd',
      summary: 'ask every control-plane node for its etcd service; refuse if quorum is lost',
      describe: () => 'Ask every control-plane node for its etcd service: bootstrap only if none runs etcd',
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
      summary: 'talosctl bootstrap, exactly once for the life of the cluster',
      destructive: true,
      describe: (c) => `talosctl bootstrap on ${c.target.name}: create the etcd cluster (done once, ever)`,
      targets: (c) => [c.target.name],
      confirm: (c) =>
        `Bootstrap etcd on ${c.target.name} (${c.target.address})? This is done once for the life of the cluster.`,
      async check(c) {
        return isBootstrapped(c.etcd)
          ? { done: true, reason: `cluster already bootstrapped (${describeEtcd(c.etcd)}): never bootstrapping twice` }
          : { done: false }
      },
      async run(c) {
        await c.talos.bootstrap(c.target.address)
      },
    },
    {
      name: 'wait-etcd',
      summary: 'wait for every member and one agreed leader',
      describe: (c) => `Wait until ${c.cps.length} etcd members agree on one leader`,
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
      summary: 'fetch the admin kubeconfig (0600)',
      describe: (c) => `Fetch the admin kubeconfig into ${c.paths.kubeconfig} (0600)`,
      targets: (c) => [c.target.name],
      async run(c) {
        await fetchKubeconfig(c, c.target)
      },
    },
    {
      name: 'wait-api',
      summary: 'wait for the Kubernetes API /readyz',
      describe: () => 'Wait for the Kubernetes API to answer /readyz',
      targets: (c) => [c.inv.cluster.endpoint],
      async run(c, step) {
        if (!step.dryRun) await c.kube.waitForReady()
      },
    },
    {
      name: 'wait-control-plane-pods',
      summary: 'wait for the control-plane static pods',
      describe: () => 'Wait for kube-apiserver, kube-controller-manager and kube-scheduler on every control-plane node',
      targets: (c) => c.cps.map((n) => n.name),
      async run(c, step) {
        if (!step.dryRun) await waitForStaticPods(c)
      },
    },
  ],
})
