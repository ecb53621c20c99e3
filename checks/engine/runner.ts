// Runs a selection of checks: works out which sources they need and for which nodes, fetches each source ONCE
// (in parallel, bounded), then evaluates every check over the fetched data. A source that fails turns into fail
// results for exactly the checks that needed it; a check whose evaluate throws fails alone. Nothing here crashes.
import pLimit from 'p-limit'
import { log } from '../../lib/runner/log.ts'
import type { CheckInventory, CheckNode } from './inventory.ts'
import { fail } from './results.ts'
import type { AnyCheck, Report, Result, SourceData, SourceName, Summary } from './types.ts'

export interface SourceRequest<C> {
  inv: CheckInventory
  /** Inventory nodes that some selected check targets (a source may widen this, e.g. etcd asks every CP). */
  nodes: CheckNode[]
  ctx: C
}

export interface Source<K extends SourceName, C> {
  name: K
  fetch: (req: SourceRequest<C>) => Promise<SourceData[K]>
}

export type SourceRegistry<C> = { [K in SourceName]?: Source<K, C> }

export interface RunOptions<C> {
  inv: CheckInventory
  sources: SourceRegistry<C>
  ctx: C
  /** How many sources fetch at once. */
  concurrency?: number
  now?: () => number
}

/** Select by exact id, by group, or by id prefix ("etcd", "etcd.leader", "hugepages.numa"). */
export function selectChecks(all: AnyCheck[], only: string[]): AnyCheck[] {
  if (only.length === 0) return all
  const unknown = only.filter((o) => !all.some((c) => matches(c, o)))
  if (unknown.length > 0) {
    throw new Error(`unknown check or group: ${unknown.join(', ')} (groups: ${[...new Set(all.map((c) => c.group))].join(', ')})`)
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
  const limit = pLimit(opts.concurrency ?? 4)
  const needs = plan(checks, opts.inv)

  const data: Partial<SourceData> = {}
  const failed = new Map<SourceName, string>()
  await Promise.all(
    [...needs].map(([name, nodes]) =>
      limit(async () => {
        const src = opts.sources[name] as Source<typeof name, C> | undefined
        if (!src) {
          failed.set(name, `no data source named ${name} is registered`)
          return
        }
        const s0 = now()
        try {
          ;(data as Record<string, unknown>)[name] = await src.fetch({ inv: opts.inv, nodes, ctx: opts.ctx })
          log.dim(`  source ${name}: ${now() - s0} ms`)
        } catch (e) {
          failed.set(name, errText(e))
          log.warn(`source ${name} failed: ${errText(e)}`)
        }
      }),
    ),
  )

  const results: Result[] = []
  for (const c of checks) {
    const missing = (c.needs as SourceName[]).filter((n) => failed.has(n))
    if (missing.length > 0) {
      const seen = Object.fromEntries(missing.map((n) => [n, failed.get(n)]))
      const why = missing.map((n) => `${n}: ${failed.get(n)}`).join('; ')
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

  return {
    cluster: opts.inv.cluster.name,
    target: opts.inv.cluster.target,
    startedAt,
    durationMs: now() - t0,
    results,
    summary: summarize(results),
  }
}

function targetsOf(c: AnyCheck, inv: CheckInventory): string[] {
  try {
    const t = c.targets(inv)
    return t.length > 0 ? t : ['cluster']
  } catch {
    return ['cluster']
  }
}
