// The steps of 07-smoke-pod that talk to the cluster: check the validator node, create, wait for, verify and remove
// the smoke pod. What the pod is and how it is judged (pure) lives in smoke-pod.ts.
import { sleep } from 'zx'
import type { StepHandle } from '../../lib/runner/runner.ts'
import { CommandError } from '../../lib/host/exec.ts'
import { log } from '../../lib/runner/log.ts'
import { findKubeNode, type Kube } from '../../lib/kube/kubectl.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import type { Talosctl } from '../../lib/talos/talosctl.ts'
import { validatorNamespace } from '../../config/inventory.ts'
import { boundNumaNode, evaluateValidatorProcess, findContainer, type ProcessWanted } from './validator-process.ts'
import {
  SMOKE_CONTAINER,
  podSecurityRefusal,
  evaluateSmokePod,
  evaluateValidatorNode,
  hugepageNames,
  podEndedMessage,
  schedulingFailure,
  smokePodManifest,
  waitingReason,
  type ObservedPod,
  type PodEvent,
} from './smoke-pod.ts'

/** What the smoke-pod steps read from 07's context. */
interface SmokeCtx {
  kube: Kube
  dryRun: boolean
  flags: { keep: boolean; hugepages?: string | null }
  inv: Parameters<typeof smokePodManifest>[0]
  /** The validator node of the inventory. */
  node: InventoryNode
  name: string
  namespace: string
  /** The validator's Kubernetes node name, learnt in preflight. */
  kubeNodeName?: string
  manifest: () => ReturnType<typeof smokePodManifest>
  timeoutMs: number
  unschedulableGraceMs: number
}

/** What verifyProcess reads besides: the Talos API and what the process must show. */
interface ProcessCtx extends SmokeCtx {
  talos: Talosctl
  processWanted: () => ProcessWanted
}

async function getPod(c: SmokeCtx): Promise<ObservedPod | undefined> {
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

async function podEvents(c: SmokeCtx): Promise<PodEvent[]> {
  const r = await c.kube.run(['get', 'events', '-n', c.namespace, '-o', 'json'], { nothrow: true, quiet: true })
  if (r.exitCode !== 0) return []
  try {
    return (JSON.parse(r.stdout) as { items?: PodEvent[] }).items ?? []
  } catch {
    return []
  }
}

/** Delete the pod and wait until the API no longer has it (kubectl delete waits for the kubelet to finish). */
async function removePod(c: SmokeCtx): Promise<boolean> {
  const existed = c.dryRun ? false : (await getPod(c)) !== undefined
  await c.kube.run(['delete', 'pod', c.name, '-n', c.namespace, '--ignore-not-found', '--wait=true', '--timeout=60s'], {
    mutating: true,
    context: `pod ${c.namespace}/${c.name}`,
  })
  return existed
}

/** Run `fn`; if it throws (or Ctrl-C stops it), remove the pod before the error goes on. */
async function cleaningUp<T>(c: SmokeCtx, fn: () => Promise<T>): Promise<T> {
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

async function ensurePod(c: SmokeCtx): Promise<void> {
  if (c.dryRun || (await getPod(c))) return
  log.warn(`pod ${c.namespace}/${c.name} does not exist (a resumed run?): creating it`)
  await c.kube.apply(c.manifest())
}

async function waitRunning(c: SmokeCtx, step: StepHandle): Promise<ObservedPod> {
  const t0 = Date.now()
  let unschedulableSince: number | undefined
  for (;;) {
    const pod = await getPod(c)
    if (!pod) throw new Error(`pod ${c.namespace}/${c.name} disappeared while waiting for it to run`)
    const phase = pod.status?.phase ?? 'Pending'
    if (phase === 'Running') return pod
    if (phase === 'Failed' || phase === 'Succeeded') throw new Error(podEndedMessage(pod))
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

/** The validator node is Ready and has hugepages allocatable; remembers its Kubernetes name for the pod. */
export async function checkValidatorNode(c: SmokeCtx): Promise<Record<string, unknown>> {
  const k = findKubeNode(await c.kube.nodes(), c.node)
  const problems = evaluateValidatorNode(k, c.inv, c.flags.hugepages ?? undefined)
  if (problems.length) throw new Error(problems.join('; '))
  c.kubeNodeName = k!.metadata.name
  const { resource } = hugepageNames(c.inv)
  log.info(
    `  ${k!.metadata.name}: Ready, ${resource} allocatable ${k!.status?.allocatable?.[resource]}, cpu ${k!.status?.allocatable?.cpu}`,
  )
  return { node: k!.metadata.name, allocatable: k!.status?.allocatable }
}

/** Why the API refused the pod, in words that say what to do: PodSecurity and a missing namespace. */
function refusal(c: SmokeCtx, e: unknown): Error {
  const stderr = e instanceof CommandError ? e.stderr : String(e)
  const own = validatorNamespace(c.inv.validator)
  const verdict = podSecurityRefusal(stderr)
  if (verdict) {
    const fix =
      c.namespace === own
        ? `namespace ${own} exists without the PodSecurity labels 02 renders for it (Talos creates it only when it is ` +
          `missing): kubectl label namespace ${own} pod-security.kubernetes.io/enforce=privileged`
        : `run it in the validator's namespace ${own} (02 renders it with PodSecurity level privileged), or label ` +
          `this one: kubectl label namespace ${c.namespace} pod-security.kubernetes.io/enforce=privileged`
    return new Error(`namespace ${c.namespace} refuses the pod: ${verdict}. ${fix}`)
  }
  if (new RegExp(`namespaces "${c.namespace}" not found`).test(stderr))
    return new Error(
      `namespace ${c.namespace} does not exist` +
        (c.namespace === own
          ? ': 02 renders it as an inline manifest, which Talos creates once a control plane has that config'
          : ''),
    )
  return e as Error
}

/** Create the pod, deleting a leftover of an interrupted run first. */
export async function createPod(c: SmokeCtx): Promise<Record<string, unknown>> {
  return cleaningUp(c, async () => {
    if (await removePod(c)) log.info(`  deleted a leftover pod ${c.namespace}/${c.name}`)
    const m = c.manifest()
    await c.kube.apply(m).catch((e: unknown) => {
      throw refusal(c, e)
    })
    return {
      pod: `${c.namespace}/${c.name}`,
      nodeSelector: m.spec.nodeSelector,
      resources: m.spec.containers[0]!.resources.limits,
    }
  })
}

export async function waitForPodRunning(c: SmokeCtx, step: StepHandle): Promise<Record<string, unknown> | undefined> {
  if (c.dryRun) return
  return cleaningUp(c, async () => {
    await ensurePod(c)
    const t0 = Date.now()
    const pod = await waitRunning(c, step)
    log.info(`  Running on ${pod.spec?.nodeName} after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    return { node: pod.spec?.nodeName, waitedMs: Date.now() - t0 }
  })
}

export async function verifyPod(c: SmokeCtx): Promise<Record<string, unknown> | undefined> {
  if (c.dryRun) return
  return cleaningUp(c, async () => {
    const pod = await getPod(c)
    if (!pod) throw new Error(`pod ${c.namespace}/${c.name} does not exist: re-run from create-pod (--from create-pod)`)
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
}

/**
 * The validator-shaped pod's process as the node runs it: its PID from the CRI (`talosctl containers -k`), then
 * /proc/<pid>/limits and /proc/<pid>/status, and the cpulist of the NUMA node its memory is bound to.
 */
export async function verifyProcess(c: ProcessCtx): Promise<Record<string, unknown> | undefined> {
  if (c.dryRun) return
  return cleaningUp(c, async () => {
    const ip = c.node.address
    const row = findContainer(await c.talos.containers(ip, { kubernetes: true }), c, SMOKE_CONTAINER)
    if (!row)
      throw new Error(
        `talosctl containers -k on ${c.node.name} lists no running container ${SMOKE_CONTAINER} of pod ${c.namespace}/${c.name}`,
      )
    const [limits, status] = await Promise.all([
      c.talos.read(ip, `/proc/${row.pid}/limits`),
      c.talos.read(ip, `/proc/${row.pid}/status`),
    ])
    const numa = boundNumaNode(status)
    const numaCpuList =
      numa === undefined ? undefined : await c.talos.read(ip, `/sys/devices/system/node/node${numa}/cpulist`)
    const wanted = c.processWanted()
    const { problems, seen } = evaluateValidatorProcess({ limits, status, numaCpuList }, wanted)
    if (problems.length) throw new Error(`pod ${c.namespace}/${c.name} (pid ${row.pid}): ${problems.join('; ')}`)
    log.info(
      `  pid ${row.pid}: memlock ${seen.memlock}, nofile ${seen.nofile}, CPUs ${seen.cpus} (NUMA node ${seen.mems}), ` +
        `capabilities ${wanted.capabilities.join(' ') || '(none needed)'}`,
    )
    return { pid: row.pid, ...seen }
  })
}

/** Delete the pod, unless --keep asks to leave it for inspection. */
export async function removeOrKeepPod(c: SmokeCtx): Promise<Record<string, unknown>> {
  if (c.flags.keep) {
    log.warn(
      `--keep: pod ${c.namespace}/${c.name} left running; delete it with kubectl delete pod -n ${c.namespace} ${c.name}`,
    )
    return { kept: true }
  }
  return { deleted: await removePod(c) }
}
