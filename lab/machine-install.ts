// A machine in maintenance mode installs Talos with the config it was given: the config saved, the kernel command line
// of the installer (Talos's defaults, the image's schematic args or machine.install.extraKernelArgs), the runtime
// settings applied, kubelet and the node's services started. Talos's own validation has accepted the config already
// (lab/talos-api maintenance.go); parseMachineConfig reads what the lab models of it.
import { installCmdline, parseMachineConfig } from './machine-config.ts'
import { reconcileNode } from './node-services.ts'
import { installerKernelArgs } from './factory.ts'
import { runKubelet } from './kubelet.ts'
import { applyBootParams } from './sysroot.ts'
import { applyRuntimeOf } from './boot-config.ts'
import { loadNode, paths, updateNode, writeFileAtomic } from './state.ts'

/** The installer a config without machine.install.image gets (gen config's default for v1.10.3). */
export const DEFAULT_INSTALLER = 'ghcr.io/siderolabs/installer:v1.10.3'

/** Install Talos with this config on a maintenance node (what applying in maintenance mode does). */
export async function installNode(name: string, text: string): Promise<void> {
  const cfg = parseMachineConfig(text, `config for ${name}`)
  const n = loadNode(name)
  // A machine booted from a written disk image already has its META partition, so Talos counts it as installed and
  // skips the Install task (internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_sequencer_tasks.go, Install:
  // `case !r.State().Machine().Installed()`): it keeps the image's kernel command line until an upgrade.
  let cmdline = n.cmdline
  if (n.bootSchematic === undefined) {
    const k = installerKernelArgs(cfg.installImage ?? DEFAULT_INSTALLER)
    if ('error' in k) throw new Error(`failed to install: ${k.error}`)
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
  applyRuntimeOf(loadNode(name), cfg, (msg) => process.stderr.write(`${new Date().toISOString()} ${name}: ${msg}\n`), {
    boot: true,
  })
  await runKubelet(name)
  updateNode(name, (x) => (x.stage = 'running'))
  await reconcileNode(name)
}
