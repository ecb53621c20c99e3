// The command line every checks/*.ts entry point shares:
//   npx zx checks/all.ts --inventory FILE [--json | --wide] [--only ID_OR_GROUP]... [--call-timeout DURATION]
// Exit 0 when nothing failed, 1 when a check failed, 2 on a usage error (unknown flag, unknown check, bad inventory).
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { loadInventory } from '../../config/inventory.ts'
import { clusterPaths, talosctlFor } from '../../config/cluster.ts'
import { Kube } from '../../lib/kube/kubectl.ts'
import { log } from '../../lib/runner/log.ts'
import { DEFAULT_CALL_TIMEOUT, parseCallTimeout, UsageError } from '../../lib/runner/flags.ts'
import { redactString } from '../../lib/runner/redact.ts'
import { Talosctl } from '../../lib/talos/talosctl.ts'
import { controlPlaneNodes, type CheckInventory } from './inventory.ts'
import { terminalWidth } from '../../lib/runner/columns.ts'
import { exitCode, renderEvidenceTexts, renderJson, renderTable, summaryLine } from './reporter.ts'
import { runChecks, selectChecks } from './runner.ts'
import { probeTalos, SOURCES, type SourceContext } from './sources.ts'
import type { AnyCheck, Report } from './types.ts'

interface CliOptions {
  inventory: string
  json: boolean
  /** Nothing cut to the terminal's width, every result's message, every multi-line evidence in full. */
  wide: boolean
  only: string[]
  /** --call-timeout: how long any one talosctl/kubectl call may take (the runbooks' flag). */
  callTimeoutMs: number
  /** --verbose: how long each data source took, before the table. */
  verbose: boolean
}

const USAGE =
  'usage: npx zx checks/<group>.ts --inventory FILE [--json | --wide] [--only ID_OR_GROUP]... [--call-timeout DURATION] [--verbose]'

export function parseCliArgs(argv: string[]): CliOptions & { help: boolean } {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        inventory: { type: 'string', short: 'i' },
        json: { type: 'boolean', default: false },
        wide: { type: 'boolean', default: false },
        verbose: { type: 'boolean', short: 'v', default: false },
        only: { type: 'string', multiple: true, default: [] },
        help: { type: 'boolean', short: 'h', default: false },
        'call-timeout': { type: 'string', default: DEFAULT_CALL_TIMEOUT },
      },
    })
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`)
  }
  const v = parsed.values
  if (!v.help && !v.inventory) throw new UsageError(`--inventory FILE is required\n${USAGE}`)
  let callTimeoutMs: number
  try {
    callTimeoutMs = parseCallTimeout(v['call-timeout'] ?? DEFAULT_CALL_TIMEOUT, 'checks')
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`)
  }
  return {
    inventory: v.inventory ?? '',
    json: v.json ?? false,
    wide: v.wide ?? false,
    only: (v.only ?? []).flatMap((o) => o.split(',')).filter(Boolean),
    help: v.help ?? false,
    callTimeoutMs,
    verbose: v.verbose ?? false,
  }
}

/** The inventory, validated by config/inventory.ts (its Inventory is a superset of what the checks read). */
export async function loadCheckInventory(file: string): Promise<CheckInventory> {
  return loadInventory(file)
}

function contextFor(inv: CheckInventory, opts: { callTimeoutMs?: number } = {}): SourceContext {
  const { outDir, talosconfig, kubeconfig } = clusterPaths(inv)
  for (const f of [talosconfig, kubeconfig])
    if (!existsSync(f)) log.warn(`${f} does not exist: checks that need it will fail`)
  return {
    talos: new Talosctl({
      bin: talosctlFor(),
      talosconfig,
      endpoints: controlPlaneNodes(inv).map((n) => n.address),
      nodeNames: Object.fromEntries(inv.nodes.map((n) => [n.address, n.name])),
      quiet: true,
      timeoutMs: opts.callTimeoutMs,
    }),
    kube: new Kube({ kubeconfig, quiet: true, timeoutMs: opts.callTimeoutMs }),
    outDir,
  }
}

/** Run `checks` against the cluster `inv` names the way checks/*.ts do: the production sources, Talos probed first. */
export function runChecksAgainst(
  checks: AnyCheck[],
  inv: CheckInventory,
  opts: { callTimeoutMs?: number } = {},
): Promise<Report> {
  return runChecks(checks, { inv, sources: SOURCES, ctx: contextFor(inv, opts), probe: probeTalos })
}

interface CliDeps {
  stdout?: (s: string) => void
  context?: (inv: CheckInventory, opts: { callTimeoutMs?: number }) => SourceContext
  /** Line width when not --wide (default: the terminal's, 120 when stdout is not one). */
  width?: number
}

interface CliShow {
  /** Print each result's multi-line evidence in full after the table (checks/numa.ts: the numactl text). */
  evidenceText?: boolean
}

/** Run `checks` (an entry point's group) from argv; returns the exit code. Never throws. */
export async function runCheckCli(
  all: AnyCheck[],
  argv: string[],
  deps: CliDeps = {},
  show: CliShow = {},
): Promise<number> {
  const write = deps.stdout ?? ((s: string) => void process.stdout.write(s))
  const out = (s: string) => write(redactString(s))
  let opts: ReturnType<typeof parseCliArgs>
  let checks: AnyCheck[]
  let inv: CheckInventory
  try {
    opts = parseCliArgs(argv)
    if (opts.help) {
      out(`${USAGE}\nchecks:\n${all.map((c) => `  ${c.id.padEnd(26)} ${c.title}`).join('\n')}\n`)
      return 0
    }
    checks = selectChecks(all, opts.only)
    inv = await loadCheckInventory(opts.inventory)
  } catch (e) {
    log.error((e as Error).message)
    return 2
  }
  let report: Report
  try {
    log.step(`checks on ${inv.cluster.name} (${inv.cluster.target}): ${checks.length} check(s)`)
    const ctx = (deps.context ?? contextFor)(inv, { callTimeoutMs: opts.callTimeoutMs })
    report = await runChecks(checks, { inv, sources: SOURCES, ctx, probe: probeTalos, verbose: opts.verbose })
  } catch (e) {
    // runChecks turns source and check failures into results; reaching here is a bug worth a loud exit.
    log.error(`check run crashed: ${(e as Error).stack ?? e}`)
    return 1
  }
  if (opts.json) out(renderJson(report))
  else {
    const width = opts.wide ? Infinity : (deps.width ?? terminalWidth(process.stdout))
    out(renderTable(report, { color: process.stdout.isTTY && !process.env.NO_COLOR, width, wide: opts.wide }) + '\n')
    if (show.evidenceText || opts.wide) for (const line of renderEvidenceTexts(report, { width })) out(line + '\n')
    out(summaryLine(report.summary) + '\n')
  }
  return exitCode(report)
}
