// The steps of 02-configure: secrets once, render + lint + validate every node's config before any
// apply, show what each node would change, apply in parallel, wait until each node runs its config.
import { settleEach } from '../lib/host/settle.ts'
import { binaryIdentity, ValidatedConfigs } from '../lib/talos/validated.ts'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { createTwoFilesPatch } from 'diff'
import { log } from '../lib/runner/log.ts'
import { waitFor } from '../lib/kube/kubectl.ts'
import type { Cluster } from '../config/cluster.ts'
import { loadSecretsBundle } from '../lib/talos/secrets-bundle.ts'
import { nodeKernelArgs, renderMachineConfigs, writeRenderedConfigs } from '../config/render.ts'
import { lintMachineConfig, formatFindings, type Finding } from '../config/lint.ts'
import { probeMachine, type MachineState } from './machine-state.ts'
import { fieldsNeedingReboot } from '../config/apply-reboot.ts'
import type { InventoryNode } from '../config/inventory.ts'

/**
 * A dry run writes nothing anywhere, yet renders, lints and validates every config and lets talosctl's own
 * `apply-config --dry-run` read them. What a real run would write to the output dir goes to a private temp dir
 * instead (0700, mkdtemp), removed when the process exits.
 */
export function dryRunScratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'talos-runbooks-dry-run-'))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Where 02 finds what it works with: the output dir, or for a dry run the scratch dir where the output dir lacks it. */
export interface Workspace {
  /** the secrets bundle configs are rendered with */
  secrets: string
  /** where the rendered configs are (apply-config reads them from there) */
  config: (node: string) => string
  /** set on a dry run */
  scratch?: string
}

export function workspace(c: Cluster, scratch?: string): Workspace {
  if (!scratch) return { secrets: c.paths.secrets, config: c.paths.config }
  return {
    secrets: existsSync(c.paths.secrets) ? c.paths.secrets : join(scratch, 'secrets.yaml'),
    config: (node) => join(scratch, `${node}.yaml`),
    scratch,
  }
}

export async function ensureSecrets(
  c: Cluster,
  ws: Workspace = workspace(c),
): Promise<'reused' | 'generated' | "generated for this dry run only (a real run generates the cluster's own)"> {
  if (existsSync(ws.secrets)) {
    loadSecretsBundle(ws.secrets) // a corrupt bundle must stop us here, not at apply time
    return 'reused'
  }
  if (ws.scratch) {
    // no bundle yet: render this dry run's configs with a throwaway one, so they can still be linted and validated
    await c.talos.genSecrets(ws.secrets, { throwaway: true })
    return "generated for this dry run only (a real run generates the cluster's own)"
  }
  mkdirSync(c.paths.outDir, { recursive: true, mode: 0o700 })
  await c.talos.genSecrets(c.paths.secrets)
  return 'generated'
}

export interface Rendered {
  configs: Map<string, string>
  findings: Finding[]
}

/** Render every node, lint and schema-check all of them; write nothing unless every one is clean. */
export function renderAll(c: Cluster, ws: Workspace = workspace(c)): Rendered {
  const secrets = loadSecretsBundle(ws.secrets)
  const configs = renderMachineConfigs(c.inv, secrets)
  // lint always includes the official schema (templates/talos-v1.10.3/ or $TALOS_CONFIG_SCHEMA)
  const kernelArgsOf = (name: string) =>
    nodeKernelArgs(
      c.inv,
      c.inv.nodes.find((n) => n.name === name)!,
    )
  const findings = [...configs].flatMap(([node, text]) =>
    lintMachineConfig(text, c.paths.config(node), { schematicKernelArgs: kernelArgsOf(node) }),
  )
  return { configs, findings }
}

export function assertClean(r: Rendered): void {
  const errors = r.findings.filter((f) => f.severity === 'error')
  for (const f of r.findings.filter((f) => f.severity !== 'error')) log.warn(formatFindings([f]))
  if (errors.length)
    throw new Error(`rendered configs have ${errors.length} error(s), nothing written:\n${formatFindings(errors)}`)
}

/**
 * Talos's own judgement of every rendered config (`talosctl validate --mode metal --strict`), before any is written:
 * each goes to a private temporary file (0600 in a 0700 directory, removed at once). Throws listing every config
 * talosctl refuses. Configs this talosctl binary passed before (lib/talos/validated.ts, kept in the output dir;
 * not on a dry run, which writes nothing there) are not asked again.
 */
export async function assertTalosValid(c: Cluster, r: Rendered, opts: { remember?: boolean } = {}): Promise<void> {
  const binary = opts.remember === false ? undefined : binaryIdentity(c.talos.bin)
  const seen = binary ? new ValidatedConfigs(join(c.paths.outDir, VALIDATED_FILE), binary) : undefined
  const dir = mkdtempSync(join(tmpdir(), 'talos-validate-'))
  try {
    // each validate is a local talosctl process with nothing to wait for but the CPU: all at once, reported in order
    const verdicts = await Promise.all(
      [...r.configs].map(async ([node, text]) => {
        if (seen?.has(text)) return undefined
        const file = join(dir, `${node}.yaml`)
        writeFileSync(file, text, { mode: 0o600 })
        const why = await c.talos.validate(file)
        if (!why) seen?.add(text)
        return why ? `${node}: ${why.replaceAll(file, c.paths.config(node))}` : undefined
      }),
    )
    const refused = verdicts.filter((v) => v !== undefined)
    if (refused.length)
      throw new Error(
        `talosctl validate --mode metal --strict refuses ${refused.length} config(s), nothing written:\n${refused.join('\n')}`,
      )
    seen?.save()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Hashes of the configs the talosctl binary passed, beside the configs (only hashes: no secret is in it). */
const VALIDATED_FILE = '.talos-validated.json'

/** Writes every config (all or nothing) where the workspace keeps them; returns that directory. */
export function writeConfigs(c: Cluster, r: Rendered, ws: Workspace = workspace(c)): string {
  const dir = ws.scratch ?? c.paths.outDir
  writeRenderedConfigs(dir, r.configs)
  return dir
}

/** A talosconfig left half-made by an interrupted run has no endpoints: make it again. */
function talosconfigComplete(file: string): boolean {
  if (!existsSync(file)) return false
  const cfg = parse(readFileSync(file, 'utf8')) as {
    context?: string
    contexts?: Record<string, { endpoints?: string[]; nodes?: string[] }>
  }
  const cur = cfg?.context ? cfg.contexts?.[cfg.context] : undefined
  return !!cur?.endpoints?.length && !!cur?.nodes?.length
}

export async function ensureTalosconfig(c: Cluster): Promise<'reused' | 'generated'> {
  if (talosconfigComplete(c.paths.talosconfig)) return 'reused'
  const cps = c.inv.nodes.filter((n) => n.role === 'controlplane').map((n) => n.address)
  await c.talos.genTalosconfig({
    cluster: c.inv.cluster.name,
    endpoint: c.inv.cluster.endpoint,
    secrets: c.paths.secrets,
    outFile: c.paths.talosconfig,
    endpoints: cps,
    nodes: [cps[0]!],
    force: true,
  })
  return 'generated'
}

/** Canonical form so key order and comments do not count as a change. */
export function canonical(yamlText: string): string {
  return parseAllDocuments(yamlText)
    .map((d) => JSON.stringify(sortKeys(d.toJS()), null, 1))
    .join('\n---\n')
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    )
  return v
}

export interface NodePlan {
  node: InventoryNode
  state: MachineState
  change: 'install' | 'update' | 'none'
  diff: string
  /** The config the node runs now (for 'update'). */
  running?: string
  /** Fields of the change Talos applies only by rebooting the node (apply-config --mode auto reboots it). */
  reboots?: string[]
  /** For an apply that reboots: the node's boot ID before it (applyPlan), so waitConfigured waits for a new boot. */
  bootBefore?: string
}

/** Secrets in a diff are the same bytes on both sides except when rotated: never print them. */
export function redactDiff(diff: string): string {
  return diff.replace(
    /^([+-]?\s*"?(?:key|crt|token|secret|secretboxEncryptionSecret|aescbcEncryptionSecret|bootstraptoken)"?\s*:\s*).+$/gim,
    '$1<redacted>',
  )
}

// the config the machine runs: `get machineconfig` lists `persistent` (saved, may be staged ahead) first, then
// `v1alpha1`, the active one (pkg/machinery/resources/config/machine_config.go ActiveID, PersistentID)
const ACTIVE_CONFIG = 'v1alpha1'
const configText = (spec: unknown) => (typeof spec === 'string' ? spec : JSON.stringify(spec ?? {}))

/**
 * The running config of every configured node that answers, in ONE `talosctl -n a,b,c get machineconfig v1alpha1`:
 * node address → config. A node that returns one is configured and reachable, which is all planNode would have
 * asked it first; the others (maintenance mode, down, no talosconfig yet) are probed one by one as before.
 */
export async function runningConfigs(c: Cluster, nodes: InventoryNode[]): Promise<Map<string, string>> {
  if (!nodes.length || !existsSync(c.paths.talosconfig)) return new Map()
  const got = await c.talos
    .getEach<unknown>(
      'machineconfig',
      nodes.map((n) => n.address),
      { id: ACTIVE_CONFIG },
    )
    .catch(() => undefined)
  return new Map((got?.resources ?? []).map((r) => [r.node, configText(r.spec)]))
}

/** `known`: the node's running config when already read (runningConfigs); the node is then configured. */
export async function planNode(c: Cluster, n: InventoryNode, rendered: string, known?: string): Promise<NodePlan> {
  const st = known === undefined ? await probeMachine(c, n) : { state: 'configured' as const }
  // a node that answers on neither API is down or was never provisioned: an insecure apply would only time out
  if (st.state === 'no-talos')
    throw new Error(
      `${n.name} (${n.address}): Talos answers on neither the maintenance nor the authenticated API (nothing listens on :50000): the node is down or not provisioned yet (01-provision). Power it on or fix the network, then re-run; nothing has been applied to any node.`,
    )
  if (st.state !== 'configured') return { node: n, state: st.state, change: 'install', diff: '' }
  const running =
    known ?? configText((await c.talos.get<unknown>('machineconfig', [n.address], { id: ACTIVE_CONFIG }))[0]?.spec)
  const a = canonical(running)
  const b = canonical(rendered)
  if (a === b) return { node: n, state: st.state, change: 'none', diff: '' }
  const reboots = fieldsNeedingReboot(running, rendered)
  return {
    node: n,
    state: st.state,
    change: 'update',
    running,
    ...(reboots.length ? { reboots } : {}),
    diff: redactDiff(
      createTwoFilesPatch(`${n.name} (running)`, `${n.name} (rendered)`, a, b, undefined, undefined, { context: 2 }),
    ),
  }
}

/** Every node's plan; when some nodes cannot be planned, one error naming each of them (nothing applied yet). */
export async function planAll(c: Cluster, configs: Map<string, string>): Promise<NodePlan[]> {
  const running = await runningConfigs(c, c.inv.nodes)
  const r = await settleEach(c.inv.nodes, (n) => planNode(c, n, configs.get(n.name)!, running.get(n.address)))
  const failed = r.failures.map((f) => f.message)
  if (failed.length)
    throw new Error(
      failed.length === 1 ? failed[0] : `${failed.length} nodes cannot be planned:\n  ${failed.join('\n  ')}`,
    )
  return c.inv.nodes.map((n) => r.values.get(n)!)
}

export async function applyPlan(c: Cluster, p: NodePlan, dryRun: boolean, ws: Workspace = workspace(c)): Promise<void> {
  const file = ws.config(p.node.name)
  if (p.change === 'none') return
  // machined answers an apply that reboots before it goes down: until the boot ID changes the node still runs, and
  // reports as running, its old config (as `talosctl reboot --wait` judges: action/tracker.go BootIDChangedPostCheckFn)
  if (p.reboots && !dryRun) p.bootBefore = await c.talos.bootId(p.node.address)
  const r = await c.talos.applyConfig(p.node.address, file, {
    insecure: p.change === 'install',
    mode: p.change === 'install' ? undefined : 'auto',
    dryRun,
  })
  const said = (r.stdout + r.stderr).trim()
  if (said) log.dim(`  ${p.node.name}: ${said.split('\n').join(`\n  ${p.node.name}: `)}`)
}

/**
 * Apply every plan in parallel and wait for ALL of them (a failure must not leave other applies running while the
 * runbook exits); then one error naming each node that failed and saying which nodes did get their config.
 */
export async function applyAll(
  c: Cluster,
  plans: NodePlan[],
  dryRun: boolean,
  ws: Workspace = workspace(c),
): Promise<void> {
  const r = await settleEach(plans, (p) => applyPlan(c, p, dryRun, ws))
  const failed = r.failures.map((f) => `${f.item.node.name}: ${f.message}`)
  if (!failed.length) return
  const applied = plans.filter((p) => r.values.has(p)).map((p) => p.node.name)
  throw new Error(
    `apply-config failed on ${failed.length} node(s):\n  ${failed.join('\n  ')}\n` +
      `applied: ${applied.join(', ') || 'none'}. Bring the failed node(s) back and re-run: the diff shows what is still to apply.`,
  )
}

/**
 * Until each node's machine status says running; a node whose apply reboots it (bootBefore, by node name) only once
 * it runs a new boot.
 */
export async function waitConfigured(
  c: Cluster,
  nodes: InventoryNode[],
  opts: { timeoutMs?: number; bootBefore?: Map<string, string> } = {},
): Promise<void> {
  await Promise.all(
    nodes.map((n) =>
      waitFor(
        `${n.name} to run its config${opts.bootBefore?.has(n.name) ? ' on a new boot' : ''}`,
        async () => {
          const before = opts.bootBefore?.get(n.name)
          if (before !== undefined && (await c.talos.bootId(n.address).catch(() => before)) === before) return undefined
          const [st] = await c.talos.machineStatus([n.address])
          return st && st.spec.stage === 'running' ? st : undefined
        },
        { timeoutMs: opts.timeoutMs ?? 10 * 60_000, intervalMs: 1000 },
      ),
    ),
  )
}
