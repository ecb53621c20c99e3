// Runs a selection of checks: works out which sources they need and for which nodes, fetches each source ONCE
// (in parallel, bounded), then evaluates every check over the fetched data. A source that fails turns into fail
// results for exactly the checks that needed it; a check whose evaluate throws fails alone. Nothing here crashes.
import pLimit from 'p-limit'
import { log } from '../../lib/runner/log.ts'
import type { CheckInventory, CheckNode } from './inventory.ts'
import { fail, worded } from './results.ts'
import type { AnyCheck, Report, Result, SourceData, SourceName, Summary } from './types.ts'

export interface SourceRequest<C> {
  inv: CheckInventory
  /** Inventory nodes that some selected check targets and that answered (a source may widen this, e.g. etcd asks every CP). */
  nodes: CheckNode[]
  ctx: C
  /** Nodes the probe found silent → why: a source must not ask them again (each ask would wait out the call timeout). */
  silent?: Record<string, string>
}

export interface Source<K extends SourceName, C> {
  name: K
  fetch: (req: SourceRequest<C>) => Promise<SourceData[K]>
  /** Asks the nodes themselves (the Talos API), so it needs them to answer; Kubernetes sources do not. */
  asksNodes?: boolean
  /**
   * It measures a latency: the sources that ask the nodes start only after it, so what it measures is the API's
   * answer and not this machine busy with dozens of talosctl processes (the probe still runs beside it).
   */
  timed?: boolean
  /** The nodes it asks when that is not just the targeted ones (etcd asks every control plane). */
  nodesAsked?: (inv: CheckInventory, targeted: CheckNode[]) => CheckNode[]
}

/**
 * Asks each node once, all in parallel, whether it answers: node name → why not. A node that does not answer is
 * one failure naming it and the cause, reached within one call timeout, and no source asks it again. Throws when
 * no node can be asked at all (the client tool is missing): that is one failure for the whole run.
 */
export type NodeProbe<C> = (nodes: CheckNode[], ctx: C) => Promise<Record<string, string>>

export type SourceRegistry<C> = { [K in SourceName]?: Source<K, C> }

export interface RunOptions<C> {
  inv: CheckInventory
  sources: SourceRegistry<C>
  ctx: C
  /** Who answers, asked before any source that asks the nodes; without it every source asks every node. */
  probe?: NodeProbe<C>
  /** How many sources fetch at once. */
  concurrency?: number
  now?: () => number
  /** --verbose: a line per data source with how long it took (otherwise they would crowd out the table). */
  verbose?: boolean
}

/** Select by exact id, by group, or by id prefix ("etcd", "etcd.leader", "hugepages.numa"). */
export function selectChecks(all: AnyCheck[], only: string[]): AnyCheck[] {
  if (only.length === 0) return all
  const unknown = only.filter((o) => !all.some((c) => matches(c, o)))
  if (unknown.length > 0) {
    throw new Error(
      `unknown check or group: ${unknown.join(', ')} (groups: ${[...new Set(all.map((c) => c.group))].join(', ')})`,
    )
  }
  return all.filter((c) => only.some((o) => matches(c, o)))
}

const matches = (c: AnyCheck, o: string) => c.id === o || c.group === o || c.id.startsWith(`${o}.`)

export function summarize(results: Result[]): Summary {
  const s: Summary = { pass: 0, warn: 0, fail: 0 }
  for (const r of results) s[r.status]++
  return s
}

/** The sources the checks need, each with the union of nodes the checks needing it target. */
export function plan(checks: AnyCheck[], inv: CheckInventory): Map<SourceName, CheckNode[]> {
  const out = new Map<SourceName, Set<string>>()
  for (const c of checks) {
    const targets = new Set(c.targets(inv))
    for (const need of c.needs as SourceName[]) {
      const set = out.get(need) ?? new Set<string>()
      for (const t of targets) set.add(t)
      out.set(need, set)
    }
  }
  return new Map([...out].map(([k, set]) => [k, inv.nodes.filter((n) => set.has(n.name))]))
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e))

export async function runChecks<C>(checks: AnyCheck[], opts: RunOptions<C>): Promise<Report> {
  const now = opts.now ?? Date.now
  const t0 = now()
  const startedAt = new Date(t0).toISOString()
  const limit = pLimit(opts.concurrency ?? 16)
  const needs = plan(checks, opts.inv)

  const data: Partial<SourceData> = {}
  const failed = new Map<SourceName, string>()
  const fetchOne = (name: SourceName, nodes: CheckNode[], silent: Record<string, string>) =>
    limit(async () => {
      const src = opts.sources[name] as Source<typeof name, C> | undefined
      if (!src) {
        failed.set(name, `no data source named ${name} is registered`)
        return
      }
      const s0 = now()
      try {
        const answering = nodes.filter((n) => !(n.name in silent))
        ;(data as Record<string, unknown>)[name] = await src.fetch({
          inv: opts.inv,
          nodes: answering,
          ctx: opts.ctx,
          silent,
        })
        if (opts.verbose) log.dim(`  source ${name}: ${now() - s0} ms`)
      } catch (e) {
        failed.set(name, errText(e))
        log.warn(`source ${name} failed: ${errText(e)}`)
      }
    })
  // Sources that do not ask the nodes (Kubernetes, the backup index) need no probe: they run while it asks.
  const unprobed = [...needs].filter(([name]) => !asksNodes(opts.sources, name))
  const timed = unprobed.filter(([name]) => opts.sources[name]?.timed)
  const early = Promise.all(
    unprobed.filter((x) => !timed.includes(x)).map(([name, nodes]) => fetchOne(name, nodes, {})),
  )
  const [probed] = await Promise.all([
    probeNodes(needs, opts),
    ...timed.map(([name, nodes]) => fetchOne(name, nodes, {})),
  ])
  for (const name of probed.unasked) failed.set(name, probed.toolMissing!)
  const silent = probed.silent
  await Promise.all([
    early,
    ...[...needs]
      .filter(([name]) => asksNodes(opts.sources, name) && !probed.unasked.has(name))
      .map(([name, nodes]) => fetchOne(name, nodes, silent)),
  ])

  const results: Result[] = []
  if (probed.toolMissing)
    results.push(
      fail(PROBE_CHECK, 'cluster', probed.toolMissing, 'a client that can ask the nodes', probed.toolMissing),
    )
  for (const c of checks) {
    if (probed.toolMissing && (c.needs as SourceName[]).some((n) => probed.unasked.has(n))) continue
    const missing = (c.needs as SourceName[]).filter((n) => failed.has(n))
    if (missing.length > 0) {
      const why = missing.map((n) => `${n}: ${failed.get(n)}`).join('; ')
      const seen = worded(Object.fromEntries(missing.map((n) => [n, failed.get(n)])), why)
      for (const t of targetsOf(c, opts.inv)) {
        results.push(fail(c.id, t, seen, `data from ${missing.join(', ')}`, `could not fetch ${why}`))
      }
      continue
    }
    try {
      const view = Object.fromEntries((c.needs as SourceName[]).map((n) => [n, data[n]]))
      results.push(...c.evaluate(view, opts.inv))
    } catch (e) {
      for (const t of targetsOf(c, opts.inv)) {
        results.push(fail(c.id, t, errText(e), 'the check to evaluate', `check ${c.id} crashed: ${errText(e)}`))
      }
    }
  }

  const final = replaceSilentNodes(results, checks, opts.sources, silent, opts.inv)
  return {
    cluster: opts.inv.cluster.name,
    target: opts.inv.cluster.target,
    startedAt,
    durationMs: now() - t0,
    results: final,
    summary: summarize(final),
  }
}

/** The id of the one result a silent node (or a missing client tool) gets. */
const PROBE_CHECK = 'talos.api'

const asksNodes = <C>(sources: SourceRegistry<C>, name: SourceName) =>
  !!(sources[name] as Source<SourceName, C> | undefined)?.asksNodes

interface Probed {
  silent: Record<string, string>
  /** Set when the probe could not ask anyone: the sources that ask nodes are not run at all. */
  toolMissing?: string
  unasked: Set<SourceName>
}

/** Probe every node some node-asking source will ask, once. */
async function probeNodes<C>(needs: Map<SourceName, CheckNode[]>, opts: RunOptions<C>): Promise<Probed> {
  const asking = [...needs].filter(([name]) => asksNodes(opts.sources, name))
  if (!opts.probe || asking.length === 0) return { silent: {}, unasked: new Set() }
  const names = new Set<string>()
  for (const [name, nodes] of asking) {
    const src = opts.sources[name] as Source<SourceName, C>
    for (const n of src.nodesAsked?.(opts.inv, nodes) ?? nodes) names.add(n.name)
  }
  const nodes = opts.inv.nodes.filter((n) => names.has(n.name))
  if (nodes.length === 0) return { silent: {}, unasked: new Set() }
  try {
    const silent = await opts.probe(nodes, opts.ctx)
    for (const [n, why] of Object.entries(silent)) log.warn(`${n} does not answer: ${why}`)
    return { silent, unasked: new Set() }
  } catch (e) {
    log.warn(errText(e))
    return { silent: {}, toolMissing: errText(e), unasked: new Set(asking.map(([name]) => name)) }
  }
}

/**
 * A silent node gets exactly one failure, naming it and the cause, in place of the results of every check that
 * needed it to answer (each would only repeat the cause). Checks that ask Kubernetes about it still report.
 */
function replaceSilentNodes<C>(
  results: Result[],
  checks: AnyCheck[],
  sources: SourceRegistry<C>,
  silent: Record<string, string>,
  inv: CheckInventory,
): Result[] {
  const down = inv.nodes.map((n) => n.name).filter((n) => n in silent)
  if (down.length === 0) return results
  const needsNode = new Set(
    checks.filter((c) => (c.needs as SourceName[]).some((n) => asksNodes(sources, n))).map((c) => c.id),
  )
  const about = (r: Result, node: string) => r.target === node || r.target.startsWith(`${node}/`)
  const kept = results.filter((r) => !(needsNode.has(r.check) && down.some((n) => about(r, n))))
  const perNode = down.map((node) => {
    const skipped = [...new Set(results.filter((r) => needsNode.has(r.check) && about(r, node)).map((r) => r.check))]
    const address = inv.nodes.find((n) => n.name === node)?.address ?? node
    const not = skipped.length ? `; not checked: ${skipped.join(', ')}` : ''
    return fail(
      PROBE_CHECK,
      node,
      silent[node],
      'an answer from the Talos API',
      `${node} (${address}) does not answer: ${silent[node]}${not}`,
    )
  })
  return [...perNode, ...kept]
}

function targetsOf(c: AnyCheck, inv: CheckInventory): string[] {
  try {
    const t = c.targets(inv)
    return t.length > 0 ? t : ['cluster']
  } catch {
    return ['cluster']
  }
}
