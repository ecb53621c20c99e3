// 02-configure: render every node's Talos config from the inventory, lint and validate it, show what
// would change on each node, and apply in parallel. `--lint FILE...` lints configs and applies nothing.
import { runbook } from '../lib/runner.ts'
import { quorumStep } from '../lib/quorum.ts'
import { openCluster } from '../lib/cluster.ts'
import { log } from '../lib/log.ts'
import { lintCli } from '../lib/lint-cli.ts'
import { RefusedError } from '../lib/runner.ts'
import { imageProblemsMessage, imageSchematicProblems } from '../lib/schematic-images.ts'
import { kubeletStateChanges, kubeletStateProcedure } from '../lib/kubelet-policy.ts'
import {
  applyAll, assertClean, ensureSecrets, ensureTalosconfig, planAll, renderAll, waitConfigured, writeConfigs, type NodePlan, type Rendered,
} from '../lib/configure-steps.ts'

const lintAt = process.argv.indexOf('--lint')
if (lintAt >= 0) process.exit(lintCli(process.argv.slice(lintAt + 1)))

// Steps share what they computed; a resumed run recomputes it (rendering is pure, the diff re-reads the nodes).
let rendered: Rendered | undefined
let plans: NodePlan[] | undefined
const changing = () => (plans ?? []).filter((p) => p.change !== 'none')

await runbook({
  id: '02-configure',
  title: 'Render, lint and apply the Talos machine configs',
  flags: {
    lint: { type: 'boolean', description: 'lint the config files given after --lint and exit (nothing applied)' },
    'allow-kubelet-policy-change': { type: 'boolean', description: 'apply kubelet reservedSystemCPUs / reservedMemory / memory manager changes to running nodes (follow the printed procedure)' },
  },
  async context(flags) {
    const cluster = openCluster(flags.inventory, flags)
    return { ...cluster, cluster: cluster.inv.cluster }
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
        // machine.install.image is what each node upgrades to: it must carry the node's schematic (kernel args)
        const problems = imageSchematicProblems(c.inv).filter((p) => !p.includes('rescue.imageUrl'))
        if (problems.length) throw new RefusedError(imageProblemsMessage(problems, c.inventoryFile))
        rendered = renderAll(c)
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
        rendered ??= renderAll(c)
        plans = await planAll(c, rendered.configs)
        for (const p of plans) {
          log.info(`  ${p.node.name.padEnd(12)} ${p.change === 'install' ? `maintenance mode: first config (install to ${p.node.installDisk})` : p.change === 'none' ? 'runs this config already' : 'changes:'}`)
          if (p.diff) log.dim(p.diff.split('\n').slice(2).map((l) => `    ${l}`).join('\n'))
        }
        const stuck = plans.filter((p) => p.change === 'update' && p.running).map((p) => ({ node: p.node, changes: kubeletStateChanges(p.running!, rendered!.configs.get(p.node.name)!) })).filter((x) => x.changes.length)
        if (stuck.length) {
          const msg = kubeletStateProcedure(stuck, c.inventoryFile)
          if (!c.flags.allowKubeletPolicyChange) throw new RefusedError(`${msg}\n(--allow-kubelet-policy-change applies it anyway)`)
          log.warn(msg)
        }
        return { install: plans.filter((p) => p.change === 'install').map((p) => p.node.name), update: plans.filter((p) => p.change === 'update').map((p) => p.node.name) }
      },
    },
    {
      name: 'apply',
      summary: 'apply the changed configs in parallel',
      destructive: true,
      describe: () => `Apply the configs in parallel (${changing().map((p) => p.node.name).join(', ') || 'nothing'})`,
      targets: () => changing().map((p) => p.node.name),
      confirm: () => `Apply configs to ${changing().map((p) => `${p.node.name} (${p.change})`).join(', ')}?`,
      async check(c) {
        plans ??= await planAll(c, (rendered ??= renderAll(c)).configs)
        return changing().length === 0 ? { done: true, reason: 'every node runs its rendered config: nothing to apply' } : { done: false }
      },
      async run(c, step) {
        await applyAll(c, changing(), step.dryRun)
      },
    },
    {
      name: 'wait-configured',
      summary: 'wait until every node runs its config',
      describe: () => 'Wait until every node that got a config runs it',
      targets: () => changing().map((p) => p.node.name),
      check: () => (changing().length === 0 ? { done: true, reason: 'nothing was applied' } : { done: false }),
      async run(c, step) {
        if (!step.dryRun) await waitConfigured(c, changing().map((p) => p.node))
      },
    },
  ],
})
