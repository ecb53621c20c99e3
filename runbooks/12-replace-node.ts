// 12-replace-node --node NAME: a machine died for good (disk, board) and a blank one takes its name (its address,
// disk and rescue host key in the inventory). For a control plane, only while the other members keep etcd quorum:
// snapshot, remove the dead member (talosctl etcd remove-member), delete the stale Node, provision and configure the
// new machine with 01's and 02's own steps for that node, wait until it joins etcd as a learner and is promoted, check
// that names are unique, and run the checks. A worker (the validator too) loses its Node after a drain and comes back
// the same way; the validator then gets 05-storage-tuning. A node that is alive and healthy needs nothing: every step
// is skipped.
import { runbook } from '../lib/runner/runner.ts'
import { UsageError, type FlagSpecs } from '../lib/runner/flags.ts'
import { log } from '../lib/runner/log.ts'
import { RefusedError, type RunnerExtras } from '../lib/runner/types.ts'
import { run } from '../lib/host/exec.ts'
import { controlPlanes, openCluster, type Cluster } from '../config/cluster.ts'
import type { InventoryNode } from '../config/inventory.ts'
import { renderProblems, summaryLine } from '../checks/engine/reporter.ts'
import { backupFirstStep } from '../steps/etcd-backup.ts'
import { runSuite } from '../steps/run-checks.ts'
import { assess, type Assessment } from '../steps/12-replace-node/assess.ts'
import {
  configureOne,
  deleteDeadNode,
  joinOne,
  membershipProblems,
  nodeObjectProblems,
  provisionOne,
  removeDeadMembers,
  waitPromoted,
} from '../steps/12-replace-node/steps.ts'

type Ctx = Cluster & { node: InventoryNode; a?: Assessment; t0: number }

/** What the run found (a resumed run or --step finds it again). */
const found = async (c: Ctx) => (c.a ??= await assess(c, c.node))
const isCp = (c: Ctx) => c.node.role === 'controlplane'
const nothingToDo = (c: Ctx) => ({ done: true, reason: `${c.node.name} is alive and healthy: nothing to replace` })

const FLAGS = {
  node: { type: 'string', valueName: 'NAME', description: 'the inventory node whose machine is replaced (required)' },
  'no-backup': { type: 'boolean', description: 'do not take an etcd snapshot first' },
} as const satisfies FlagSpecs

const backup = backupFirstStep<Ctx & RunnerExtras<typeof FLAGS>>('before-replace')

await runbook<typeof FLAGS, Ctx>({
  id: '12-replace-node',
  title: 'Replace a dead machine by a blank one with the same name',
  flags: FLAGS,
  context(flags) {
    const cluster = openCluster(flags.inventory, flags)
    const names = cluster.inv.nodes.map((n) => n.name)
    const node = cluster.inv.nodes.find((n) => n.name === flags.node)
    if (!flags.node) throw new UsageError(`flag --node for 12-replace-node is required (nodes: ${names.join(', ')})`)
    if (!node)
      throw new UsageError(
        `flag --node for 12-replace-node: ${flags.node} is not a node of ${flags.inventory} (nodes: ${names.join(', ')})`,
      )
    return { ...cluster, node, a: undefined as Assessment | undefined, t0: Date.now() }
  },
  steps: [
    {
      name: 'assess',
      describe: 'is the machine the blank replacement? which etcd member is dead? quorum without it?',
      detail: (c) =>
        `Ask ${c.node.name} what it runs${isCp(c) ? `; ask the other control planes for etcd and its members: refuse unless they keep quorum without ${c.node.name}` : ''}`,
      targets: (c) => (isCp(c) ? controlPlanes(c.inv).map((n) => n.name) : [c.node.name]),
      async run(c) {
        c.a = await assess(c, c.node)
        log.info(`  ${c.node.name.padEnd(12)} ${c.a.summary}`)
        if (c.a.via)
          log.info(
            `  etcd members (as ${c.a.via.name} sees them): ${c.a.members.map((m) => `${m.hostname || '?'} ${m.id}${m.learner ? ' (learner)' : ''}`).join(', ')}`,
          )
        if (c.a.healthy) log.ok(`${c.node.name} is alive and healthy: nothing to replace`)
        else if (c.a.deadMembers.length)
          log.info(`  dead member: ${c.a.deadMembers.map((m) => `${m.hostname} ${m.id}`).join(', ')}`)
        return { machine: c.a.machine, healthy: c.a.healthy, dead: c.a.deadMembers.map((m) => m.id) }
      },
    },
    {
      ...backup,
      async check(c, step) {
        return (await found(c)).healthy ? nothingToDo(c) : backup.check!(c, step)
      },
    },
    {
      name: 'remove-member',
      describe: 'talosctl etcd remove-member <ID> of the dead machine, through a healthy member',
      destructive: true,
      detail: (c) =>
        `Remove ${c.node.name}'s dead etcd member${c.a?.deadMembers.length ? ` ${c.a.deadMembers.map((m) => m.id).join(', ')}` : ''} through ${c.a?.via?.name ?? 'a healthy member'}`,
      targets: (c) => (isCp(c) ? [c.node.name] : []),
      confirm: (c) =>
        `Remove etcd member ${c.a?.deadMembers.map((m) => `${m.hostname} ${m.id}`).join(', ')} for good? ${c.node.name}'s old data cannot rejoin afterwards.`,
      async check(c) {
        if (!isCp(c)) return { done: true, reason: 'a worker has no etcd member' }
        const a = await found(c)
        if (a.healthy) return nothingToDo(c)
        return a.deadMembers.length ? { done: false } : { done: true, reason: `no member named ${c.node.name} is left` }
      },
      async run(c, step) {
        const a = await found(c)
        return { removed: await removeDeadMembers(c, a.via!, a.deadMembers, step.dryRun) }
      },
    },
    {
      name: 'delete-node',
      describe: "cordon, drain (without waiting for the dead kubelet) and delete the dead machine's Node",
      destructive: true,
      detail: (c) => `Cordon, drain and delete the Kubernetes Node ${c.node.name} of the dead machine`,
      targets: (c) => [c.node.name],
      async check(c) {
        const a = await found(c)
        if (a.healthy) return nothingToDo(c)
        if (a.machine === 'configured')
          return { done: true, reason: `${c.node.name} runs its config: its Node is the new machine's` }
        return (await c.kube.node(c.node.name)) ? { done: false } : { done: true, reason: `no Node ${c.node.name}` }
      },
      async run(c) {
        await deleteDeadNode(c, c.node.name)
      },
    },
    {
      name: 'provision',
      describe: "01's steps for this machine: image over its rescue system (or the ISO), then maintenance mode",
      destructive: true,
      detail: (c) =>
        `Provision ${c.node.name} as 01-provision does (install disk ${c.node.installDisk}), wait for maintenance mode`,
      targets: (c) => [c.node.name],
      async check(c) {
        const a = await found(c)
        if (a.healthy) return nothingToDo(c)
        return a.machine === 'configured'
          ? { done: true, reason: `${c.node.name} runs Talos with a config` }
          : { done: false }
      },
      async run(c, step) {
        await provisionOne(c, c.node, step)
      },
    },
    {
      name: 'configure',
      describe: "02's steps for this machine: render, lint and validate, apply its config, wait until it runs it",
      destructive: true,
      detail: (c) => `Render and validate the configs, apply ${c.node.name}'s (install), wait until it runs it`,
      targets: (c) => [c.node.name],
      async check(c) {
        return (await found(c)).healthy ? nothingToDo(c) : { done: false }
      },
      async run(c, step) {
        log.info(`  ${c.node.name}: ${await configureOne(c, c.node, step.dryRun)}`)
      },
    },
    {
      name: 'etcd-join',
      describe:
        'wait until the new member joined as a learner and was promoted: every control plane voting, no learner',
      detail: (c) =>
        `Wait until ${c.node.name} joined etcd as a learner and was promoted (${controlPlanes(c.inv)
          .map((n) => n.name)
          .join(', ')} voting, no learner)`,
      targets: (c) => (isCp(c) ? [c.node.name] : []),
      async check(c) {
        return isCp(c) ? { done: false } : { done: true, reason: 'a worker has no etcd member' }
      },
      async run(c, step) {
        if (step.dryRun) return
        const members = await waitPromoted(c, c.node, step)
        log.info(`  members: ${members.map((m) => `${m.hostname} ${m.id}`).join(', ')} — all voting`)
        return { members: members.map((m) => m.hostname) }
      },
    },
    {
      name: 'kubernetes-join',
      describe: "wait for the new machine's Node: registered, serving CSR approved, Ready",
      detail: (c) => `Wait for ${c.node.name} to register, approve its kubelet-serving CSR, wait for Ready`,
      targets: (c) => [c.node.name],
      async run(c, step) {
        if (!step.dryRun) await joinOne(c, c.node)
      },
    },
    {
      name: 'unique-names',
      describe: "no two etcd members or Nodes share the machine's name or address",
      detail: (c) => `Check that ${c.node.name} is one etcd member and one Node, with its inventory address`,
      targets: (c) => [c.node.name],
      async run(c, step) {
        if (step.dryRun) return
        const cps = controlPlanes(c.inv)
        const problems = [
          ...(isCp(c)
            ? membershipProblems(
                cps.map((n) => n.name),
                await c.talos.etcdMembers(c.node.address),
              )
            : []),
          ...(await nodeObjectProblems(c, c.node)),
        ]
        if (problems.length) throw new Error(problems.join('; '))
        log.info(`  ${c.node.name}: one ${isCp(c) ? 'etcd member and one ' : ''}Node, InternalIP ${c.node.address}`)
      },
    },
    {
      name: 'validator-tuning',
      describe: "the validator: 05-storage-tuning (volumes' owner and mode, labels, taint, reservations)",
      destructive: true,
      detail: (c) => `Run 05-storage-tuning for ${c.node.name}`,
      confirm: (c) =>
        `Run 05-storage-tuning for ${c.node.name} (a privileged one-shot pod sets its volumes' owner and mode; labels and taint)?`,
      targets: (c) => (c.node.profile === 'validator' ? [c.node.name] : []),
      async check(c) {
        return c.node.profile === 'validator'
          ? { done: false }
          : { done: true, reason: `${c.node.name} is not the validator` }
      },
      async run(c, step) {
        // confirmed above: 05 runs unattended; its own steps (quorum, volumes, labels, taint) are printed below
        const args = ['zx', 'runbooks/05-storage-tuning.ts', '--inventory', c.inventoryFile, '--yes']
        const r = await run('npx', [...args, ...(step.dryRun ? ['--dry-run'] : [])], { nothrow: true })
        log.dim(
          `${r.stdout}${r.stderr}`
            .trim()
            .split('\n')
            .map((l) => `    ${l}`)
            .join('\n'),
        )
        const why = `05-storage-tuning exited ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`
        if (r.exitCode === 3) throw new RefusedError(why)
        if (r.exitCode !== 0) throw new Error(why)
      },
    },
    {
      name: 'checks',
      describe: 'run every post-change check (checks/all.ts); any failure fails the run',
      async run(c, step) {
        if (step.dryRun) return
        const report = await runSuite(c.inventoryFile, [], { callTimeoutMs: c.talos.timeoutMs })
        for (const line of renderProblems(report)) log.info(`  ${line}`)
        log.info(`  ${summaryLine(report.summary)}`)
        const failed = report.results.filter((r) => r.status === 'fail')
        if (failed.length)
          throw new Error(
            `${failed.length} check(s) failed: ${failed
              .slice(0, 5)
              .map((r) => `${r.check} on ${r.target}: ${r.message}`)
              .join('; ')}`,
          )
        log.ok(`${c.node.name} replaced; the cluster passes the checks (${((Date.now() - c.t0) / 1000).toFixed(1)} s)`)
        return { summary: report.summary, seconds: (Date.now() - c.t0) / 1000 }
      },
    },
  ],
})
