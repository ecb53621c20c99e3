// The lab's Image Factory: the schematics it knows, by ID, and the kernel args each bakes into its images. On real
// hardware a systemd-boot (UEFI) machine gets its extra kernel args only from the UKI of the image it booted or was
// upgraded to, i.e. from that image's schematic (customization.extraKernelArgs); machine.install.extraKernelArgs is
// read by GRUB installs only ("If Talos is using systemd-boot as a bootloader (default for UEFI) this setting will be
// ignored": website/content/v1.10/reference/configuration/v1alpha1/config.md, install.extraKernelArgs). The factory computes the ID from the schematic's
// content (siderolabs/image-factory pkg/schematic/schematic.go ID(); lib/schematic.ts) and serves nothing for an ID
// nobody uploaded.
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  EMPTY_SCHEMATIC_ID,
  canonicalSchematicYaml,
  parseSchematic,
  schematicId,
  schematicOfInstaller,
  type Schematic,
} from '../lib/talos/schematic.ts'
import { labDir, writeFileAtomic } from './state.ts'

const dir = () => join(labDir(), 'factory', 'schematics')

/** POST /schematics: store a schematic, return its ID. */
export function registerSchematic(yaml: string): string {
  const s = parseSchematic(yaml)
  const id = schematicId(s)
  mkdirSync(dir(), { recursive: true })
  writeFileAtomic(join(dir(), `${id}.yaml`), canonicalSchematicYaml(s), 0o644)
  return id
}

/** Schematic `id` as uploaded; undefined when the factory does not know the ID. */
export function knownSchematic(id: string): Schematic | undefined {
  if (id === EMPTY_SCHEMATIC_ID) return { customization: {} }
  const f = join(dir(), `${id}.yaml`)
  if (!existsSync(f)) return undefined
  return parseSchematic(readFileSync(f, 'utf8'))
}

/** The kernel args schematic `id` bakes into its images; undefined when the factory does not know the ID. */
export function schematicKernelArgs(id: string): string[] | undefined {
  const s = knownSchematic(id)
  return s && (s.customization.extraKernelArgs ?? [])
}

/**
 * The kernel args an installer image carries, or an error as the node would report pulling an image the factory
 * does not serve (the factory answers 404 for an unknown schematic).
 */
export function installerKernelArgs(image: string): { args: string[]; schematic: string } | { error: string } {
  const id = schematicOfInstaller(image)
  if (id === undefined) return { args: [], schematic: EMPTY_SCHEMATIC_ID }
  const args = schematicKernelArgs(id)
  if (args === undefined)
    return {
      error: `failed to pull image ${image}: ${image.split(':')[0]}: not found (schematic ${id} is unknown to the Image Factory)`,
    }
  return { args, schematic: id }
}
