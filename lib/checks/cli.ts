// The command line every checks/*.ts entry point shares:
//   npx zx checks/all.ts --inventory FILE [--json] [--only ID_OR_GROUP]...
// Exit 0 when nothing failed, 1 when a check failed, 2 on a usage error (unknown flag, unknown check, bad inventory).
import { existsSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadInventory } from '../inventory.ts'
import { Kube } from '../kube.ts'
import { log } from '../log.ts'
import { Talosctl } from '../talosctl.ts'
import { controlPlaneNodes, type CheckInventory } from './inventory.ts'
import { exitCode, renderJson, renderProblems, renderTable, summaryLine } from './reporter.ts'
import { runChecks, selectChecks } from './runner.ts'
import { SOURCES, type SourceContext } from './sources.ts'
import type { AnyCheck, Report } from './types.ts'

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..')

export class UsageError extends Error {}

export interface CliOptions {
  inventory: string
  json: boolean
  only: string[]
}

const USAGE = 'usage: npx zx checks/<group>.ts --inventory FILE [--json] [--only ID_OR_GROUP]...'

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
        only: { type: 'string', multiple: true, default: [] },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`)
  }
  const v = parsed.values
  if (!v.help && !v.inventory) throw new UsageError(`--inventory FILE is required\n${USAGE}`)
  return { inventory: v.inventory ?? '', json: v.json ?? false, only: (v.only ?? []).flatMap((o) => o.split(',')).filter(Boolean), help: v.help ?? false }
}

/** The arguments after the script: zx and tsx put their own entries before it in process.argv. */
export function scriptArgs(argv: string[], entryUrl: string): string[] {
  const file = fileURLToPath(entryUrl)
  const i = argv.findIndex((a) => a && (resolve(a) === file || resolve(a) === file.replace(/\.ts$/, '')))
  return i >= 0 ? argv.slice(i + 1) : argv.slice(2)
}

/** The inventory, validated by lib/inventory.ts (its Inventory is a superset of what the checks read). */
export async function loadCheckInventory(file: string): Promise<CheckInventory> {
  return loadInventory(file)
}

export function talosctlBinFor(inv: CheckInventory, env = process.env): string {
  if (env.TALOSCTL) return env.TALOSCTL
  return inv.cluster.target === 'lab' ? join(REPO_ROOT, 'lab', 'bin', 'talosctl') : 'talosctl'
}

export function outDirFor(inv: CheckInventory): string {
  return isAbsolute(inv.cluster.outputDir) ? inv.cluster.outputDir : join(REPO_ROOT, inv.cluster.outputDir)
}

export function contextFor(inv: CheckInventory): SourceContext {
  const out = outDirFor(inv)
  const talosconfig = join(out, 'talosconfig')
  const kubeconfig = join(out, 'kubeconfig')
  for (const f of [talosconfig, kubeconfig]) if (!existsSync(f)) log.warn(`${f} does not exist: checks that need it will fail`)
  return {
    talos: new Talosctl({
      bin: talosctlBinFor(inv),
      talosconfig,
      endpoints: controlPlaneNodes(inv).map((n) => n.address),
      nodeNames: Object.fromEntries(inv.nodes.map((n) => [n.address, n.name])),
      quiet: true,
    }),
    kube: new Kube({ kubeconfig, quiet: true }),
  }
}

export interface CliDeps {
  stdout?: (s: string) => void
  context?: (inv: CheckInventory) => SourceContext
}

/** Run `checks` (an entry point's group) from argv; returns the exit code. Never throws. */
export async function runCheckCli(all: AnyCheck[], argv: string[], deps: CliDeps = {}): Promise<number> {
  const out = deps.stdout ?? ((s: string) => void process.stdout.write(s))
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
    report = await runChecks(checks, { inv, sources: SOURCES, ctx: (deps.context ?? contextFor)(inv) })
  } catch (e) {
    // runChecks turns source and check failures into results; reaching here is a bug worth a loud exit.
    log.error(`check run crashed: ${(e as Error).stack ?? e}`)
    return 1
  }
  if (opts.json) out(renderJson(report))
  else {
    out(renderTable(report, { color: process.stdout.isTTY && !process.env.NO_COLOR }) + '\n')
    for (const line of renderProblems(report)) out(line + '\n')
    out(summaryLine(report.summary) + '\n')
  }
  return exitCode(report)
}
