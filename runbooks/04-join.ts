// 04-join: bring the workers in, the Solana validator included, and make sure the validator node
// registered with its validator config before anything else happens.
import { runbook } from '../lib/runner/runner.ts'
import { quorumStep } from '../steps/quorum.ts'
import { openCluster, validatorNode, workers } from '../config/cluster.ts'
import { log } from '../lib/runner/log.ts'
import { approveCsrs, describeNode, validatorProblems, waitReady, waitRegistered } from '../steps/join.ts'

await runbook({
  id: '04-join',
  title: 'Join the workers (validator included) to Kubernetes',
  async context(flags) {
    const cluster = openCluster(flags.inventory, flags)
    return {
      ...cluster,
      cluster: cluster.inv.cluster,
      all: cluster.inv.nodes,
      workers: workers(cluster.inv),
      validator: validatorNode(cluster.inv),
    }
  },
  steps: [
    quorumStep({ requireBootstrapped: true }),
    {
      name: 'wait-registered',
      describe: 'wait for every node to register',
      targets: (c) => c.all.map((n) => n.name),
      async run(c, step) {
        if (!step.dryRun) await waitRegistered(c, c.all)
      },
    },
    {
      name: 'approve-csrs',
      describe: 'approve kubelet-serving CSRs that match an inventory node',
      targets: (c) => c.all.map((n) => n.name),
      async run(c) {
        const d = await approveCsrs(c, c.all)
        if (!d.length) log.info('  no pending CSRs')
        return {
          approved: d.filter((x) => x.approve).map((x) => x.name),
          refused: d.filter((x) => !x.approve).map((x) => `${x.name}: ${x.reason}`),
        }
      },
    },
    {
      name: 'wait-ready',
      describe: 'wait for Ready; report kubelet versions and roles',
      targets: (c) => c.all.map((n) => n.name),
      async run(c, step) {
        if (step.dryRun) return
        const nodes = await waitReady(c, c.all)
        for (const k of nodes) log.info(`  ${describeNode(k)}`)
        return { nodes: nodes.map(describeNode) }
      },
    },
    {
      name: 'verify-validator',
      describe: 'check the validator advertises its huge pages',
      targets: (c) => (c.validator ? [c.validator.name] : []),
      async check(c) {
        return c.validator ? { done: false } : { done: true, reason: 'the inventory has no validator node' }
      },
      async run(c, step) {
        if (step.dryRun || !c.validator) return
        const k = await c.kube.node(c.validator.name)
        const pools = c.inv.validator!.hugepages
        const problems = k ? validatorProblems(k, pools) : [`${c.validator.name} is not a Kubernetes node`]
        if (problems.length)
          throw new Error(`${c.validator.name} did not get the validator config: ${problems.join('; ')}`)
        const words = pools.map((p) => `${p.perNumaNode.reduce((a, b) => a + b, 0)} × ${p.size}`).join(' + ')
        log.ok(`${c.validator.name} advertises its huge pages (${words})`)
      },
    },
  ],
})
