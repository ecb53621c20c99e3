// 07-smoke-pod: run a Guaranteed-QoS test pod (whole CPUs, 1 GiB hugepages) on the validator node, prove where and
// how it runs, and remove it. The pod is removed on every way out: success, failure, Ctrl-C (unless --keep).
import { sleep } from 'zx'
import { runbook, type StepHandle } from '../lib/runner/runner.ts'
import { quorumStep } from '../steps/quorum.ts'
import { openCluster, validatorNode } from '../config/cluster.ts'
import { CommandError } from '../lib/host/exec.ts'
import { log } from '../lib/runner/log.ts'
import { findKubeNode, type Kube } from '../lib/kube/kubectl.ts'
import {
  SMOKE_DEFAULTS,
  evaluateSmokePod,
  evaluateValidatorNode,
  hugepageNames,
  schedulingFailure,
  smokePodManifest,
  waitingReason,
  type ObservedPod,
  type PodEvent,
} from '../steps/07-smoke-pod/smoke-pod.ts'

interface Ctx {
  kube: Kube
  dryRun: boolean
  flags: { keep: boolean }
  inv: Parameters<typeof smokePodManifest>[0]
  name: string
  namespace: string
  /** The validator's Kubernetes node name, learnt in preflight. */
  kubeNodeName?: string
  manifest: () => ReturnType<typeof smokePodManifest>
  timeoutMs: number
  unschedulableGraceMs: number
}

async function getPod(c: Ctx): Promise<ObservedPod | undefined> {
  const r = await c.kube.run(['get', 'pod', c.name, '-n', c.namespace, '-o', 'json'], {
    nothrow: true,
    quiet: true,
    context: `pod ${c.namespace}/${c.name}`,
  })
  if (r.exitCode !== 0) {
    if (/\(NotFound\)|not found/i.test(r.stderr)) return undefined
    throw new CommandError({ ...r, context: `pod ${c.namespace}/${c.name}` })
  }
  return JSON.parse(r.stdout) as ObservedPod
}

async function podEvents(c: Ctx): Promise<PodEvent[]> {
  const r = await c.kube.run(['get', 'events', '-n', c.namespace, '-o', 'json'], { nothrow: true, quiet: true })
  if (r.exitCode !== 0) return []
  try {
    return (JSON.parse(r.stdout) as { items?: PodEvent[] }).items ?? []
  } catch {
    return []
  }
}

/** Delete the pod and wait until the API no longer has it (kubectl delete waits for the kubelet to finish). */
async function removePod(c: Ctx): Promise<boolean> {
  const existed = c.dryRun ? false : (await getPod(c)) !== undefined
  await c.kube.run(['delete', 'pod', c.name, '-n', c.namespace, '--ignore-not-found', '--wait=true', '--timeout=60s'], {
    mutating: true,
    context: `pod ${c.namespace}/${c.name}`,
  })
  return existed
}

/** Run `fn`; if it throws (or Ctrl-C stops it), remove the pod before the error goes on. */
async function cleaningUp<T>(c: Ctx, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    if (c.flags.keep)
      log.warn(
        `--keep: leaving pod ${c.namespace}/${c.name} for inspection (kubectl describe pod -n ${c.namespace} ${c.name})`,
      )
    else {
      try {
        await removePod(c)
        log.info(`  removed pod ${c.namespace}/${c.name} after the failure`)
      } catch (cleanup) {
        log.error(`could not remove pod ${c.namespace}/${c.name}: ${(cleanup as Error).message}`)
      }
    }
    throw e
  }
}

async function ensurePod(c: Ctx): Promise<void> {
  if (c.dryRun || (await getPod(c))) return
  log.warn(`pod ${c.namespace}/${c.name} does not exist (a resumed run?): creating it`)
  await c.kube.apply(c.manifest())
}

async function waitRunning(c: Ctx, step: StepHandle): Promise<ObservedPod> {
  const t0 = Date.now()
  let unschedulableSince: number | undefined
  for (;;) {
    const pod = await getPod(c)
    if (!pod) throw new Error(`pod ${c.namespace}/${c.name} disappeared while waiting for it to run`)
    const phase = pod.status?.phase ?? 'Pending'
    if (phase === 'Running') return pod
    if (phase === 'Failed' || phase === 'Succeeded') {
      throw new Error(
        `pod ${c.namespace}/${c.name} ended ${phase} on ${pod.spec?.nodeName ?? '?'}${waitingReason(pod) ? `: ${waitingReason(pod)}` : ''}`,
      )
    }
    let why = pod.spec?.nodeName ? waitingReason(pod) : undefined
    if (!pod.spec?.nodeName) {
      const reason = schedulingFailure(pod, await podEvents(c))
      if (reason) {
        unschedulableSince ??= Date.now()
        why = `unschedulable: ${reason}`
        // The scheduler retries, but preflight saw the node Ready with hugepages: a verdict that holds is final.
        if (Date.now() - unschedulableSince >= c.unschedulableGraceMs) {
          throw new Error(`pod ${c.namespace}/${c.name} cannot be scheduled: ${reason}`)
        }
      } else unschedulableSince = undefined
    }
    step.progress(`${phase}${pod.spec?.nodeName ? ` on ${pod.spec.nodeName}` : ''}${why ? ` — ${why}` : ''}`)
    if (Date.now() - t0 > c.timeoutMs) {
      throw new Error(
        `pod ${c.namespace}/${c.name} not Running after ${Math.round(c.timeoutMs / 1000)} s (phase ${phase}${why ? `; ${why}` : ''})`,
      )
    }
    // zx's sleep has no signal: a Ctrl-C is seen within the second
    await sleep(1000)
    step.signal.throwIfAborted()
  }
}

await runbook({
  id: '07-smoke-pod',
  title: 'Run a Guaranteed-QoS test pod on the validator node',
  json: true,
  flags: {
    namespace: {
      type: 'string',
      valueName: 'NS',
      default: SMOKE_DEFAULTS.namespace,
      description: 'namespace of the test pod',
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
      description: 'hugepages to request (default: validator.pod.hugepages, else one page of the inventory size)',
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
    const ctx = {
      ...cluster,
      cluster: cluster.inv.cluster,
      node,
      name: flags.name,
      namespace: flags.namespace,
      kubeNodeName: undefined as string | undefined,
      timeoutMs: timeout * 1000,
      unschedulableGraceMs: 10_000,
      manifest: () =>
        smokePodManifest(cluster.inv, {
          name: flags.name,
          namespace: flags.namespace,
          image: flags.image,
          cpus,
          memory: flags.memory,
          hugepages: flags.hugepages,
          nodeName: ctx.kubeNodeName,
        }),
    }
    ctx.manifest() // refuse bad sizes before the banner, not halfway through
    return ctx
  },
  steps: [
    quorumStep({ requireBootstrapped: true }),
    {
      name: 'preflight',
      summary: 'the validator node is Ready and has hugepages allocatable',
      describe: (c) => `${c.node.name} is Ready and has ${hugepageNames(c.inv).resource} allocatable`,
      targets: (c) => [c.node.name],
      async run(c) {
        const k = findKubeNode(await c.kube.nodes(), c.node)
        const problems = evaluateValidatorNode(k, c.inv, c.flags.hugepages ?? undefined)
        if (problems.length) throw new Error(problems.join('; '))
        c.kubeNodeName = k!.metadata.name
        const { resource } = hugepageNames(c.inv)
        log.info(
          `  ${k!.metadata.name}: Ready, ${resource} allocatable ${k!.status?.allocatable?.[resource]}, cpu ${k!.status?.allocatable?.cpu}`,
        )
        return { node: k!.metadata.name, allocatable: k!.status?.allocatable }
      },
    },
    {
      name: 'create-pod',
      summary: 'create the test pod (deleting a leftover first)',
      describe: (c) => `Create pod ${c.namespace}/${c.name} (a leftover from an interrupted run is deleted first)`,
      targets: (c) => [c.node.name],
      async run(c) {
        return cleaningUp(c, async () => {
          if (await removePod(c)) log.info(`  deleted a leftover pod ${c.namespace}/${c.name}`)
          const m = c.manifest()
          await c.kube.apply(m)
          return {
            pod: `${c.namespace}/${c.name}`,
            nodeSelector: m.spec.nodeSelector,
            resources: m.spec.containers[0]!.resources.limits,
          }
        })
      },
    },
    {
      name: 'wait-running',
      summary: "wait until it runs; an unschedulable pod fails with the scheduler's reason",
      describe: (c) =>
        `Wait until the pod runs (up to ${Math.round(c.timeoutMs / 1000)} s); an unschedulable pod fails with the scheduler's reason`,
      targets: (c) => [c.node.name],
      async run(c, step) {
        if (c.dryRun) return
        return cleaningUp(c, async () => {
          await ensurePod(c)
          const t0 = Date.now()
          const pod = await waitRunning(c, step)
          log.info(`  Running on ${pod.spec?.nodeName} after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
          return { node: pod.spec?.nodeName, waitedMs: Date.now() - t0 }
        })
      },
    },
    {
      name: 'verify',
      summary: 'on the validator node, Guaranteed QoS, requests = limits, Running',
      describe: () =>
        'On the validator node, Guaranteed QoS, requests = limits (whole CPUs, memory, hugepages), Running',
      targets: (c) => [c.node.name],
      async run(c) {
        if (c.dryRun) return
        return cleaningUp(c, async () => {
          const pod = await getPod(c)
          if (!pod)
            throw new Error(`pod ${c.namespace}/${c.name} does not exist: re-run from create-pod (--from create-pod)`)
          const problems = evaluateSmokePod(pod, c.inv, { nodeName: c.kubeNodeName })
          if (problems.length) throw new Error(`pod ${c.namespace}/${c.name}: ${problems.join('; ')}`)
          const limits = pod.spec?.containers?.[0]?.resources?.limits
          log.info(
            `  ${pod.spec?.nodeName}: QoS ${pod.status?.qosClass}, limits ${Object.entries(limits ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')}`,
          )
          return { node: pod.spec?.nodeName, qosClass: pod.status?.qosClass, limits }
        })
      },
    },
    {
      name: 'cleanup',
      summary: 'delete the test pod (also done on any failure)',
      describe: (c) =>
        c.flags.keep ? `--keep: leave pod ${c.namespace}/${c.name} in place` : `Delete pod ${c.namespace}/${c.name}`,
      targets: (c) => [c.node.name],
      async run(c) {
        if (c.flags.keep) {
          log.warn(
            `--keep: pod ${c.namespace}/${c.name} left running; delete it with kubectl delete pod -n ${c.namespace} ${c.name}`,
          )
          return { kept: true }
        }
        return { deleted: await removePod(c) }
      },
    },
  ],
})
