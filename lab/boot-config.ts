// The runtime part of a machine config (sysctls, kernel modules, volumes, the CRI base runtime spec) put into a lab machine's sysroot, as
// machined's controllers do when a config becomes active: live after an apply, and at every boot for the config the
// machine boots with (a staged config that a reboot made active runs its settings, not the ones from before).
import { existsSync, readFileSync } from 'node:fs'
import { parseMachineConfig, runtimeConfigFor, type MachineConfigView } from './machine-config.ts'
import { applyRuntimeConfig } from './sysroot.ts'
import { writeCriBaseSpec } from './cri-base-spec.ts'
import { loadNode, paths, type LabNode } from './state.ts'

/** Applies cfg's runtime settings; what fails is machined's log line, not an API error. */
export function applyRuntimeOf(
  n: LabNode,
  cfg: MachineConfigView,
  log: (msg: string) => void,
  opts: { boot?: boolean } = {},
): void {
  const rc = runtimeConfigFor(cfg, n.hardware, n.installDisk ?? cfg.installDisk)
  // at boot every volume is mounted afresh, and Talos resets each mount root then (lab/sysroot.ts applyRuntimeConfig)
  for (const e of applyRuntimeConfig(paths.root(n.name), rc, opts).errors) log(e)
  writeCriBaseSpec(paths.root(n.name), cfg.baseRuntimeSpecOverrides)
}

/** At boot: the active config's runtime settings. */
export function applyConfigAtBoot(name: string): void {
  const f = paths.config(name)
  if (!existsSync(f)) return
  applyRuntimeOf(
    loadNode(name),
    parseMachineConfig(readFileSync(f, 'utf8'), f),
    (msg) => process.stderr.write(`${new Date().toISOString()} ${name}: ${msg}\n`),
    { boot: true },
  )
}
