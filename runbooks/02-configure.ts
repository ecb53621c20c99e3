// 02-configure: render every node's Talos config from the inventory, lint and validate it, show what
// would change on each node, and apply in parallel. `--lint FILE...` lints configs and applies nothing.
import { runbook } from '../lib/runner/runner.ts'
import { quorumStep } from '../steps/quorum.ts'
import { openCluster } from '../config/cluster.ts'
import { log } from '../lib/runner/log.ts'
import { lintCli } from '../config/lint-cli.ts'
import {
  applyAll, assertClean, ensureSecrets, ensureTalosconfig, planAll, renderAll, waitConfigured, writeConfigs, type NodePlan, type Rendered,
} from '../steps/02-configure/steps.ts'
import { pendingKernelArgs, upgradeNeededMessage } from '../steps/02-configure/upgrade-needed.ts'

const lintAt = process.argv.indexOf('--lint')
if (lintAt >= 0) process.exit(lintCli(process.argv.slice(lintAt + 1)))

// Steps share what they computed through the context; a resumed run recomputes it (rendering is pure, the diff
// re-reads the nodes).
interface Computed {
  rendered?: Rendered
  plans?: NodePlan[]
}
const changing = (c: Computed) => (c.plans ?? []).filter((p) => p.change !== 'none')

await runbook({
  id: '02-configure',
  title: 'Render, lint and apply the Talos machine configs',
  flags: {
    lint: { type: 'boolean', description: 'lint the config files given after --lint and exit (nothing applied)' },
  },
  async context(flags) {
    const cluster = openCluster(flags.inventory, flags)
    const computed: Computed = {}
    return Object.assign(cluster, computed)
  },
  steps: [
    quorumStep(),
    {
      name: 'secrets',
      summary: 'generate the secrets bundle once (0600), reuse it afterwards',
      describe: (c) => `Generate the cluster secrets bundle once (${c.paths.secrets}, 0600) and reuse it afterwards`,
      async run(c) {
        log.info(`  secrets bundle ${await ensureSecrets(c)}`)
      },
    },
    {
      name: 'render',
      summary: 'render, lint and schema-check every config; write all or nothing',
      describe: (c) => `Render ${c.inv.nodes.length} machine configs, lint them and validate them against the Talos v1.10 schema`,
      targets: (c) => c.inv.nodes.map((n) => n.name),
      async run(c) {
        const rendered = (c.rendered = renderAll(c))
        assertClean(rendered)
        writeConfigs(c, rendered)
        log.info(`  wrote ${rendered.configs.size} configs (0600) to ${c.paths.outDir}`)
      },
    },
    {
      name: 'talosconfig',
      summary: 'generate the talosconfig (0600)',
      describe: (c) => `Generate the talosconfig (${c.paths.talosconfig}, 0600) from the secrets bundle`,
      async run(c) {
        log.info(`  talosconfig ${await ensureTalosconfig(c)}`)
      },
    },
    {
      name: 'diff',
      summary: "compare each node's running config with the rendered one",
      describe: () => 'Compare each node\'s running config with the rendered one',
      targets: (c) => c.inv.nodes.map((n) => n.name),
      async run(c) {
        const rendered = (c.rendered ??= renderAll(c))
        const plans = (c.plans = await planAll(c, rendered.configs))
        for (const p of plans) {
          log.info(`  ${p.node.name.padEnd(12)} ${p.change === 'install' ? `maintenance mode: first config (install to ${p.node.installDisk})` : p.change === 'none' ? 'runs this config already' : 'changes:'}`)
          if (p.diff) log.dim(p.diff.split('\n').slice(2).map((l) => `    ${l}`).join('\n'))
        }
        return { install: plans.filter((p) => p.change === 'install').map((p) => p.node.name), update: plans.filter((p) => p.change === 'update').map((p) => p.node.name) }
      },
    },
    {
      name: 'apply',
      summary: 'apply the changed configs in parallel',
      destructive: true,
      describe: (c) => `Apply the configs in parallel (${changing(c).map((p) => p.node.name).join(', ') || 'nothing'})`,
      targets: (c) => changing(c).map((p) => p.node.name),
      confirm: (c) => `Apply configs to ${changing(c).map((p) => `${p.node.name} (${p.change})`).join(', ')}?`,
      async check(c) {
        c.plans ??= await planAll(c, (c.rendered ??= renderAll(c)).configs)
        return changing(c).length === 0 ? { done: true, reason: 'every node runs its rendered config: nothing to apply' } : { done: false }
      },
      async run(c, step) {
        await applyAll(c, changing(c), step.dryRun)
      },
    },
    {
      name: 'wait-configured',
      summary: 'wait until every node runs its config',
      describe: () => 'Wait until every node that got a config runs it',
      targets: (c) => changing(c).map((p) => p.node.name),
      check: (c) => (changing(c).length === 0 ? { done: true, reason: 'nothing was applied' } : { done: false }),
      async run(c, step) {
        if (!step.dryRun) await waitConfigured(c, changing(c).map((p) => p.node))
      },
    },
    {
      name: 'upgrade-needed',
      summary: 'say which nodes still boot without their kernel args (those need 09-upgrade)',
      describe: () => 'Read /proc/cmdline where the inventory wants kernel args: an apply cannot change them, an upgrade does',
      async run(c) {
        const pending = await pendingKernelArgs(c)
        for (const u of pending.filter((x) => x.unreadable)) log.warn(`  ${u.node}: cannot read /proc/cmdline (${u.unreadable})`)
        const message = upgradeNeededMessage(c, pending)
        if (message) log.warn(`  ${message}`)
        else if (!pending.length) log.info('  every node boots with the kernel args the inventory wants')
        return { upgradeNeeded: pending }
      },
    },
  ],
})
