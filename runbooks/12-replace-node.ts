// 12-replace-node --node NAME: a machine died for good (disk, board) and a blank one takes its name (its address,
// disk and rescue host key in the inventory). For a control plane, only while the other members keep etcd quorum:
// snapshot, remove the dead member (talosctl etcd remove-member), delete the stale Node, provision and configure the
// new machine with 01's and 02's own steps for that node, wait until it joins etcd as a learner and is promoted, check
// that names are unique, and run the checks. A worker (the validator too) loses its Node after a drain and comes back
// the same way; the validator then gets 05-storage-tuning. A node that is alive and healthy needs nothing: every step
// is skipped.
// The steps are steps/12-replace-node/steps.ts; this file wires them and parses the flags.
import { runbook } from '../lib/runner/runner.ts'
import { UsageError, type FlagSpecs } from '../lib/runner/flags.ts'
import type { RunnerExtras } from '../lib/runner/types.ts'
import { controlPlanes, openCluster } from '../config/cluster.ts'
import { memberLabel, type Assessment } from '../steps/12-replace-node/assess.ts'
import {
  alreadyProvisioned,
  assessAndShow,
  backupUnlessHealthy,
  checkUniqueNames,
  configureAndShow,
  deleteDeadNode,
  healthyAlready,
  isCp,
  joinKubernetes,
  noDeadMemberLeft,
  noDeadNodeLeft,
  noEtcdMemberToJoin,
  notTheValidator,
  provisionOne,
  removeFoundDeadMembers,
  runPostChecks,
  runStorageTuning,
  waitUntilPromoted,
  type ReplaceCtx,
} from '../steps/12-replace-node/steps.ts'

const FLAGS = {
  node: { type: 'string', valueName: 'NAME', description: 'the inventory node whose machine is replaced (required)' },
  'no-backup': { type: 'boolean', description: 'do not take an etcd snapshot first' },
} as const satisfies FlagSpecs

await runbook<typeof FLAGS, ReplaceCtx>({
  id: '12-replace-node',
  title: 'Replace a dead machine by a blank one with the same name',
  flags: FLAGS,
  // a failed replacement of cp2 is no place to resume replacing worker1
  scope: (c) => c.node.name,
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
      run: (c) => assessAndShow(c),
    },
    backupUnlessHealthy<ReplaceCtx & RunnerExtras<typeof FLAGS>>('before-replace'),
    {
      name: 'remove-member',
      describe: 'talosctl etcd remove-member <ID> of the dead machine, through a healthy member',
      destructive: true,
      detail: (c) =>
        `Remove ${c.node.name}'s dead etcd member${c.a?.deadMembers.length ? ` ${c.a.deadMembers.map((m) => m.id).join(', ')}` : ''} through ${c.a?.via?.name ?? 'a healthy member'}`,
      targets: (c) => (isCp(c) ? [c.node.name] : []),
      confirm: (c) =>
        `Remove etcd member ${c.a?.deadMembers.map(memberLabel).join(', ')} for good? ${c.node.name}'s old data cannot rejoin afterwards.`,
      check: (c) => noDeadMemberLeft(c),
      run: (c, step) => removeFoundDeadMembers(c, step),
    },
    {
      name: 'delete-node',
      describe: "cordon, drain (without waiting for the dead kubelet) and delete the dead machine's Node",
      destructive: true,
      detail: (c) => `Cordon, drain and delete the Kubernetes Node ${c.node.name} of the dead machine`,
      targets: (c) => [c.node.name],
      check: (c) => noDeadNodeLeft(c),
      run: (c) => deleteDeadNode(c, c.node.name),
    },
    {
      name: 'provision',
      describe: "01's steps for this machine: image over its rescue system (or the ISO), then maintenance mode",
      destructive: true,
      detail: (c) =>
        `Provision ${c.node.name} as 01-provision does (install disk ${c.node.installDisk}), wait for maintenance mode`,
      targets: (c) => [c.node.name],
      check: (c) => alreadyProvisioned(c),
      run: (c, step) => provisionOne(c, c.node, step),
    },
    {
      name: 'configure',
      describe: "02's steps for this machine: render, lint and validate, apply its config, wait until it runs it",
      destructive: true,
      detail: (c) => `Render and validate the configs, apply ${c.node.name}'s (install), wait until it runs it`,
      targets: (c) => [c.node.name],
      check: (c) => healthyAlready(c),
      run: (c, step) => configureAndShow(c, step),
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
      check: (c) => noEtcdMemberToJoin(c),
      run: (c, step) => waitUntilPromoted(c, step),
    },
    {
      name: 'kubernetes-join',
      describe:
        "wait for the new machine's Node: registered, serving CSR approved, Ready; a control plane's static pods Running",
      detail: (c) =>
        `Wait for ${c.node.name} to register, approve its kubelet-serving CSR, wait for Ready` +
        (isCp(c) ? ', and for its static pods to run' : ''),
      targets: (c) => [c.node.name],
      run: (c, step) => joinKubernetes(c, step),
    },
    {
      name: 'unique-names',
      describe: "no two etcd members or Nodes share the machine's name or address",
      detail: (c) => `Check that ${c.node.name} is one etcd member and one Node, with its inventory address`,
      targets: (c) => [c.node.name],
      run: (c, step) => checkUniqueNames(c, step),
    },
    {
      name: 'validator-tuning',
      describe: "the validator: 05-storage-tuning (volume data dirs' owner and mode, labels, taint, reservations)",
      destructive: true,
      detail: (c) => `Run 05-storage-tuning for ${c.node.name}`,
      confirm: (c) =>
        `Run 05-storage-tuning for ${c.node.name} (a privileged one-shot pod creates its volumes' data directories and sets their owner and mode; labels and taint)?`,
      targets: (c) => (c.node.profile === 'validator' ? [c.node.name] : []),
      check: (c) => notTheValidator(c),
      run: (c, step) => runStorageTuning(c, step),
    },
    {
      name: 'checks',
      describe: 'run every post-change check (checks/all.ts); any failure fails the run',
      run: (c, step) => runPostChecks(c, step),
    },
  ],
})
