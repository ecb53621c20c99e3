// The steps of 08-failover: the preflight gate, the plan, taking the node down while watching etcd, the API and the
// workloads recover, bringing it back (its BMC or the operator powers it on), the post-change checks and the verdict.
// The runbook only wires them; judging is judge.ts (pure), probing is probes.ts and ../live-probes.ts.
import { sleep } from 'zx'
import { RefusedError, type StepHandle } from '../../lib/runner/runner.ts'
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { log } from '../../lib/runner/log.ts'
import { Bmc } from '../../lib/host/bmc.ts'
import {
  formatTimeline,
  selectTarget,
  workloadBaseline,
  FailoverTimeline,
  type FailoverSummary,
  type Target,
  type TimelineEvent,
} from './judge.ts'
import { watchFailover } from './watch.ts'
import { listPods, liveProbes, vipEndpoint } from './probes.ts'
import { evaluatePreflight, type PreflightResult } from '../cluster-health.ts'
import { gatherPreflight } from '../live-probes.ts'
import { requireChecksPass } from '../run-checks.ts'
import { apiEndpoints, type CpNode } from '../live-probes.ts'
import { runChecksAgainst } from '../../checks/engine/cli.ts'
import { ALL_CHECKS } from '../../checks/defs/index.ts'
import type { CheckInventory } from '../../checks/engine/inventory.ts'

export type Action = 'shutdown' | 'reboot'

interface Plan {
  target: Target
  survivors: (CpNode & { memberId: string })[]
  endpoints: string[]
  baseline: Map<string, string | undefined>
  initialLeader: { node: string; memberId: string; term: number }
}

export interface DrillCtx extends Cluster {
  dryRun: boolean
  /** The runner's flags this file reads (--call-timeout bounds every talosctl/kubectl call of the checks too). */
  flags: { callTimeoutMs: number }
  action: Action
  requested?: string
  pollIntervalMs: number
  maxInFlight: number
  /** --yes: nobody will be asked to power a node on */
  unattended: boolean
  inventoryFile: string
  probeTimeoutMs: number
  watchTimeoutMs: number
  rejoinTimeoutMs: number
  pre?: PreflightResult
  plan?: Plan
  drill?: { events: TimelineEvent[]; summary: FailoverSummary }
  checksPassed?: boolean
}

/**
 * How long a member that just started may show health "?": machined's first check comes 5 s after etcd starts and
 * may take 15 s (services/etcd.go HealthSettings), plus a margin for the call that reads it.
 */
const FIRST_ETCD_HEALTH_CHECK_MS = 5_000 + 15_000 + 10_000

/**
 * Healthy now, or refused. When the only problems are members not yet health-checked (a node back from a reboot a
 * moment ago), their first check is waited for rather than refused.
 */
async function preflight(c: DrillCtx, step?: StepHandle): Promise<PreflightResult> {
  const t0 = Date.now()
  for (;;) {
    const pre = evaluatePreflight(await gatherPreflight(c))
    const onlyPending = pre.pendingHealth.length > 0 && pre.problems.length === pre.pendingHealth.length
    if (pre.ok || !onlyPending || Date.now() - t0 > FIRST_ETCD_HEALTH_CHECK_MS) {
      if (!pre.ok)
        throw new RefusedError(`refusing the drill: the cluster is not healthy now: ${pre.problems.join('; ')}`)
      c.pre = pre
      return pre
    }
    step?.progress(`waiting for machined's first etcd health check on ${pre.pendingHealth.join(', ')} (health ?)`)
    await sleep(2000)
    step?.signal.throwIfAborted()
  }
}

async function makePlan(c: DrillCtx): Promise<Plan> {
  const pre = c.pre ?? (await preflight(c))
  const cps = controlPlanes(c.inv).map((n) => ({ name: n.name, address: n.address }))
  const target = selectTarget(pre, cps, c.requested)
  const survivors = cps.filter((n) => n.name !== target.name).map((n) => ({ ...n, memberId: pre.memberIds[n.name]! }))
  const endpoints = apiEndpoints(c, survivors)
  const baseline = workloadBaseline(
    await listPods(c, [endpoints.at(-1)!, ...endpoints.slice(0, -1)], 10_000),
    target.name,
  )
  c.plan = { target, survivors, endpoints, baseline, initialLeader: pre.leader! }
  return c.plan
}

const nodeNamed = (c: DrillCtx, name: string): InventoryNode => c.inv.nodes.find((n) => n.name === name)!

/**
 * A shut-down machine only comes back when something powers it on: its BMC, or the operator when asked. With --yes
 * nobody is asked, so every node the drill may take down needs a BMC (the target is the etcd leader unless --node).
 */
function refuseUnattendedWithoutBmc(c: DrillCtx): void {
  if (c.action !== 'shutdown' || !c.unattended) return
  const candidates = c.requested ? [nodeNamed(c, c.requested)] : controlPlanes(c.inv)
  const missing = candidates.filter((n) => !n.bmc).map((n) => n.name)
  if (missing.length) {
    throw new RefusedError(
      `--yes with --action shutdown needs a BMC to power the node back on unattended, and ${missing.join(', ')} ${missing.length > 1 ? 'have' : 'has'} none in ${c.inventoryFile}: add a bmc: block, run without --yes (you are asked to power it on), or use --action reboot. Nothing was changed.`,
    )
  }
}

/** The production sequence: `talosctl shutdown` (the machine powers off) or `talosctl reboot` (it comes back by itself). */
async function takeDown(c: DrillCtx, t: Target): Promise<string[]> {
  const r =
    c.action === 'reboot'
      ? await c.talos.reboot([t.address], { timeoutMs: 60_000 })
      : await c.talos.shutdown([t.address], { timeoutMs: 60_000 })
  return [`${r.command}: exit ${r.exitCode}`]
}

const BMC_OFF_TIMEOUT_MS = 120_000

/** Power a shut-down node on through its BMC, once the BMC reports it off (shutdown returns before the power is cut). */
async function powerOnThroughBmc(c: DrillCtx, node: InventoryNode, step: StepHandle): Promise<void> {
  const bmc = new Bmc(node.name, node.bmc!, { timeoutMs: c.talos.timeoutMs })
  const t0 = Date.now()
  while ((await bmc.powerStatus()) === 'on') {
    if (Date.now() - t0 > BMC_OFF_TIMEOUT_MS)
      throw new Error(
        `${node.name} still reports power on ${BMC_OFF_TIMEOUT_MS / 1000} s after talosctl shutdown: check its console, then power-cycle it (ipmitool ... chassis power cycle) and re-run with --from bring-back`,
      )
    step.progress(`waiting for ${node.name}'s BMC to report power off`)
    await sleep(1000)
    step.signal.throwIfAborted()
  }
  await bmc.powerOn()
  log.info(`  ${node.name}: powered on through its BMC (${node.bmc!.address}:${node.bmc!.port})`)
}

/** Undo takeDown: a rebooted node comes back by itself; a shut-down one is powered on through its BMC, or by the operator. */
async function bringBack(c: DrillCtx, names: string[], step: StepHandle): Promise<void> {
  if (c.action === 'reboot') {
    log.info(`  ${names.join(', ')} reboot(s) on their own: waiting for them`)
    return
  }
  for (const node of names.map((n) => nodeNamed(c, n))) {
    if (node.bmc) {
      await powerOnThroughBmc(c, node, step)
      continue
    }
    const q = `Power on ${node.name} now (it has no BMC in the inventory: by hand). Continue once it is powering on?`
    if (!(await step.confirm(q)))
      throw new Error(`${node.name} left powered off: power it on, then re-run with --from bring-back`)
  }
  log.info(`  waiting for ${names.join(', ')} to boot and rejoin (up to ${Math.round(c.rejoinTimeoutMs / 1000)} s)`)
}

/** The cluster is healthy now, and a shutdown with --yes has a BMC to power the node back on. */
export async function checkHealthy(c: DrillCtx, step?: StepHandle): Promise<Record<string, unknown>> {
  refuseUnattendedWithoutBmc(c)
  const pre = await preflight(c, step)
  log.info(
    `  etcd: ${Object.keys(pre.memberIds).length} members agree on leader ${pre.leader!.node} (${pre.leader!.memberId}), term ${pre.leader!.term}; API answering; every node Ready`,
  )
  return { leader: pre.leader, memberIds: pre.memberIds }
}

/** Pick the target and what to watch; say what the drill will do. */
export async function showPlan(c: DrillCtx): Promise<Record<string, unknown>> {
  const p = await makePlan(c)
  const how = `talosctl ${c.action}`
  log.info(
    `  take down  ${p.target.name} (${p.target.address})${p.target.wasLeader ? ', the etcd leader' : ', a follower'} with ${how}`,
  )
  log.info(
    `  watch      etcd on ${p.survivors.map((s) => s.name).join(', ')} via talosctl etcd status every ${c.pollIntervalMs} ms (${c.maxInFlight} probes in flight per node); API at ${p.endpoints.join(', ')}; ${p.baseline.size} pod(s) on other nodes`,
  )
  const back =
    c.action === 'reboot'
      ? 'it reboots by itself'
      : nodeNamed(c, p.target.name).bmc
        ? 'power it on through its BMC'
        : 'you power it on when asked'
  log.info(
    `  then       ${back}; bring ${p.target.name} back, wait for it to rejoin etcd and be Ready, run every post-change check`,
  )
  if (p.baseline.size === 0) log.warn('no running pods on the surviving nodes: "workloads stayed up" will be vacuous')
  return {
    target: p.target,
    survivors: p.survivors.map((s) => s.name),
    endpoints: p.endpoints,
    baselinePods: [...p.baseline.keys()],
    initialLeader: p.initialLeader,
  }
}

/** What take-down asks before it runs (unless --yes). */
export function takeDownQuestion(c: DrillCtx): string {
  const t = c.plan?.target
  const who = t
    ? `${t.name} (${t.address}${t.wasLeader ? ', the etcd leader' : ''})`
    : (c.requested ?? 'the etcd leader')
  return `Take ${who} DOWN on ${c.inv.cluster.name} (${c.inv.cluster.target}) with talosctl ${c.action}?`
}

/** Take the target down and watch etcd, the API and the workloads recover; the verdict waits until the node is back. */
export async function takeDownAndWatch(c: DrillCtx, step: StepHandle): Promise<Record<string, unknown> | undefined> {
  // a resumed run starts here: the cluster must be healthy again before anything is taken down
  refuseUnattendedWithoutBmc(c)
  const p = c.plan ?? (await makePlan(c))
  if (c.dryRun) {
    log.dim(`  (dry-run) would take ${p.target.name} down and watch for up to ${c.watchTimeoutMs / 1000} s`)
    return
  }
  const tl = new FailoverTimeline({
    target: p.target,
    remaining: p.survivors,
    initialLeader: p.initialLeader,
    apiEndpoints: p.endpoints,
  })
  const probes = liveProbes(c, {
    baseline: p.baseline,
    endpoints: p.endpoints,
    cps: [p.target, ...p.survivors],
    probeTimeoutMs: c.probeTimeoutMs,
  })
  const stop = new AbortController()
  step.signal.addEventListener('abort', () => stop.abort(step.signal.reason), { once: true })
  const t0 = performance.now()
  // the timeline counts from t0; the wall clock of t0 lets the journal (and the benchmarks) place it in time
  const faultAt = new Date().toISOString()
  let faultReturnedMs: number | undefined
  const fault = takeDown(c, p.target).then(
    (lines) => {
      faultReturnedMs = Math.round(performance.now() - t0)
      for (const l of lines) log.dim(`  ${l}`)
    },
    (e) => {
      stop.abort(e)
      throw e
    },
  )
  const watch = watchFailover(tl, probes, {
    etcdNodes: [p.target, ...p.survivors],
    apiEndpoints: p.endpoints,
    vipEndpoint: vipEndpoint(c),
    t0,
    intervalMs: c.pollIntervalMs,
    maxInFlight: c.maxInFlight,
    lowPriority: [p.target.name],
    timeoutMs: c.watchTimeoutMs,
    signal: stop.signal,
    onEvent: (e) => {
      log.info(`  +${String(e.at).padStart(6)} ms  ${e.type.padEnd(20)} ${e.detail}`)
      step.progress(`${e.type} at +${e.at} ms`)
    },
  })
  try {
    await fault
    const w = await watch
    const summary = tl.summary()
    c.drill = { events: tl.events, summary }
    log.info('')
    for (const line of formatTimeline(tl.events, summary, vipEndpoint(c))) log.info(line)
    if (w.timedOut) log.warn(`stopped watching after ${c.watchTimeoutMs / 1000} s: ${summary.problems.join('; ')}`)
    // the verdict comes after the node is back: a failed recovery must still bring it back
    return { target: p.target.name, action: c.action, faultAt, faultReturnedMs, timeline: tl.events, summary }
  } catch (e) {
    await watch.catch(() => {})
    log.error(
      `${p.target.name} may be down: bring it back (\`--from bring-back\` powers it on through its BMC), then re-run the drill (it resumes at take-down and re-checks health first)`,
    )
    throw e
  }
}

/** Bring the node back and wait until the whole cluster is healthy again. */
export async function bringBackAndWaitHealthy(
  c: DrillCtx,
  step: StepHandle,
): Promise<Record<string, unknown> | undefined> {
  if (c.dryRun) return
  let names = c.plan ? [c.plan.target.name] : c.requested ? [c.requested] : []
  if (!names.length) {
    // resumed run: whichever control plane does not answer is the one to bring back
    const facts = await gatherPreflight(c)
    names = Object.keys(facts.etcdErrors)
  }
  if (names.length) await bringBack(c, names, step)
  const t0 = Date.now()
  for (;;) {
    const pre = evaluatePreflight(await gatherPreflight(c))
    if (pre.ok) {
      log.info(
        `  cluster healthy again after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${Object.keys(pre.memberIds).length} etcd members follow ${pre.leader?.node}, every node Ready`,
      )
      return { rejoinedMs: Date.now() - t0, leader: pre.leader }
    }
    const last = pre.problems
    step.progress(last.join('; ') || 'waiting')
    if (Date.now() - t0 > c.rejoinTimeoutMs)
      throw new Error(`${names.join(', ')} did not rejoin within ${c.rejoinTimeoutMs / 1000} s: ${last.join('; ')}`)
    await sleep(2000)
    step.signal.throwIfAborted()
  }
}

/** Every post-change check against the recovered cluster (the checks engine, as checks/all.ts runs it). */
export async function runPostChecks(c: DrillCtx): Promise<Record<string, unknown>> {
  const inv = c.inv as unknown as CheckInventory
  const report = await runChecksAgainst(ALL_CHECKS, inv, { callTimeoutMs: c.flags.callTimeoutMs })
  c.checksPassed = report.summary.fail === 0
  requireChecksPass(report)
  return { summary: report.summary, durationMs: report.durationMs }
}

/** Pass only if etcd and the API recovered, workloads stayed up and every check passed. */
export async function judgeDrill(c: DrillCtx): Promise<Record<string, unknown> | undefined> {
  if (c.dryRun) return
  if (!c.drill)
    throw new Error('no drill timeline in this run (a resumed run?): run the whole drill again with --from preflight')
  const s = c.drill.summary
  if (!s.passed) throw new Error(`drill FAILED: ${s.problems.join('; ')}`)
  log.ok(
    `drill passed: etcd RTO ${s.etcdRtoMs} ms${s.newLeader ? ` (new leader ${s.newLeader.node}, term ${s.newLeader.term})` : ''}, API RTO ${s.apiRtoMs} ms, workloads stayed up`,
  )
  return { passed: true, etcdRtoMs: s.etcdRtoMs, apiRtoMs: s.apiRtoMs, newLeader: s.newLeader }
}
