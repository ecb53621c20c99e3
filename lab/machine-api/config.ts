// What applying a machine config does to a configured lab machine, once machined has decided how (lab/talos-api
// config.go: Talos's own validation, CanApplyImmediate and dry-run diff). Talos keeps two configs
// (pkg/machinery/resources/config/machine_config.go): the ACTIVE one the machine runs and the PERSISTENT one saved to
// STATE for the next boot. The lab keeps the active one in config.yaml and, while they differ, the persistent one in
// config.staged.yaml, which a reboot makes active (lab/machine-power.ts rebootNode).
// v1.10.3 internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:254-305 and
// internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_runtime.go:81-116:
//   no-reboot  SetPersistedConfig + SetConfig: saved and applied live;
//   try        SetConfig only (the saved config stays), rolled back to the previous active one after the timeout;
//   staged     SetPersistedConfig only: active after the next reboot;
//   reboot     SetPersistedConfig, then a reboot sequence (after the answer has gone back).
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { applyRuntimeOf } from '../boot-config.ts'
import { diffConfigs, parseMachineConfig, type MachineConfigView } from '../machine-config.ts'
import { reconcileNode } from '../node-services.ts'
import { runKubelet } from '../kubelet.ts'
import { loadNode, paths, updateNode, writeFileAtomic, type LabNode } from '../state.ts'
import { rebootNode } from '../machine-power.ts'
import { ModelError } from './errors.ts'

const stagedPath = (name: string) => join(paths.nodeDir(name), 'config.staged.yaml')
const readText = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '')

/** The saved config when it is not the running one ('' when they are the same). */
export function persistentConfig(name: string): string {
  return readText(stagedPath(name))
}

/** MachineConfigs: the active and the persistent config of the machine. */
export function MachineConfigs(n: LabNode): unknown {
  const active = readText(paths.config(n.name))
  return { active, persistent: persistentConfig(n.name) || active }
}

/** The pending rollback of a `--mode try` apply, per machine (machined's rollbackTimer, in memory: a reboot loses it). */
const rollbacks = new Map<string, NodeJS.Timeout>()

/** CancelConfigRollbackTimeout: every apply but a try cancels the pending rollback. */
export function CancelConfigRollback(n: LabNode): unknown {
  clearTimeout(rollbacks.get(n.name))
  rollbacks.delete(n.name)
  return {}
}

function logLine(name: string, msg: string): void {
  process.stderr.write(`${new Date().toISOString()} ${name}: ${msg}\n`)
}

/**
 * The lab's own reading of the config must accept it too (the hardware it runs on): a config that would fail on the
 * machine fails here, as in maintenance mode (lab/machine-install.ts installNode).
 */
function labView(text: string, name: string): MachineConfigView {
  try {
    return parseMachineConfig(text, `config for ${name}`)
  } catch (e) {
    throw new ModelError('InvalidArgument', `configuration validation failed: ${(e as Error).message}`)
  }
}

/**
 * SetConfig: the machine runs `text` from now on. machined's controllers apply sysctls, kernel modules, volumes,
 * labels and taints; a changed kubelet configuration restarts kubelet (KubeletServiceController). Failures are
 * machined's log lines, not the API's answer.
 */
async function setActive(name: string, text: string): Promise<void> {
  const before = loadNode(name)
  const prev = parseMachineConfig(readText(paths.config(name)), paths.config(name))
  const next = parseMachineConfig(text, paths.config(name))
  writeFileAtomic(paths.config(name), text, 0o600)
  updateNode(name, (x) => (x.configVersion = (x.configVersion ?? 0) + 1))
  applyRuntimeOf(before, next, (msg) => logLine(name, msg))
  if (diffConfigs(prev, next).some((c) => c.field.startsWith('machine.kubelet'))) await runKubelet(name)
  await reconcileNode(name)
}

/** SetPersistedConfig: saved for the next boot; while it is not the active config it waits in config.staged.yaml. */
function setPersisted(name: string, text: string): void {
  if (text === readText(paths.config(name))) rmSync(stagedPath(name), { force: true })
  else writeFileAtomic(stagedPath(name), text, 0o600)
}

/** RollbackToConfigAfter: after the timeout the machine runs again what it ran before the try. */
function rollbackAfter(name: string, previous: string, ms: number): void {
  clearTimeout(rollbacks.get(name))
  const t = setTimeout(() => {
    rollbacks.delete(name)
    logLine(name, 'rolling back the configuration')
    setActive(name, previous)
      .then(() => {
        if (persistentConfig(name) === previous) rmSync(stagedPath(name), { force: true })
      })
      .catch((e: Error) => logLine(name, `config rollback failed ${e.message}`))
  }, ms)
  t.unref()
  rollbacks.set(name, t)
}

export async function ApplyConfiguration(
  n: LabNode,
  req: { config?: string; mode?: string; tryTimeoutMs?: number },
): Promise<unknown> {
  const text = req.config ?? ''
  labView(text, n.name)
  const previous = readText(paths.config(n.name))
  switch (req.mode) {
    case 'no-reboot':
      await setActive(n.name, text)
      setPersisted(n.name, text)
      break
    case 'try':
      // the saved config stays what it was: until the rollback (or a reboot) the machine runs one it has not saved
      if (!persistentConfig(n.name)) writeFileAtomic(stagedPath(n.name), previous, 0o600)
      rollbackAfter(n.name, previous, req.tryTimeoutMs ?? 60_000)
      await setActive(n.name, text)
      break
    case 'staged':
      setPersisted(n.name, text)
      break
    case 'reboot':
      setPersisted(n.name, text)
      // machined answers, then runs the reboot sequence in the background (v1alpha1_server.go:289-298)
      setTimeout(() => {
        rebootNode(n.name).catch((e: Error) => logLine(n.name, `apply configuration failed: ${e.message}`))
      }, 100)
      break
    default:
      throw new ModelError('Unknown', `incorrect mode '${req.mode}' specified for the apply config call`)
  }
  return {}
}
