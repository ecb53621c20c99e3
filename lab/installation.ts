// What is installed on a lab machine's system disk, and what an upgrade and a rollback change there:
//  - an upgrade installs the installer image: its Talos version, and the kernel command line it carries (its
//    schematic's args, plus machine.install.extraKernelArgs with GRUB: lab/machine-config.ts installCmdline);
//  - what is installed runs from the next boot on (bootDefaultEntry): until then `talosctl version` reports the
//    running machined's version (version.Tag, compiled in) and /proc/cmdline the running kernel's, so a client that
//    reads them right after the upgrade call still sees the old boot;
//  - A/B boot: the previous installation stays on disk; a node whose new image fails to boot comes back on the
//    previous one (website/content/v1.10/talos-guides/upgrading-talos.md: "If an upgrade fails to boot, Talos will
//    roll back to the previous version"); the lab's `boot-fail` fault makes the next upgrade's boot fail;
//  - a rollback makes the previous installation the default boot entry again (machined Rollback: bootloader Revert,
//    v1.10.3 internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:370-395).
import { readFileSync } from 'node:fs'
import { installerKernelArgs } from './factory.ts'
import { installCmdline, parseMachineConfig } from './machine-config.ts'
import { talosVersionOfImage } from './registry.ts'
import { loadNode, paths, updateNode, type Installation, type LabNode } from './state.ts'

/** The boot entry this boot runs. */
const running = (x: LabNode): Installation => ({
  image: x.installedImage,
  talosVersion: x.talosVersion,
  cmdline: x.cmdline,
  bootSchematic: x.bootSchematic,
})

/** The default boot entry: the one an upgrade or rollback chose for the next boot, else the one running. */
const defaultEntry = (x: LabNode): Installation => x.nextBoot ?? running(x)

/**
 * At boot, before anything reads the machine: the default entry runs. Until this boot, `talosctl version`, the
 * schematic and /proc/cmdline are the running boot's, as machined's own version and the running kernel's cmdline are.
 */
export function bootDefaultEntry(x: LabNode): void {
  const e = x.nextBoot
  if (!e) return
  x.installedImage = e.image
  x.talosVersion = e.talosVersion
  x.cmdline = e.cmdline
  x.bootSchematic = e.bootSchematic
  delete x.nextBoot
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
    const old = defaultEntry(x)
    const installed = {
      image,
      talosVersion: talosVersionOfImage(image) ?? old.talosVersion,
      cmdline: installCmdline(cfg, k.args, x.firmware),
      bootSchematic: k.schematic,
    }
    // the boot-fail fault: the new entry does not boot and the bootloader boots the old one again; the failed one
    // stays on disk as the other A/B entry (a `rollback` would boot it)
    x.previousInstall = x.faults.bootFail ? installed : old
    x.nextBoot = x.faults.bootFail ? old : installed
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
    x.previousInstall = defaultEntry(x)
    x.nextBoot = prev
  })
}
