// 02-configure: render every node's Talos config from the inventory, lint and validate it, show what
// would change on each node, and apply in parallel. `--lint FILE...` lints configs and applies nothing.
import { runbook } from '../lib/runner/runner.ts'
import { quorumStep } from '../steps/quorum.ts'
import { backupFirstStep } from '../steps/etcd-backup.ts'
import { openCluster, type Cluster } from '../config/cluster.ts'
import { log } from '../lib/runner/log.ts'
import { lintCli } from '../config/lint-cli.ts'
import { RefusedError } from '../lib/runner/types.ts'
import { imageProblemsMessage, imageSchematicProblems } from '../config/schematic-images.ts'
import { kubeletStateChanges, kubeletStateProcedure } from '../config/kubelet-policy.ts'
import {
  applyAll,
  assertClean,
  assertTalosValid,
  dryRunScratch,
  ensureSecrets,
  ensureTalosconfig,
  planAll,
  renderAll,
  waitConfigured,
  workspace,
  writeConfigs,
  type NodePlan,
  type Rendered,
  type Workspace,
} from '../steps/configure.ts'
import { pendingKernelArgs, upgradeNeededMessage } from '../steps/02-configure/upgrade-needed.ts'

const lintAt = process.argv.indexOf('--lint')
if (lintAt >= 0) process.exit(await lintCli(process.argv.slice(lintAt + 1)))

// Steps share what they computed through the context; a resumed run recomputes it (rendering is pure, the diff
// re-reads the nodes).
interface Computed {
  rendered?: Rendered
  plans?: NodePlan[]
}
type ConfigureCtx = Cluster & Computed & { ws: Workspace; dryRun: boolean; flags: { noBackup?: boolean } }
const changing = (c: Computed) => (c.plans ?? []).filter((p) => p.change !== 'none')

/** The rendered configs for steps that run without `render` before them (--from, --step, a resumed run). */
async function renderedFor(c: Cluster & Computed & { ws: Workspace }): Promise<Rendered> {
  if (c.rendered) return c.rendered
  // a dry run keeps nothing between runs: it needs a bundle to render with, and the files apply-config --dry-run reads
  if (c.ws.scratch) await ensureSecrets(c, c.ws)
  c.rendered = renderAll(c, c.ws)
  if (c.ws.scratch) writeConfigs(c, c.rendered, c.ws)
  return c.rendered
}

await runbook({
  id: '02-configure',
  title: 'Render, lint and apply the Talos machine configs',
  flags: {
    lint: {
      type: 'boolean',
      description: 'lint the config files (or directories, recursively) given after --lint and exit (nothing applied)',
    },
    'no-backup': {
      type: 'boolean',
      description: "do not take an etcd snapshot before applying (10-etcd-backup's backup step)",
    },
    'allow-kubelet-policy-change': {
      type: 'boolean',
      description:
        'apply kubelet reservedSystemCPUs / reservedMemory / memory manager changes to running nodes (follow the printed procedure)',
    },
  },
  async context(flags) {
    const cluster = openCluster(flags.inventory, flags)
    // a dry run writes nothing: what a real run writes to the output dir goes to a temp dir removed on exit
    const computed: Computed = {}
    return Object.assign(cluster, { ws: workspace(cluster, flags.dryRun ? dryRunScratch() : undefined) }, computed)
  },
  steps: [
    quorumStep(),
    {
      name: 'secrets',
      describe: 'generate the secrets bundle once (0600), reuse it afterwards',
      detail: (c) => c.paths.secrets,
      async run(c) {
        log.info(`  secrets bundle ${await ensureSecrets(c, c.ws)}`)
      },
    },
    {
      name: 'render',
      describe: 'render, lint, schema-check and `talosctl validate --strict` every config; write all or nothing',
      detail: (c) => `${c.inv.nodes.length} machine configs`,
      targets: (c) => c.inv.nodes.map((n) => n.name),
      async run(c) {
        // machine.install.image is what each node upgrades to: it must carry the node's schematic (kernel args)
        const problems = imageSchematicProblems(c.inv).filter((p) => !p.includes('rescue.imageUrl'))
        if (problems.length) throw new RefusedError(imageProblemsMessage(problems, c.inventoryFile))
        const rendered = (c.rendered = renderAll(c, c.ws))
        assertClean(rendered)
        await assertTalosValid(c, rendered, { remember: !c.ws.scratch })
        const dir = writeConfigs(c, rendered, c.ws)
        log.info(
          c.ws.scratch
            ? `  dry run: ${rendered.configs.size} configs rendered, linted and validated in ${dir} (removed on exit); a real run writes them to ${c.paths.outDir}`
            : `  wrote ${rendered.configs.size} configs (0600) to ${dir}`,
        )
      },
    },
    {
      name: 'talosconfig',
      describe: 'generate the talosconfig (0600)',
      detail: (c) => c.paths.talosconfig,
      async run(c) {
        const how = await ensureTalosconfig(c)
        log.info(
          `  talosconfig ${how === 'generated' && c.dryRun ? 'not generated (dry run): the commands above show how it would be' : how}`,
        )
      },
    },
    {
      name: 'diff',
      describe: "compare each node's running config with the rendered one",
      targets: (c) => c.inv.nodes.map((n) => n.name),
      async run(c) {
        const rendered = await renderedFor(c)
        const plans = (c.plans = await planAll(c, rendered.configs))
        for (const p of plans) {
          log.info(
            `  ${p.node.name.padEnd(12)} ${p.change === 'install' ? `maintenance mode: first config (install to ${p.node.installDisk})` : p.change === 'none' ? 'runs this config already' : 'changes:'}`,
          )
          if (p.diff)
            log.dim(
              p.diff
                .split('\n')
                .slice(2)
                .map((l) => `    ${l}`)
                .join('\n'),
            )
        }
        for (const p of plans.filter((x) => x.reboots))
          log.warn(
            `  ${p.node.name}: ${p.reboots!.join(', ')} changed: Talos applies this only at boot, so the apply reboots ${p.node.name} (apply-config --mode auto)${p.node.profile === 'validator' ? '; drain it first or run this in its restart window' : ''}`,
          )
        const stuck = plans
          .filter((p) => p.change === 'update' && p.running)
          .map((p) => ({ node: p.node, changes: kubeletStateChanges(p.running!, rendered.configs.get(p.node.name)!) }))
          .filter((x) => x.changes.length)
        if (stuck.length) {
          const msg = kubeletStateProcedure(stuck, c.inventoryFile)
          if (!c.flags.allowKubeletPolicyChange)
            throw new RefusedError(`${msg}\n(--allow-kubelet-policy-change applies it anyway)`)
          log.warn(msg)
        }
        return {
          install: plans.filter((p) => p.change === 'install').map((p) => p.node.name),
          update: plans.filter((p) => p.change === 'update').map((p) => p.node.name),
        }
      },
    },
    // the snapshot guards a change: taken once the diff shows one, so a re-run with nothing to do takes none
    backupFirstStep<ConfigureCtx>('before-configure', async (c) => {
      c.plans ??= await planAll(c, (await renderedFor(c)).configs)
      return changing(c).length === 0 ? 'nothing to apply: no snapshot needed' : undefined
    }),
    {
      name: 'apply',
      describe: 'apply the changed configs in parallel',
      detail: (c) =>
        changing(c)
          .map((p) => p.node.name)
          .join(', ') || 'nothing',
      destructive: true,
      targets: (c) => changing(c).map((p) => p.node.name),
      confirm: (c) =>
        `Apply configs to ${changing(c)
          .map((p) => `${p.node.name} (${p.change}${p.reboots ? ', reboots' : ''})`)
          .join(', ')}?`,
      async check(c) {
        c.plans ??= await planAll(c, (await renderedFor(c)).configs)
        return changing(c).length === 0
          ? { done: true, reason: 'every node runs its rendered config: nothing to apply' }
          : { done: false }
      },
      async run(c, step) {
        await applyAll(c, changing(c), step.dryRun, c.ws)
      },
    },
    {
      name: 'wait-configured',
      describe: 'wait until every node runs its config',
      targets: (c) => changing(c).map((p) => p.node.name),
      check: (c) => (changing(c).length === 0 ? { done: true, reason: 'nothing was applied' } : { done: false }),
      async run(c, step) {
        if (!step.dryRun)
          await waitConfigured(
            c,
            changing(c).map((p) => p.node),
            {
              bootBefore: new Map(
                changing(c).flatMap((p) => (p.bootBefore === undefined ? [] : [[p.node.name, p.bootBefore]])),
              ),
            },
          )
      },
    },
    {
      name: 'upgrade-needed',
      describe: 'say which nodes still boot without their kernel args (those need 09-upgrade)',
      async run(c) {
        const pending = await pendingKernelArgs(c)
        for (const u of pending.filter((x) => x.unreadable))
          log.warn(`  ${u.node}: cannot read /proc/cmdline (${u.unreadable})`)
        const message = upgradeNeededMessage(c, pending)
        if (message) log.warn(`  ${message}`)
        else if (!pending.length) log.info('  every node boots with the kernel args the inventory wants')
        return { upgradeNeeded: pending }
      },
    },
  ],
})
