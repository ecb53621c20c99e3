// 11-etcd-recover's changes, in the order of Talos's disaster-recovery procedure (v1.10.3
// website/content/v1.10/advanced/disaster-recovery.md): wipe EPHEMERAL on every control plane whose etcd still has a
// data dir (`talosctl reset --system-labels-to-wipe EPHEMERAL --reboot --graceful=false`: no quorum to leave etcd
// with, v1alpha1_sequencer.go Reset skips "leave" when not graceful), one at a time, each back with etcd in Preparing;
// then `talosctl bootstrap --recover-from=FILE` on one (machined refuses unless its /var/lib/etcd is empty and
// restores a single-member cluster with that node's name and peer URL, services/etcd.go recoverFromSnapshot); the
// others join it as learners and are promoted by Talos itself.
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { waitFor } from '../../lib/kube/kubectl.ts'
import { log } from '../../lib/runner/log.ts'
import type { StepHandle } from '../../lib/runner/runner.ts'
import { Talosctl } from '../../lib/talos/talosctl.ts'
import { evaluatePreflight, hasLeader, type PreflightResult } from '../cluster-health.ts'
import { gatherPreflight } from '../live-probes.ts'

/** A talosctl whose only endpoint is `node`: a rebooting control plane must not be the apid that routes the call. */
export function talosAt(c: Cluster, node: InventoryNode, opts: { timeoutMs: number; quiet?: boolean }): Talosctl {
  return new Talosctl({
    bin: c.talosctlBin,
    talosconfig: c.paths.talosconfig,
    endpoints: [node.address],
    timeoutMs: opts.timeoutMs,
    quiet: opts.quiet ?? false,
    dryRun: c.talos.dryRun,
    nodeNames: { [node.address]: node.name },
    shell: c.shell,
  })
}

/** The node's etcd service as `talosctl service etcd` shows it (state and newest event), read quietly. */
export async function etcdService(
  c: Cluster,
  node: InventoryNode,
  timeoutMs: number,
): Promise<{ state: string; event: string; healthy?: boolean }> {
  const [s] = await talosAt(c, node, { timeoutMs, quiet: true }).service([node.address], 'etcd')
  if (!s) throw new Error(`${node.name}: talosctl service etcd printed nothing`)
  return { state: s.state, event: s.events?.[0]?.message ?? s.lastEvent ?? '', healthy: s.healthy }
}

/** Reset one control plane (EPHEMERAL, not gracefully) and wait until it is back with etcd waiting in Preparing. */
export async function wipeNode(
  c: Cluster,
  node: InventoryNode,
  step: StepHandle,
  opts: { timeoutMs: number; callTimeoutMs: number },
): Promise<number> {
  const t0 = Date.now()
  await talosAt(c, node, { timeoutMs: opts.callTimeoutMs }).resetEphemeral(node.address, {
    graceful: false,
    timeoutMs: Math.max(opts.callTimeoutMs, 60_000),
  })
  if (c.talos.dryRun) return 0
  step.progress(`${node.name}: waiting to come back with etcd in Preparing`)
  let last = ''
  await waitFor(
    `${node.name} (${node.address}) to come back from its reset with etcd waiting in Preparing`,
    async () => {
      step.signal.throwIfAborted()
      const s = await etcdService(c, node, opts.callTimeoutMs)
      last = `${s.state}: ${s.event}`
      step.progress(`${node.name}: etcd ${s.state}`)
      return s.state === 'Preparing' ? true : undefined
    },
    { timeoutMs: opts.timeoutMs, intervalMs: 1000 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}${last ? ` (etcd last seen ${last})` : ''}`, { cause: e })
  })
  return Date.now() - t0
}

/** The member to restore on: --node, or the first control plane of the inventory whose etcd waits in Preparing. */
export async function pickRecoveryNode(
  c: Cluster,
  wanted: string | undefined,
  callTimeoutMs: number,
): Promise<InventoryNode> {
  const cps = controlPlanes(c.inv).filter((n) => wanted === undefined || n.name === wanted)
  const why: string[] = []
  for (const n of cps) {
    try {
      const s = await etcdService(c, n, callTimeoutMs)
      if (s.state === 'Preparing') return n
      why.push(`${n.name}: etcd is ${s.state}${s.event ? ` (${s.event})` : ''}, not waiting in Preparing`)
    } catch (e) {
      why.push(`${n.name}: ${(e as Error).message.split('\n')[0]}`)
    }
  }
  throw new Error(`no control plane to restore etcd on: ${why.join('; ')}`)
}

/** `talosctl bootstrap --recover-from=FILE` on `node`, then wait for its etcd to run healthy (or say why it failed). */
export async function restoreOn(
  c: Cluster,
  node: InventoryNode,
  file: string,
  step: StepHandle,
  opts: { timeoutMs: number; callTimeoutMs: number },
): Promise<Date | undefined> {
  const r = await talosAt(c, node, { timeoutMs: Math.max(opts.callTimeoutMs, 120_000) }).bootstrap(node.address, {
    recoverFrom: file,
  })
  if (r.skipped) return undefined
  for (const l of r.stdout.trim().split('\n').filter(Boolean)) log.info(`  ${l}`)
  step.progress(`${node.name}: waiting for etcd to run on the restored data`)
  const outcome = await waitFor(
    `etcd on ${node.name} to run healthy on the restored data`,
    async () => {
      step.signal.throwIfAborted()
      const s = await etcdService(c, node, opts.callTimeoutMs)
      // the restore runs in etcd's pre stage: its failure is the service's (a copied db without a sha256, …)
      if (s.state === 'Failed') return { failed: s.event }
      return s.state === 'Running' && s.healthy ? { at: new Date() } : undefined
    },
    { timeoutMs: opts.timeoutMs, intervalMs: 1000 },
  )
  if ('failed' in outcome)
    throw new Error(
      `etcd on ${node.name} failed to start from ${file}: ${outcome.failed}. Its data dir is still empty: fix the cause (or pick another snapshot with --snapshot) and re-run; it resumes at this step.`,
    )
  return outcome.at
}

/** Does any control plane's etcd know a leader (a restore already happened, or quorum came back)? */
export async function someMemberHasLeader(c: Cluster, callTimeoutMs: number): Promise<string | undefined> {
  for (const n of controlPlanes(c.inv)) {
    try {
      const [row] = await talosAt(c, n, { timeoutMs: callTimeoutMs, quiet: true }).etcdStatus([n.address])
      if (row && hasLeader(row.leader) && !row.errors) return n.name
    } catch {}
  }
  return undefined
}

/**
 * Wait until every control plane is a voting etcd member, all agree on one leader, the Kubernetes API answers and
 * every node is Ready (08's health judgement). Returns when the API first answered and when all of it held.
 */
export async function waitHealthy(
  c: Cluster,
  step: StepHandle,
  timeoutMs: number,
): Promise<{ apiAt: Date; healthyAt: Date; pre: PreflightResult }> {
  let apiAt: Date | undefined
  let problems: string[] = []
  const pre = await waitFor(
    'etcd to have every control plane as a voting member, the Kubernetes API to answer and every node to be Ready',
    async () => {
      step.signal.throwIfAborted()
      const facts = await gatherPreflight(c, { timeoutMs: 10_000 })
      if (facts.api.ok) apiAt ??= new Date()
      const p = evaluatePreflight(facts)
      problems = p.problems
      step.progress(p.ok ? 'healthy' : p.problems[0]!)
      return p.ok ? p : undefined
    },
    { timeoutMs, intervalMs: 2000 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}${problems.length ? `: ${problems.join('; ')}` : ''}`, { cause: e })
  })
  return { apiAt: apiAt!, healthyAt: new Date(), pre }
}
