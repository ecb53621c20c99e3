// What is installed on a lab machine's system disk, and what an upgrade and a rollback change there:
//  - an upgrade installs the installer image: its Talos version, and the kernel command line it carries (its
//    schematic's args, plus machine.install.extraKernelArgs with GRUB: lab/machine-config.ts installCmdline);
//  - A/B boot: the previous installation stays on disk; a node whose new image fails to boot comes back on the
//    previous one (website/content/v1.10/talos-guides/upgrading-talos.md: "If an upgrade fails to boot, Talos will
//    roll back to the previous version"); the lab's `boot-fail` fault makes the next upgrade's boot fail;
//  - a rollback makes the previous installation the default boot entry again (machined Rollback: bootloader Revert,
//    v1.10.3 internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:370-395).
import { readFileSync } from 'node:fs'
import { installerKernelArgs } from './factory.ts'
import { installCmdline, parseMachineConfig } from './machine-config.ts'
import { talosVersionOfImage } from './registry.ts'
import { loadNode, paths, updateNode, type LabNode } from './state.ts'

/** Before installing a new image: the running one becomes the A/B fallback. */
export function rememberInstallation(x: LabNode): void {
  x.previousInstall = {
    image: x.installedImage,
    talosVersion: x.talosVersion,
    cmdline: x.cmdline,
    bootSchematic: x.bootSchematic,
  }
}

/**
 * After an install whose boot failed (the `boot-fail` fault): the bootloader boots the previous entry again, and the
 * failed one stays on disk as the other A/B entry (a `rollback` would boot it).
 */
export function fallBackToPrevious(x: LabNode): void {
  const failed = {
    image: x.installedImage,
    talosVersion: x.talosVersion,
    cmdline: x.cmdline,
    bootSchematic: x.bootSchematic,
  }
  const p = x.previousInstall
  if (!p) return
  x.installedImage = p.image
  x.talosVersion = p.talosVersion
  x.cmdline = p.cmdline
  x.bootSchematic = p.bootSchematic
  x.previousInstall = failed
}

/**
 * The upgrade's install task: the installer writes `image` as the new default boot entry (taking effect at the next
 * boot, which the boot-fail fault makes fall back to the previous entry). Throws when the factory does not serve the
 * image's schematic.
 */
export function installUpgrade(name: string, image: string): void {
  const cfg = parseMachineConfig(readFileSync(paths.config(name), 'utf8'), paths.config(name))
  const k = installerKernelArgs(image)
  if ('error' in k) throw new Error(k.error)
  updateNode(name, (x) => {
    rememberInstallation(x)
    x.installedImage = image
    x.talosVersion = talosVersionOfImage(image) ?? x.talosVersion
    x.cmdline = installCmdline(cfg, k.args, x.firmware)
    x.bootSchematic = k.schematic
    if (x.faults.bootFail) fallBackToPrevious(x)
  })
}

/**
 * The bootloader's Revert: the other A/B entry becomes the default. Without one it fails as the machine's bootloader
 * (state.ts firmware) says:
 * systemd-boot (UEFI) "previous UKI not found" (bootloader/sdboot/sdboot.go:437), GRUB `cannot rollback to "",
 * label does not exist` (bootloader/grub/revert.go:59, which formats an empty label).
 */
export function revertInstallation(name: string): void {
  const n = loadNode(name)
  if (!n.previousInstall)
    throw new Error(n.firmware === 'uefi' ? 'previous UKI not found' : 'cannot rollback to "", label does not exist')
  updateNode(name, (x) => {
    const prev = x.previousInstall!
    rememberInstallation(x)
    x.installedImage = prev.image
    x.talosVersion = prev.talosVersion
    x.cmdline = prev.cmdline
    x.bootSchematic = prev.bootSchematic
  })
}
