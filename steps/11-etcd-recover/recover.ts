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
import { etcdDataDir, JOIN_GAVE_UP } from './judge.ts'
import { missingStaticPods } from '../static-pods.ts'

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
  // a node with data can show Preparing too (etcd's pre stage): then only Preparing after it went down or left it counts
  const before = c.talos.dryRun ? undefined : await etcdService(c, node, opts.callTimeoutMs).catch(() => undefined)
  let moved = before?.state !== 'Preparing'
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
      const s = await etcdService(c, node, opts.callTimeoutMs).catch((e: Error) => {
        moved = true
        throw e
      })
      last = `${s.state}: ${s.event}`
      step.progress(`${node.name}: etcd ${s.state}`)
      if (s.state !== 'Preparing') moved = true
      return s.state === 'Preparing' && moved ? true : undefined
    },
    { timeoutMs: opts.timeoutMs, intervalMs: 1000 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}${last ? ` (etcd last seen ${last})` : ''}`, { cause: e })
  })
  return Date.now() - t0
}

const GAVE_UP_WHY =
  "gave up waiting to join (Talos's 30-minute join timeout, constants.EtcdJoinTimeout: Failed, not restarted)"

/**
 * The member to restore on: --node, or the first control plane of the inventory whose etcd gave up waiting to join
 * (restoring there spares it the reboot it needs to join), else the first whose etcd waits in Preparing. Both have an
 * empty data dir, and BootstrapEtcd stops and reloads etcd whatever its state (services/etcd.go:656-690 at v1.10.3).
 */
export async function pickRecoveryNode(
  c: Cluster,
  wanted: string | undefined,
  callTimeoutMs: number,
): Promise<InventoryNode> {
  const cps = controlPlanes(c.inv).filter((n) => wanted === undefined || n.name === wanted)
  const why: string[] = []
  const ready: { node: InventoryNode; dir: 'waiting' | 'gave-up' }[] = []
  for (const n of cps) {
    try {
      const s = await etcdService(c, n, callTimeoutMs)
      const dir = etcdDataDir(s.state, s.event)
      if (dir !== 'has-data') ready.push({ node: n, dir })
      else
        why.push(
          `${n.name}: etcd is ${s.state}${s.event ? ` (${s.event.split('\n')[0]})` : ''}: neither waiting in Preparing nor given up waiting to join, so its data dir may not be empty (wipe it: talosctl reset --system-labels-to-wipe EPHEMERAL --reboot --graceful=false)`,
        )
    } catch (e) {
      why.push(`${n.name}: ${(e as Error).message.split('\n')[0]}`)
    }
  }
  const pick = ready.find((r) => r.dir === 'gave-up') ?? ready[0]
  if (pick) {
    if (pick.dir === 'gave-up')
      log.info(`  ${pick.node.name}: etcd ${GAVE_UP_WHY}; its data dir is empty: restoring there`)
    return pick.node
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
      // the restore runs in etcd's pre stage: its failure is the service's (a copied db without a sha256, …). A join
      // that timed out is not: a bootstrapping etcd never joins (services/etcd.go:510-511), so that Failed is the
      // service from before BootstrapEtcd replaced it (a node whose etcd gave up is restored on)
      if (s.state === 'Failed' && !JOIN_GAVE_UP.test(s.event)) return { failed: s.event }
      return s.state === 'Running' && s.healthy ? { at: new Date() } : undefined
    },
    { timeoutMs: opts.timeoutMs, intervalMs: 1000 },
  )
  if ('failed' in outcome) {
    const event = outcome.failed ?? ''
    const failed = `etcd on ${node.name} failed to start from ${file}: ${event.split('\n')[0]}.`
    const rerun = 'fix the cause (or pick another snapshot with --snapshot) and re-run; it resumes at this step.'
    // a snapshot that fails its status check is refused before anything is written (services/etcd.go:548-551)
    if (/error verifying snapshot/.test(event))
      throw new Error(`${failed} Nothing was written to its data dir, which is still empty: ${rerun}`)
    // etcdutl's Restore creates member/snap and copies the db into /var/lib/etcd BEFORE it checks the hash (etcdutl
    // v3.5.21 snapshot/v3_snapshot.go:414-428, then :442/:457): the dir is no longer empty, and a retried bootstrap
    // would be refused with AlreadyExists "etcd data directory is not empty" (v1alpha1_server.go:431-432)
    const why = `Talos's restore (etcdutl) had already written member/snap/db into ${node.name}'s /var/lib/etcd, so a retry there would be refused ("etcd data directory is not empty")`
    log.warn(`  ${failed} ${why}: wiping ${node.name}'s EPHEMERAL again`)
    try {
      await wipeNode(c, node, step, opts)
    } catch (e) {
      throw new Error(
        `${failed} ${why}, and wiping it again failed: ${(e as Error).message.split('\n')[0]}. Wipe it by hand (talosctl -n ${node.address} reset --system-labels-to-wipe EPHEMERAL --reboot --graceful=false) until its etcd waits in Preparing, then ${rerun}`,
        { cause: e },
      )
    }
    throw new Error(`${failed} ${why}; it was wiped again and its etcd waits with an empty data dir: ${rerun}`)
  }
  return outcome.at
}

/**
 * Reboot a control plane whose etcd gave up waiting to join: a failed service is not restarted (system.go:186-198),
 * while a boot starts etcd's pre stage, and its join, anew (v1alpha1_sequencer_tasks.go StartAllServices). Waits until
 * it is back with etcd no longer Failed (Preparing while it joins, or Running). (Left alone, Talos reboots such a
 * machine itself only when its boot sequence gives up: BootTimeout, 70 minutes after it booted.)
 */
export async function rebootToJoin(
  c: Cluster,
  node: InventoryNode,
  step: StepHandle,
  opts: { timeoutMs: number; callTimeoutMs: number },
): Promise<number> {
  const t0 = Date.now()
  await talosAt(c, node, { timeoutMs: opts.callTimeoutMs }).reboot([node.address], {
    timeoutMs: Math.max(opts.callTimeoutMs, 60_000),
  })
  if (c.talos.dryRun) return 0
  step.progress(`${node.name}: rebooting so that its etcd joins again`)
  let last = ''
  await waitFor(
    `${node.name} (${node.address}) to come back from its reboot with etcd joining`,
    async () => {
      step.signal.throwIfAborted()
      // before it goes down it still says Failed; while down it does not answer
      const s = await etcdService(c, node, opts.callTimeoutMs).catch(() => undefined)
      if (!s) return undefined
      last = `${s.state}: ${s.event.split('\n')[0]}`
      step.progress(`${node.name}: etcd ${s.state}`)
      return s.state === 'Preparing' || s.state === 'Running' ? true : undefined
    },
    { timeoutMs: opts.timeoutMs, intervalMs: 1000 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}${last ? ` (etcd last seen ${last})` : ''}`, { cause: e })
  })
  return Date.now() - t0
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
 * Wait until every control plane is a voting etcd member, all agree on one leader, the Kubernetes API answers, every
 * node is Ready (08's health judgement) and every control plane's static pods are Running again (a wiped control
 * plane starts them only once its etcd has joined). Returns when the API first answered and when all of it held.
 */
export async function waitHealthy(
  c: Cluster,
  step: StepHandle,
  timeoutMs: number,
): Promise<{ apiAt: Date; healthyAt: Date; pre: PreflightResult }> {
  let apiAt: Date | undefined
  let problems: string[] = []
  const cps = controlPlanes(c.inv).map((n) => n.name)
  const pre = await waitFor(
    'etcd to have every control plane as a voting member, the Kubernetes API to answer, every node to be Ready and ' +
      "the control planes' static pods to run",
    async () => {
      step.signal.throwIfAborted()
      const facts = await gatherPreflight(c, { timeoutMs: 10_000 })
      if (facts.api.ok) apiAt ??= new Date()
      const p = evaluatePreflight(facts)
      const notRunning = p.ok ? missingStaticPods(cps, await c.kube.pods('kube-system')) : []
      problems = notRunning.length ? [`static pods not Running yet: ${notRunning.join(', ')}`] : p.problems
      step.progress(problems[0] ?? 'healthy')
      return p.ok && !notRunning.length ? p : undefined
    },
    { timeoutMs, intervalMs: 2000 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}${problems.length ? `: ${problems.join('; ')}` : ''}`, { cause: e })
  })
  return { apiAt: apiAt!, healthyAt: new Date(), pre }
}
