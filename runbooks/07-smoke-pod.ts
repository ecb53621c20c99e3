// 07-smoke-pod: run a Guaranteed-QoS test pod (whole CPUs, 1 GiB hugepages) on the validator node, prove where and
// how it runs, and remove it. The pod is removed on every way out: success, failure, Ctrl-C (unless --keep).
// --validator-shape runs it as the validator runs (host network, XDP capabilities, in the validator's namespace)
// and reads what its process sees through the Talos API.
import { runbook } from '../lib/runner/runner.ts'
import { quorumStep } from '../steps/quorum.ts'
import { openCluster, validatorNode } from '../config/cluster.ts'
import { SMOKE_DEFAULTS, hugepageNames, smokePodManifest } from '../steps/07-smoke-pod/smoke-pod.ts'
import {
  checkValidatorNode,
  createPod,
  removeOrKeepPod,
  verifyPod,
  verifyProcess,
  waitForPodRunning,
} from '../steps/07-smoke-pod/steps.ts'
import { expandCpuset, validatorNamespace } from '../config/inventory.ts'
import { validatorCapabilities } from '../lib/host/solana-limits.ts'

await runbook({
  id: '07-smoke-pod',
  title: 'Run a Guaranteed-QoS test pod on the validator node',
  json: true,
  flags: {
    'validator-shape': {
      type: 'boolean',
      description: "run it as the validator runs (host network, its capabilities) and check its process's limits",
    },
    namespace: {
      type: 'string',
      valueName: 'NS',
      description: `namespace of the test pod (default: ${SMOKE_DEFAULTS.namespace}; --validator-shape: validator.namespace)`,
    },
    name: { type: 'string', valueName: 'NAME', default: SMOKE_DEFAULTS.name, description: 'name of the test pod' },
    image: {
      type: 'string',
      valueName: 'IMAGE',
      default: SMOKE_DEFAULTS.image,
      description: 'container image (must run without arguments)',
    },
    cpus: {
      type: 'string',
      valueName: 'N',
      description: `whole CPUs to request (= limit; default: the inventory's validator.pod.cpus, else ${SMOKE_DEFAULTS.cpus})`,
    },
    memory: {
      type: 'string',
      valueName: 'QTY',
      description: `memory to request (= limit; default: validator.pod.memory, else ${SMOKE_DEFAULTS.memory})`,
    },
    hugepages: {
      type: 'string',
      valueName: 'QTY',
      description:
        'hugepages of the default (largest) page size to request (default: validator.pod.hugepages of that size, else one page)',
    },
    timeout: {
      type: 'string',
      valueName: 'SECONDS',
      default: '180',
      description: 'how long to wait for the pod to run',
    },
    keep: { type: 'boolean', description: 'leave the pod in place (for inspection) instead of removing it' },
  },
  async context(flags) {
    const cluster = openCluster(flags.inventory, flags)
    const node = validatorNode(cluster.inv)
    if (!node || !cluster.inv.validator) throw new Error(`${flags.inventory} has no node with profile: validator`)
    const cpus = flags.cpus === undefined ? undefined : Number(flags.cpus)
    const timeout = Number(flags.timeout)
    if (cpus !== undefined && (!Number.isInteger(cpus) || cpus < 1))
      throw new Error(`--cpus ${flags.cpus}: must be a whole number >= 1 (the static CPU manager pins only whole CPUs)`)
    if (!(timeout > 0)) throw new Error(`--timeout ${flags.timeout}: must be a positive number of seconds`)
    const validatorShape = flags.validatorShape
    const namespace =
      flags.namespace ?? (validatorShape ? validatorNamespace(cluster.inv.validator) : SMOKE_DEFAULTS.namespace)
    const ctx = {
      ...cluster,
      cluster: cluster.inv.cluster,
      node,
      validatorShape,
      name: flags.name,
      namespace,
      kubeNodeName: undefined as string | undefined,
      timeoutMs: timeout * 1000,
      unschedulableGraceMs: 10_000,
      manifest: () =>
        smokePodManifest(cluster.inv, {
          name: flags.name,
          namespace,
          image: flags.image,
          cpus,
          memory: flags.memory,
          hugepages: flags.hugepages,
          nodeName: ctx.kubeNodeName,
          validatorShape,
        }),
      processWanted: () => ({
        cpus: Number(ctx.manifest().spec.containers[0]!.resources.limits.cpu),
        reservedCpus: expandCpuset(cluster.inv.validator?.reservedSystemCpus ?? ''),
        capabilities: validatorCapabilities(cluster.inv.validator?.netProvider),
      }),
    }
    ctx.manifest() // refuse bad sizes before the banner, not halfway through
    return ctx
  },
  // a run that failed with one pod is no place to resume another (another namespace, name or shape): that one starts
  // from its first step
  scope: (c) => `${c.namespace}/${c.name}${c.validatorShape ? ' validator-shape' : ''}`,
  steps: [
    quorumStep({ requireBootstrapped: true }),
    {
      name: 'preflight',
      describe: 'the validator node is Ready and has hugepages allocatable',
      detail: (c) => hugepageNames(c.inv).resource,
      targets: (c) => [c.node.name],
      run: (c) => checkValidatorNode(c),
    },
    {
      name: 'create-pod',
      describe: 'create the test pod (deleting a leftover first)',
      detail: (c) => `${c.namespace}/${c.name}`,
      targets: (c) => [c.node.name],
      run: (c) => createPod(c),
    },
    {
      name: 'wait-running',
      describe: "wait until it runs; an unschedulable pod fails with the scheduler's reason",
      detail: (c) => `up to ${Math.round(c.timeoutMs / 1000)} s`,
      targets: (c) => [c.node.name],
      run: (c, step) => waitForPodRunning(c, step),
    },
    {
      name: 'verify',
      describe: 'on the validator node, Guaranteed QoS, requests = limits, Running',
      targets: (c) => [c.node.name],
      run: (c) => verifyPod(c),
    },
    {
      name: 'verify-process',
      describe: "with --validator-shape: the pod's process has the validator's limits, capabilities, CPUs and memory",
      detail: () => 'talosctl containers -k, read /proc/<pid>/limits and /proc/<pid>/status',
      targets: (c) => [c.node.name],
      check: (c) => (c.validatorShape ? false : { done: true, reason: 'not asked (--validator-shape)' }),
      run: (c) => verifyProcess(c),
    },
    {
      name: 'cleanup',
      describe: 'delete the test pod (also done on any failure)',
      detail: (c) => (c.flags.keep ? `--keep: ${c.namespace}/${c.name} stays` : `${c.namespace}/${c.name}`),
      targets: (c) => [c.node.name],
      run: (c) => removeOrKeepPod(c),
    },
  ],
})
