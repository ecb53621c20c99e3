// What `talosctl upgrade` and `talosctl rollback` need beyond a reboot (lab/talosctl/power.ts runs the upgrade):
//  - the installer image must exist: machined pulls and validates it before acknowledging
//    (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go at v1.10.3, Upgrade:
//    `error validating installer image %q: %w`). The lab's registry serves the Talos v1.10 releases below.
//  - A/B boot: the previous installation stays on disk; a node whose new image fails to boot comes back on the
//    previous one (website/content/v1.10/talos-guides/upgrading-talos.md: "If an upgrade fails to boot, Talos will
//    roll back to the previous version"); the lab's `boot-fail` fault makes the next upgrade's boot fail.
//  - `talosctl rollback` (lab/talosctl/rollback.ts) boots the previous installation again.
import type { LabNode } from '../state.ts'

/** Talos v1.10 releases (git tags of siderolabs/talos) whose installer images the lab's registry serves. */
export const LAB_TALOS_RELEASES = [
  'v1.10.0',
  'v1.10.1',
  'v1.10.2',
  'v1.10.3',
  'v1.10.4',
  'v1.10.5',
  'v1.10.6',
  'v1.10.7',
  'v1.10.8',
  'v1.10.9',
]

const tagOf = (image: string) => /:([^:/@]+)(@sha256:[0-9a-f]{64})?$/.exec(image)?.[1]

/** Why machined would refuse this installer image, or undefined when it exists. */
export function installerImageProblem(image: string): string | undefined {
  const tag = tagOf(image)
  if (tag && LAB_TALOS_RELEASES.includes(tag)) return undefined
  const why = tag
    ? `${image}: not found (the lab's registry serves Talos ${LAB_TALOS_RELEASES[0]} … ${LAB_TALOS_RELEASES.at(-1)})`
    : `${image}: no tag`
  return `error validating installer image "${image}": ${why}`
}

export const talosVersionOfImage = (image: string): string | undefined => {
  const tag = tagOf(image)
  return tag && /^v\d+\.\d+\.\d+$/.test(tag) ? tag : undefined
}

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
