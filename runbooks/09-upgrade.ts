// 09-upgrade: move the cluster to what the inventory renders — each node's Talos version, installer image
// (schematic) and kernel args, one node at a time (control planes, workers, the validator last) — without losing
// etcd quorum. `--dry-run` and `--list` print the plan and change nothing.
import { runbook, RefusedError } from '../lib/runner/runner.ts'
import { openCluster, type Cluster } from '../config/cluster.ts'
import { log } from '../lib/runner/log.ts'
import { UsageError, durationFlag } from '../lib/runner/flags.ts'
import { quorumStep } from '../steps/quorum.ts'
import { formatPlan, type UpgradePlan } from '../steps/09-upgrade/plan.ts'
import { observePlan } from '../steps/09-upgrade/observe.ts'
import { upgradeNode, verifyNode, type UpgradeTimeouts } from '../steps/09-upgrade/talos.ts'
import { formatTimeline, type NodeTimeline } from '../steps/09-upgrade/timeline.ts'
import { upgradeKubernetes } from '../steps/09-upgrade/kubernetes.ts'
import { validatorGate, type RestartWindowOptions } from '../steps/09-upgrade/validator-gate.ts'
import { imageProblemsMessage } from '../config/schematic-images.ts'
import { registerSchematics } from '../steps/image-factory.ts'

interface UpgradeCtx extends Cluster {
  plan: UpgradePlan
  timeouts: UpgradeTimeouts
  restartWindow: RestartWindowOptions
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')

await runbook({
  id: '09-upgrade',
  title: 'Rolling Talos upgrades to what the inventory renders, one node at a time',
  flags: {
    'drain-timeout': {
      type: 'string',
      valueName: 'DURATION',
      default: '5m',
      description: 'give up draining a worker after this long',
    },
    'node-timeout': {
      type: 'string',
      valueName: 'DURATION',
      default: '15m',
      description: 'wait this long for an upgraded node to come back',
    },
    'upgrade-call-timeout': {
      type: 'string',
      valueName: 'DURATION',
      default: '10m',
      description:
        'give the `talosctl upgrade` call this long: machined pulls and checks the installer image (and on a control plane takes the etcd upgrade lock) before it answers',
    },
    'restart-window-minutes': {
      type: 'string',
      valueName: 'N',
      default: '10',
      description: 'take the validator down only when it has no leader slot in the next N minutes (validator.solana)',
    },
    'restart-window-timeout': {
      type: 'string',
      valueName: 'DURATION',
      default: '60m',
      description: 'give up waiting for the restart window after this long',
    },
    'skip-restart-window': {
      type: 'boolean',
      description: 'do not wait for the restart window (asks first; --yes confirms)',
    },
  },
  async context(flags): Promise<UpgradeCtx> {
    const cluster = openCluster(flags.inventory, flags)
    const timeouts = {
      drainMs: durationFlag('drain-timeout', flags.drainTimeout),
      backMs: durationFlag('node-timeout', flags.nodeTimeout),
      upgradeCallMs: durationFlag('upgrade-call-timeout', flags.upgradeCallTimeout),
    }
    const minutes = Number(flags.restartWindowMinutes)
    if (!(Number.isFinite(minutes) && minutes > 0)) {
      throw new UsageError(
        `flag --restart-window-minutes: ${JSON.stringify(flags.restartWindowMinutes)} is not a positive number of minutes`,
      )
    }
    const restartWindow = {
      windowMinutes: minutes,
      timeoutMs: durationFlag('restart-window-timeout', flags.restartWindowTimeout),
      skip: flags.skipRestartWindow,
    }
    return { ...cluster, plan: await observePlan(cluster), timeouts, restartWindow }
  },
  steps: [
    quorumStep({ requireBootstrapped: true }),
    {
      name: 'plan',
      describe: 'per node: the Talos version, schematic and kernel args it runs vs what the inventory renders',
      detail: (c) => `\n${indent(formatPlan(c.plan))}`,
      async run(c) {
        // the plan itself is the step's description, printed on its ▶ line (and by --list)
        if (c.plan.imageProblems.length)
          throw new RefusedError(imageProblemsMessage(c.plan.imageProblems, c.inventoryFile))
        if (c.plan.problems.length) throw new RefusedError(`not upgrading anything: ${c.plan.problems.join('; ')}`)
        return { nodes: c.plan.nodes.map((u) => u.node), kubernetes: c.plan.kubernetes }
      },
    },
    {
      name: 'upgrade-talos',
      describe: 'talosctl upgrade --image, one node at a time, with the etcd/drain gates and the checks after each',
      detail: (c) => (c.plan.nodes.length ? c.plan.nodes.map((u) => u.node).join(' → ') : 'nothing to upgrade'),
      destructive: true,
      targets: (c) => c.plan.nodes.map((u) => u.node),
      confirm: (c) => `Upgrade Talos on ${c.plan.nodes.map((u) => u.node).join(', ')}, one node at a time?`,
      check: (c) =>
        c.plan.nodes.length
          ? { done: false }
          : { done: true, reason: 'every node runs what the inventory renders for it' },
      async run(c, step) {
        const done: { node: string; downMs?: number; skipped?: string; restartWindow?: object }[] = []
        const timeline: NodeTimeline[] = []
        const printTimeline = () => timeline.length && log.info(`  timeline:\n${indent(formatTimeline(timeline))}`)
        // the factory learns each schematic before any node pulls an installer image of it
        const planned = new Set(c.plan.nodes.map((u) => u.node))
        await registerSchematics(
          c,
          c.inv.nodes.filter((n) => planned.has(n.name)),
          step,
        )
        try {
          for (const u of c.plan.nodes) {
            if (step.signal.aborted) break
            if (step.dryRun) {
              if (u.kind === 'validator') {
                const how = c.restartWindow.skip
                  ? 'skip the restart window (--skip-restart-window)'
                  : `wait until the validator has no leader slot in the next ${c.restartWindow.windowMinutes} min`
                log.info(`  ${u.node}: would ${how}`)
              }
              log.info(`  ${u.node}: would run talosctl -n ${u.address} upgrade --image ${u.to.image} --wait=false`)
              continue
            }
            // a re-run resumes here: a node an earlier run finished runs the target already
            if (!(await verifyNode(c, u)).length) {
              log.info(`  ${u.node}: already runs ${u.to.version} with its kernel args (an earlier run upgraded it)`)
              if (u.kind !== 'controlplane') await c.kube.run(['uncordon', u.node], { mutating: true })
              done.push({ node: u.node, skipped: 'already upgraded' })
              continue
            }
            if (!(await step.confirm(`Upgrade ${u.node} (${u.reasons.join('; ')}) now?`)))
              throw new RefusedError(`stopped before ${u.node}: not confirmed`)
            const gate = u.kind === 'validator' ? await validatorGate(c.inv, u, c.restartWindow, step) : undefined
            const r = await upgradeNode(c, u, c.timeouts, (s) => step.progress(s))
            log.ok(`${u.node}: ${u.to.version} (down ${(r.downtimeMs / 1000).toFixed(1)} s)`)
            timeline.push(r)
            done.push({ node: u.node, downMs: r.downtimeMs, ...(gate ? { restartWindow: gate } : {}) })
          }
        } finally {
          printTimeline()
        }
        return { done, timeline }
      },
    },
    {
      name: 'upgrade-k8s',
      describe:
        'talosctl upgrade-k8s --to kubernetesVersion: its --dry-run first, then the upgrade, then every kubelet on it',
      detail: (c) => (c.plan.kubernetes ? `${c.plan.kubernetes.from} → ${c.plan.kubernetes.to}` : 'nothing to upgrade'),
      destructive: true,
      confirm: (c) => `Upgrade Kubernetes from ${c.plan.kubernetes?.from} to ${c.plan.kubernetes?.to}?`,
      check: (c) =>
        c.plan.kubernetes ? { done: false } : { done: true, reason: 'every kubelet runs the inventory version' },
      async run(c, step) {
        await upgradeKubernetes(c, c.plan.kubernetes!, { dryRun: step.dryRun, waitMs: c.timeouts.backMs })
        return { from: c.plan.kubernetes!.from, to: c.plan.kubernetes!.to }
      },
    },
  ],
})
