// talosctl apply-config / patch machineconfig, with Talos semantics: applying to a maintenance node installs
// Talos (config saved, cmdline = Talos default + extraKernelArgs, runtime config applied, node running);
// applying to a running node applies sysctls/modules/labels/taints/kubelet live, while machine.install changes
// wait for the next upgrade; --mode reboot reboots.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml'
import type { RunContext } from './context.ts'
import { RpcFailure, nodeErrors, perNode, rpcError, warn, withClient, withMaintenanceClient } from './common.ts'
import {
  diffConfigs,
  installCmdline,
  lineDiff,
  parseMachineConfig,
  runtimeConfigFor,
  type MachineConfigView,
} from '../machine-config.ts'
import { reconcileNode } from '../node-services.ts'
import { installerKernelArgs } from '../factory.ts'
import { runKubelet } from '../kubelet.ts'
import { DEFAULT_INSTALLER } from './power.ts'
import { applyBootParams, applyRuntimeConfig } from '../sysroot.ts'
import { loadNode, paths, updateNode, writeFileAtomic, type LabNode } from '../state.ts'
import * as io from './io.ts'

const MODES = ['auto', 'interactive', 'no-reboot', 'reboot', 'staged', 'try']

function checkMode(mode: string, withInteractive: boolean): void {
  const opts = MODES.filter((m) => withInteractive || m !== 'interactive')
  if (!opts.includes(mode))
    throw new Error(`invalid argument "${mode}" for "-m, --mode" flag: possible options are: ${opts.join(', ')}`)
}

/** Apply the runtime part of a config (sysctls, modules, volumes) to the node's sysroot; machined logs failures, the lab warns. */
async function applyRuntime(n: LabNode, cfg: MachineConfigView): Promise<string[]> {
  const rc = runtimeConfigFor(cfg, n.hardware, n.installDisk ?? cfg.installDisk)
  return applyRuntimeConfig(paths.root(n.name), rc).errors.map((e) => `${n.name}: ${e}`)
}

function validate(text: string, source: string): MachineConfigView {
  try {
    return parseMachineConfig(text, source)
  } catch (e) {
    throw new Error(rpcError('InvalidArgument', `configuration validation failed: ${(e as Error).message}`))
  }
}

/** Install Talos with this config on a maintenance node (what applying in maintenance mode does). */
export async function installNode(name: string, text: string): Promise<void> {
  const cfg = validate(text, `config for ${name}`)
  const n = loadNode(name)
  // A machine booted from a written disk image already has its META partition, so Talos counts it as installed and
  // skips the Install task (internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_sequencer_tasks.go, Install:
  // `case !r.State().Machine().Installed()`): it keeps the image's kernel command line until an upgrade.
  let cmdline = n.cmdline
  if (n.bootSchematic === undefined) {
    const k = installerKernelArgs(cfg.installImage ?? DEFAULT_INSTALLER)
    if ('error' in k) throw new Error(rpcError('Unknown', `failed to install: ${k.error}`))
    cmdline = installCmdline(cfg, k.args, n.firmware)
  }
  writeFileAtomic(paths.config(name), text, 0o600)
  updateNode(name, (x) => {
    x.installedImage = cfg.installImage ?? x.installedImage
    x.installDisk = x.installDisk ?? cfg.installDisk
    x.cmdline = cmdline
    x.configVersion = (x.configVersion ?? 0) + 1
    x.stage = 'booting'
    x.bootedAt = new Date().toISOString()
  })
  applyBootParams(paths.root(name), n.hardware, cmdline)
  for (const e of await applyRuntime(loadNode(name), cfg)) warn(e)
  await runKubelet(name)
  updateNode(name, (x) => (x.stage = 'running'))
  await reconcileNode(name)
}

function patchesFrom(specs: string[]): unknown[] {
  return specs.map((p) => {
    const text = p.startsWith('@') ? readFileSync(p.slice(1), 'utf8') : p
    const v = parseYaml(text)
    return v
  })
}

function isObj(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v)
}

function merge(base: unknown, patch: unknown): unknown {
  if (!isObj(base) || !isObj(patch)) return patch
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(patch)) out[k] = k in out ? merge(out[k], v) : v
  return out
}

/** RFC 6902 JSON patch (add/replace/remove on object paths) or a strategic-merge YAML patch on the v1alpha1 document. */
export function patchConfig(text: string, patches: unknown[]): string {
  const docs = parseAllDocuments(text).map((d) => d.toJS())
  const i = docs.findIndex((d) => d?.version === 'v1alpha1')
  for (const p of patches) {
    if (Array.isArray(p)) {
      for (const op of p as { op: string; path: string; value?: unknown }[]) {
        const parts = op.path
          .split('/')
          .slice(1)
          .map((x) => x.replace(/~1/g, '/').replace(/~0/g, '~'))
        let cur = docs[i]
        for (const k of parts.slice(0, -1)) cur = cur[k] ??= {}
        const last = parts[parts.length - 1]
        if (op.op === 'remove') {
          if (!(last in cur)) throw new Error(`json patch: path ${op.path} does not exist`)
          delete cur[last]
        } else if (op.op === 'add' || op.op === 'replace') {
          if (Array.isArray(cur) && last === '-') cur.push(op.value)
          else cur[last] = op.value
        } else throw new Error(`json patch: unsupported op ${op.op}`)
      }
    } else if (isObj(p) && (p as any).kind && (p as any).version !== 'v1alpha1') {
      const k = docs.findIndex((d) => d?.kind === (p as any).kind && d?.name === (p as any).name)
      if (k >= 0) docs[k] = merge(docs[k], p)
      else docs.push(p)
    } else docs[i] = merge(docs[i], p)
  }
  return docs.map((d) => stringify(d, { indent: 4, indentSeq: true, lineWidth: 0 })).join('---\n')
}

interface ApplyResult {
  details: string
  warnings: string[]
}

/** Apply a config to a configured node (machined's ApplyConfiguration). */
export async function applyToRunningNode(
  n: LabNode,
  text: string,
  mode: string,
  dryRun: boolean,
): Promise<ApplyResult> {
  const next = validate(text, `config for ${n.name}`)
  const oldText = readFileSync(paths.config(n.name), 'utf8')
  const prev = parseMachineConfig(oldText, paths.config(n.name))
  const changes = diffConfigs(prev, next)
  const needsReboot = changes.some((c) => c.effect === 'reboot')
  let effective = mode
  let details: string
  const warnings: string[] = []
  switch (mode) {
    case 'try':
    case 'no-reboot':
      if (needsReboot)
        throw new Error(
          rpcError(
            'InvalidArgument',
            `this config change can't be applied in immediate mode\ndiff:\n${lineDiff(oldText, text)}`,
          ),
        )
      details = 'Applied configuration without a reboot'
      break
    case 'staged':
      details = 'Staged configuration to be applied after the next reboot'
      break
    case 'reboot':
      details = 'Applied configuration with a reboot'
      break
    default:
      effective = needsReboot ? 'reboot' : 'no-reboot'
      details = needsReboot ? 'Applied configuration with a reboot' : 'Applied configuration without a reboot'
  }
  const upgradeOnly = changes.filter((c) => c.effect === 'upgrade')
  if (upgradeOnly.length && effective !== 'staged')
    warnings.push(
      `${upgradeOnly.map((c) => c.field).join(', ')} changed: takes effect on the next upgrade (talosctl upgrade), the running kernel command line is unchanged`,
    )
  if (dryRun) {
    const diff = lineDiff(oldText, text, 'a', 'b')
    return {
      details: `Dry run summary:\n${details} (skipped in dry-run).\nConfig diff:\n\n${diff || 'No changes.'}`,
      warnings,
    }
  }
  if (!changes.length && oldText === text)
    warnings.push('the applied configuration is identical to the running one: no changes')
  if (effective === 'staged') {
    writeFileAtomic(join(paths.nodeDir(n.name), 'config.staged.yaml'), text, 0o600)
    return { details, warnings }
  }
  writeFileAtomic(paths.config(n.name), text, 0o600)
  updateNode(n.name, (x) => (x.configVersion = (x.configVersion ?? 0) + 1))
  if (effective === 'reboot') {
    const { rebootNode } = await import('../machine-power.ts')
    await rebootNode(n.name)
  } else {
    warnings.push(...(await applyRuntime(loadNode(n.name), next)))
    // machined restarts kubelet when its configuration changed (KubeletServiceController)
    if (changes.some((c) => c.field.startsWith('machine.kubelet'))) await runKubelet(n.name)
    await reconcileNode(n.name)
  }
  if (mode === 'try') details += `\nThe config is applied in 'try' mode and will be automatically reverted back in 1m0s`
  return { details, warnings }
}

function readConfigFile(ctx: RunContext): string {
  const file = ctx.flags.file as string
  if (!file) throw new Error('no filename supplied for configuration')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new Error(`failed to read configuration from "${file}": open ${file}: no such file or directory`)
  }
  if (!text.length) throw new Error('no configuration data read')
  const patches = ctx.flags['config-patch'] as string[]
  return patches.length ? patchConfig(text, patchesFrom(patches)) : text
}

export async function applyConfig(ctx: RunContext): Promise<void> {
  if (ctx.args.length) {
    if (ctx.args[0] !== 'config' && ctx.args[0].toLowerCase() !== 'machineconfig')
      throw new Error(`unknown positional argument ${ctx.args[0]}`)
    if (ctx.path.endsWith('apply-config')) throw new Error('expected no positional arguments')
  }
  const mode = ctx.flags.mode as string
  checkMode(mode, true)
  const text = readConfigFile(ctx)
  const prefix = 'error applying new configuration: '
  if (ctx.flags.insecure) {
    let s
    try {
      s = await withMaintenanceClient(ctx.global)
    } catch (e) {
      throw new Error(prefix + (e as Error).message)
    }
    if (!['auto', 'reboot', 'try'].includes(mode))
      throw new Error(
        prefix + rpcError('Unimplemented', `apply configuration --mode='${mode}' is not supported in maintenance mode`),
      )
    validateOrThrow(text, prefix)
    if (ctx.flags['dry-run']) {
      io.err('Dry run summary:\nNode is running in maintenance mode and does not have a config yet.\n')
      return
    }
    await installNode(s.node.name, text)
    return
  }
  let s
  try {
    s = await withClient(ctx.global)
  } catch (e) {
    throw new Error(prefix + (e as Error).message)
  }
  const results = await perNode(s, (n) => applyToRunningNode(n, text, mode, ctx.flags['dry-run']))
  const err = nodeErrors(results)
  if (err) throw new Error(prefix + err)
  for (const r of results) {
    for (const w of r.value!.warnings) warn(w)
    io.err(r.value!.details + '\n')
  }
}

function validateOrThrow(text: string, prefix: string): void {
  try {
    parseMachineConfig(text)
  } catch (e) {
    throw new Error(prefix + rpcError('InvalidArgument', `configuration validation failed: ${(e as Error).message}`))
  }
}

/** talosctl patch machineconfig|mc [--patch ...] [--mode] [--dry-run] */
export async function patch(ctx: RunContext): Promise<void> {
  const type = ctx.args[0].toLowerCase()
  if (!['machineconfig', 'machineconfigs', 'mc', 'machineconfigs.config.talos.dev'].includes(type))
    throw new Error(`lab talosctl: patch supports only machineconfig (got ${ctx.args[0]})`)
  const mode = ctx.flags.mode as string
  checkMode(mode, false)
  const specs = [...(ctx.flags.patch as string[])]
  if (ctx.flags['patch-file']) specs.push('@' + ctx.flags['patch-file'])
  if (!specs.length) throw new Error('either --patch or --patch-file should be defined')
  const patches = patchesFrom(specs)
  let s
  try {
    s = await withClient(ctx.global)
  } catch (e) {
    throw new Error((e as Error).message)
  }
  const results = await perNode(s, async (n) => {
    const text = patchConfig(readFileSync(paths.config(n.name), 'utf8'), patches)
    return applyToRunningNode(n, text, mode, ctx.flags['dry-run'])
  })
  for (const r of results) {
    if (r.error) continue
    for (const w of r.value!.warnings) warn(w)
    io.out(`patched MachineConfigs.config.talos.dev/v1alpha1 at the node ${r.addr}\n`)
    io.err(r.value!.details + '\n')
  }
  const err = nodeErrors(results)
  if (err) throw new Error(err)
}

export { RpcFailure }
