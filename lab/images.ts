// The lab's stand-in for the Talos metal image (metal-amd64.raw from the Image Factory). A real image is a
// ~1 GiB disk with GPT, EFI and the Talos partitions; the lab writes a few MiB with a text header naming the
// Talos version, followed by deterministic filler, so streaming it over SSH, checksumming it and "booting"
// it (lab/rescue) exercise the same steps as on a real machine. The .zst copy matches what the Image
// Factory serves (metal-amd64.raw.zst), which must be decompressed before it is written to a disk.
import { createCipheriv, createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { labDir, writeFileAtomic } from './state.ts'

export const IMAGE_MAGIC = 'LAB-TALOS-IMAGE/1\n'
/** The header occupies the first sector; a disk whose first bytes are not this is not a lab Talos disk. */
export const HEADER_BYTES = 512
export const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd])

export interface ImageHeader {
  talosVersion: string
  arch: string
  platform: string
  /** The Image Factory schematic the image was built from (absent: the empty schematic). */
  schematic?: string
  /** The schematic's extra kernel args, as the image's UKI carries them in its .cmdline. */
  extraKernelArgs?: string[]
}

export const imagePaths = {
  dir: () => join(labDir(), 'images'),
  raw: () => join(labDir(), 'images', 'metal-amd64.raw'),
  zst: () => join(labDir(), 'images', 'metal-amd64.raw.zst'),
  /** One schematic's image, at the factory's path layout (…/<schematic>/metal-amd64.raw). */
  schematicRaw: (id: string) => join(labDir(), 'images', id, 'metal-amd64.raw'),
}

export function renderImageHeader(h: ImageHeader): Buffer {
  const extra =
    (h.schematic ? `schematic: ${h.schematic}\n` : '') +
    (h.extraKernelArgs?.length ? `extra-kernel-args: ${h.extraKernelArgs.join(' ')}\n` : '')
  const text = `${IMAGE_MAGIC}talos-version: ${h.talosVersion}\narch: ${h.arch}\nplatform: ${h.platform}\n${extra}`
  const buf = Buffer.alloc(HEADER_BYTES)
  buf.write(text, 'utf8')
  return buf
}

/** The header of a lab Talos image at the start of `data`, or undefined if `data` is something else. */
export function parseImageHeader(data: Buffer): ImageHeader | undefined {
  if (data.length < IMAGE_MAGIC.length || data.subarray(0, IMAGE_MAGIC.length).toString('utf8') !== IMAGE_MAGIC)
    return undefined
  const text = data.subarray(0, Math.min(HEADER_BYTES, data.length)).toString('utf8').replace(/\0.*$/s, '')
  const field = (k: string) => new RegExp(`^${k}: (\\S+)$`, 'm').exec(text)?.[1]
  const talosVersion = field('talos-version')
  if (!talosVersion) return undefined
  const schematic = field('schematic')
  const args = /^extra-kernel-args: (.+)$/m.exec(text)?.[1]
  return {
    talosVersion,
    arch: field('arch') ?? 'amd64',
    platform: field('platform') ?? 'metal',
    ...(schematic ? { schematic } : {}),
    ...(args ? { extraKernelArgs: args.split(' ') } : {}),
  }
}

/** Deterministic image bytes: header + AES-CTR keystream seeded by the version (same version → same sha256). */
export function buildImage(
  talosVersion: string,
  sizeBytes = 6 * 1024 * 1024,
  schematic?: { id: string; extraKernelArgs: string[] },
): Buffer {
  const header = renderImageHeader({
    talosVersion,
    arch: 'amd64',
    platform: 'metal',
    ...(schematic ? { schematic: schematic.id, extraKernelArgs: schematic.extraKernelArgs } : {}),
  })
  const key = createHash('sha256')
    .update(`lab talos image ${talosVersion}${schematic ? ` ${schematic.id}` : ''}`)
    .digest()
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  const filler = Buffer.concat([cipher.update(Buffer.alloc(sizeBytes - HEADER_BYTES)), cipher.final()])
  return Buffer.concat([header, filler])
}

export const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex')

export interface LabImage {
  raw: string
  zst: string
  sizeBytes: number
  sha256: string
  talosVersion: string
}

/**
 * Write metal-amd64.raw (+ .sha256 in sha256sum format) and metal-amd64.raw.zst (+ .sha256) under <lab>/images (the
 * official image: no schematic customization), and <lab>/images/<id>/metal-amd64.raw for each given schematic.
 */
export function writeLabImages(
  talosVersion: string,
  schematics: { id: string; extraKernelArgs: string[] }[] = [],
): LabImage {
  mkdirSync(imagePaths.dir(), { recursive: true })
  const img = buildImage(talosVersion)
  const sha = sha256Hex(img)
  writeFileAtomic(imagePaths.raw(), img, 0o644)
  writeFileAtomic(`${imagePaths.raw()}.sha256`, `${sha}  metal-amd64.raw\n`, 0o644)
  execFileSync('/usr/bin/zstd', ['-q', '-f', '-3', imagePaths.raw(), '-o', imagePaths.zst()], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  writeFileAtomic(
    `${imagePaths.zst()}.sha256`,
    `${sha256Hex(readFileSync(imagePaths.zst()))}  metal-amd64.raw.zst\n`,
    0o644,
  )
  for (const sch of schematics) {
    const file = imagePaths.schematicRaw(sch.id)
    mkdirSync(dirname(file), { recursive: true })
    const b = buildImage(talosVersion, undefined, sch)
    writeFileAtomic(file, b, 0o644)
    writeFileAtomic(`${file}.sha256`, `${sha256Hex(b)}  metal-amd64.raw\n`, 0o644)
  }
  return { raw: imagePaths.raw(), zst: imagePaths.zst(), sizeBytes: img.length, sha256: sha, talosVersion }
}
