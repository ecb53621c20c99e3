// 08-failover: take one control-plane node down on purpose and prove the cluster survives it: etcd elects a new
// leader, the Kubernetes API answers through the surviving endpoints, workloads elsewhere stay up. Then bring the
// node back, wait for it to rejoin, and run every post-change check. Refuses to start unless the cluster is healthy.
import { backupFirstStep } from '../steps/etcd-backup.ts'
import { sleep } from 'zx'
import { runbook, RefusedError, type StepHandle } from '../lib/runner/runner.ts'
import { openCluster, controlPlanes, type Cluster } from '../config/cluster.ts'
import { log } from '../lib/runner/log.ts'
import {
  evaluatePreflight,
  formatTimeline,
  selectTarget,
  workloadBaseline,
  FailoverTimeline,
  type CpNode,
  type FailoverSummary,
  type PreflightResult,
  type Target,
  type TimelineEvent,
} from '../steps/08-failover/judge.ts'
import { watchFailover } from '../steps/08-failover/watch.ts'
import { gatherPreflight, listPods, liveProbes } from '../steps/08-failover/probes.ts'
import { apiEndpoints } from '../steps/live-probes.ts'
import { runChecks } from '../checks/engine/runner.ts'
import { probeTalos, SOURCES } from '../checks/engine/sources.ts'
import { contextFor } from '../checks/engine/cli.ts'
import { renderProblems, summaryLine } from '../checks/engine/reporter.ts'
import { Bmc } from '../lib/host/bmc.ts'
import type { InventoryNode } from '../config/inventory.ts'
import { ALL_CHECKS } from '../checks/defs/index.ts'
import type { CheckInventory } from '../checks/engine/inventory.ts'

type Action = 'shutdown' | 'reboot'

interface Plan {
  target: Target
  survivors: (CpNode & { memberId: string })[]
  endpoints: string[]
  baseline: Map<string, string | undefined>
  initialLeader: { node: string; memberId: string; term: number }
}

interface DrillCtx extends Cluster {
  dryRun: boolean
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

const positive = (flag: string, v: string | undefined): number => {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} ${v}: must be a positive number`)
  return n
}

async function preflight(c: DrillCtx): Promise<PreflightResult> {
  const pre = evaluatePreflight(await gatherPreflight(c))
  if (!pre.ok) throw new RefusedError(`refusing the drill: the cluster is not healthy now: ${pre.problems.join('; ')}`)
  c.pre = pre
  return pre
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

await runbook({
  id: '08-failover',
  title: 'Failover drill: take down one control-plane node and prove the cluster survives',
  json: true,
  flags: {
    node: {
      type: 'string',
      valueName: 'NAME',
      description: 'control-plane node to take down (default: the current etcd leader)',
    },
    action: {
      type: 'string',
      valueName: 'shutdown|reboot',
      default: 'shutdown',
      description:
        'how to take the node down: talosctl shutdown (then power it on through its BMC, or you are asked) or talosctl reboot',
    },
    'poll-interval-ms': {
      type: 'string',
      valueName: 'MS',
      default: '100',
      description: 'start a new probe per node/endpoint this often',
    },
    'max-in-flight': {
      type: 'string',
      valueName: 'N',
      default: '3',
      description: 'overlapping etcd probes per surviving node',
    },
    'probe-timeout-ms': {
      type: 'string',
      valueName: 'MS',
      default: '3000',
      description: 'one probe gives up after this long',
    },
    'watch-timeout': {
      type: 'string',
      valueName: 'SECONDS',
      default: '120',
      description: 'how long to wait for etcd and the API to recover',
    },
    'no-backup': { type: 'boolean', description: 'do not take an etcd snapshot before the drill' },
    'rejoin-timeout': {
      type: 'string',
      valueName: 'SECONDS',
      default: '900',
      description: 'how long to wait for the node to come back and rejoin',
    },
  },
  async context(flags) {
    const cluster = openCluster(flags.inventory, flags)
    const action = flags.action as Action
    if (action !== 'shutdown' && action !== 'reboot')
      throw new Error(`--action ${flags.action}: must be shutdown or reboot`)
    const cps = controlPlanes(cluster.inv)
    if (flags.node !== undefined && !cps.some((n) => n.name === flags.node)) {
      throw new Error(
        `--node ${flags.node} is not a control-plane node of ${flags.inventory} (control planes: ${cps.map((n) => n.name).join(', ')})`,
      )
    }
    const ctx: Omit<DrillCtx, 'dryRun'> & { cluster: typeof cluster.inv.cluster } = {
      ...cluster,
      cluster: cluster.inv.cluster,
      action,
      requested: flags.node,
      pollIntervalMs: positive('poll-interval-ms', flags.pollIntervalMs),
      maxInFlight: Math.max(1, Math.floor(positive('max-in-flight', flags.maxInFlight))),
      unattended: flags.yes,
      inventoryFile: flags.inventory,
      probeTimeoutMs: positive('probe-timeout-ms', flags.probeTimeoutMs),
      watchTimeoutMs: positive('watch-timeout', flags.watchTimeout) * 1000,
      rejoinTimeoutMs: positive('rejoin-timeout', flags.rejoinTimeout) * 1000,
    }
    return ctx as typeof ctx & { inv: Cluster['inv'] }
  },
  steps: [
    {
      name: 'preflight',
      describe:
        'refuse unless every etcd member is up and agrees on one leader, no alarm, the API answers, every node Ready',
      targets: (c) => controlPlanes(c.inv).map((n) => n.name),
      async run(c) {
        refuseUnattendedWithoutBmc(c)
        const pre = await preflight(c)
        log.info(
          `  etcd: ${Object.keys(pre.memberIds).length} members agree on leader ${pre.leader!.node} (${pre.leader!.memberId}), term ${pre.leader!.term}; API answering; every node Ready`,
        )
        return { leader: pre.leader, memberIds: pre.memberIds }
      },
    },
    backupFirstStep('before-failover'),
    {
      name: 'plan',
      describe: 'pick the node (default: the etcd leader) and show what the drill will do',
      detail: (c) => c.flags.node ?? 'the etcd leader',
      async run(c) {
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
        if (p.baseline.size === 0)
          log.warn('no running pods on the surviving nodes: "workloads stayed up" will be vacuous')
        return {
          target: p.target,
          survivors: p.survivors.map((s) => s.name),
          endpoints: p.endpoints,
          baselinePods: [...p.baseline.keys()],
          initialLeader: p.initialLeader,
        }
      },
    },
    {
      name: 'take-down',
      destructive: true,
      describe: 'take the node down and record the timeline: node gone, new etcd leader, API back, workloads',
      detail: (c) => c.plan?.target.name ?? c.flags.node ?? 'the etcd leader',
      confirm: (c) => {
        const t = c.plan?.target
        const who = t
          ? `${t.name} (${t.address}${t.wasLeader ? ', the etcd leader' : ''})`
          : (c.requested ?? 'the etcd leader')
        return `Take ${who} DOWN on ${c.inv.cluster.name} (${c.inv.cluster.target}) with talosctl ${c.action}?`
      },
      targets: (c) => [c.plan?.target.name ?? c.flags.node ?? '(etcd leader)'],
      async run(c, step) {
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
          for (const line of formatTimeline(tl.events, summary)) log.info(line)
          if (w.timedOut)
            log.warn(`stopped watching after ${c.watchTimeoutMs / 1000} s: ${summary.problems.join('; ')}`)
          // the verdict comes after the node is back: a failed recovery must still bring it back
          return { target: p.target.name, action: c.action, faultAt, faultReturnedMs, timeline: tl.events, summary }
        } catch (e) {
          await watch.catch(() => {})
          log.error(
            `${p.target.name} may be down: bring it back (\`--from bring-back\` powers it on through its BMC), then re-run the drill (it resumes at take-down and re-checks health first)`,
          )
          throw e
        }
      },
    },
    {
      name: 'bring-back',
      describe:
        'bring the node back (shutdown: power it on through its BMC, or by hand when asked) and wait until it rejoins etcd and is Ready',
      detail: (c) => c.plan?.target.name ?? 'the node',
      targets: (c) => [c.plan?.target.name ?? c.flags.node ?? '(down node)'],
      async run(c, step) {
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
            throw new Error(
              `${names.join(', ')} did not rejoin within ${c.rejoinTimeoutMs / 1000} s: ${last.join('; ')}`,
            )
          await sleep(2000)
          step.signal.throwIfAborted()
        }
      },
    },
    {
      name: 'post-checks',
      describe: 'run every post-change check (checks/all.ts); any failure fails the drill',
      async run(c) {
        const inv = c.inv as unknown as CheckInventory
        const report = await runChecks(ALL_CHECKS, {
          inv,
          sources: SOURCES,
          ctx: contextFor(inv, { callTimeoutMs: c.flags.callTimeoutMs }),
          probe: probeTalos,
        })
        for (const line of renderProblems(report)) log.info(`  ${line}`)
        log.info(`  ${summaryLine(report.summary)}`)
        c.checksPassed = report.summary.fail === 0
        const failed = report.results.filter((r) => r.status === 'fail')
        if (failed.length)
          throw new Error(
            `${failed.length} post-change check(s) failed: ${failed
              .slice(0, 5)
              .map((r) => `${r.check} on ${r.target}: ${r.message}`)
              .join('; ')}${failed.length > 5 ? '; ...' : ''}`,
          )
        return { summary: report.summary, durationMs: report.durationMs }
      },
    },
    {
      name: 'verdict',
      describe: 'pass only if etcd and the API recovered, workloads stayed up and every check passed',
      async run(c) {
        if (c.dryRun) return
        if (!c.drill)
          throw new Error(
            'no drill timeline in this run (a resumed run?): run the whole drill again with --from preflight',
          )
        const s = c.drill.summary
        if (!s.passed) throw new Error(`drill FAILED: ${s.problems.join('; ')}`)
        log.ok(
          `drill passed: etcd RTO ${s.etcdRtoMs} ms${s.newLeader ? ` (new leader ${s.newLeader.node}, term ${s.newLeader.term})` : ''}, API RTO ${s.apiRtoMs} ms, workloads stayed up`,
        )
        return { passed: true, etcdRtoMs: s.etcdRtoMs, apiRtoMs: s.apiRtoMs, newLeader: s.newLeader }
      },
    },
  ],
})
