// Image Factory schematics and their IDs, computed locally.
//
// The ID is a content hash: siderolabs/image-factory pkg/schematic/schematic.go, Schematic.ID() =
// hex(sha256(Schematic.Marshal())), Marshal being go-yaml's yaml.Marshal of the struct. So the canonical text is
// what go-yaml writes for it: fields in struct order (overlay, customization; in customization
// embeddedMachineConfiguration, extraKernelArgs, meta, systemExtensions, ...), `omitempty` fields left out when
// empty, `customization` always present (`customization: {}` when empty), 4-space indentation with sequence items
// indented under their key. The factory's own tests (pkg/schematic/schematic_test.go) pin the IDs this must give:
// the empty schematic 376567988ad3…b4ba, extraKernelArgs [noapic, nolapic] 9cba8e32753f…a06c (test/unit/schematic.test.ts).
// Only the fields this project renders are supported (kernel args, official extensions); anything else is refused
// rather than hashed wrongly, as the factory refuses unknown fields (Unmarshal uses KnownFields(true)).
import { createHash } from 'node:crypto'
import { parse as parseYaml } from 'yaml'

export interface Schematic {
  customization: {
    extraKernelArgs?: string[]
    systemExtensions?: { officialExtensions?: string[] }
  }
}

export const EMPTY_SCHEMATIC_ID = '376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba'
/** The public Image Factory; `cluster.imageFactory` names another (a self-hosted one serves the same API). */
export const DEFAULT_IMAGE_FACTORY = 'https://factory.talos.dev'
const ID = /^[0-9a-f]{64}$/

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v)

function only(o: Obj, allowed: string[], where: string): void {
  for (const k of Object.keys(o))
    if (!allowed.includes(k))
      throw new Error(`schematic: ${where}${k}: field not supported here (allowed: ${allowed.join(', ')})`)
}

function stringList(v: unknown, where: string): string[] | undefined {
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw new Error(`schematic: ${where}: must be a list of strings`)
  return v as string[]
}

/** A schematic from its YAML (the factory's input format); unknown fields are an error. */
export function parseSchematic(text: string): Schematic {
  const doc = (parseYaml(text) ?? {}) as unknown
  if (!isObj(doc)) throw new Error('schematic: must be a YAML mapping')
  only(doc, ['customization'], '')
  const c = doc.customization ?? {}
  if (!isObj(c)) throw new Error('schematic: customization: must be a mapping')
  only(c, ['extraKernelArgs', 'systemExtensions'], 'customization.')
  const ext = c.systemExtensions ?? {}
  if (!isObj(ext)) throw new Error('schematic: customization.systemExtensions: must be a mapping')
  only(ext, ['officialExtensions'], 'customization.systemExtensions.')
  const extraKernelArgs = stringList(c.extraKernelArgs, 'customization.extraKernelArgs')
  const officialExtensions = stringList(ext.officialExtensions, 'customization.systemExtensions.officialExtensions')
  return {
    customization: {
      ...(extraKernelArgs ? { extraKernelArgs } : {}),
      ...(officialExtensions ? { systemExtensions: { officialExtensions } } : {}),
    },
  }
}

// go-yaml writes a string plain unless it would read back as something else or holds indicator characters; then
// double-quoted. The strings we hash (kernel args, extension names) are plain-safe; anything that is not is
// quoted only when the quoting is unambiguous, else refused.
const PLAIN_SAFE = /^[A-Za-z0-9_./=+@,:~-]+$/
const NOT_A_STRING =
  /^(~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)$/
function scalar(s: string): string {
  if (PLAIN_SAFE.test(s) && !/^[-:?,]/.test(s) && !s.includes(': ') && !NOT_A_STRING.test(s)) return s
  if (/^[\x20-\x7e]*$/.test(s) && !/["\\]/.test(s)) return `"${s}"`
  throw new Error(`schematic: cannot compute the canonical form of ${JSON.stringify(s)}`)
}

const list = (items: string[], indent: string) => items.map((x) => `${indent}- ${scalar(x)}\n`).join('')

/** go-yaml's Marshal of the schematic: the exact bytes the factory hashes. */
export function canonicalSchematicYaml(s: Schematic): string {
  const args = s.customization.extraKernelArgs ?? []
  const exts = s.customization.systemExtensions?.officialExtensions ?? []
  let body = ''
  if (args.length) body += `    extraKernelArgs:\n${list(args, '        ')}`
  if (exts.length) body += `    systemExtensions:\n        officialExtensions:\n${list(exts, '            ')}`
  return body ? `customization:\n${body}` : 'customization: {}\n'
}

/** The schematic ID the Image Factory gives this schematic. */
export const schematicId = (s: Schematic) => createHash('sha256').update(canonicalSchematicYaml(s)).digest('hex')

/**
 * The registry a factory serves its installer images from: the factory's own host (and port). The factory is also an
 * OCI registry (image-factory internal/frontend/http/registry_routes.go serves /v2/<image>/<id>/manifests/<tag>).
 */
export const factoryRegistry = (factory = DEFAULT_IMAGE_FACTORY) => new URL(factory).host

/** <factory host>/metal-installer/<id>:<version>: the factory's installer image for bare metal. */
export const factoryInstallerImage = (id: string, talosVersion: string, factory = DEFAULT_IMAGE_FACTORY) =>
  `${factoryRegistry(factory)}/metal-installer/${id}:${talosVersion}`

/**
 * The factory URL of the compressed metal disk image for this schematic (decompress before writing it):
 * GET /image/:schematic/:version/:path (image-factory internal/frontend/http/http.go).
 */
export const factoryDiskImageUrl = (id: string, talosVersion: string, factory = DEFAULT_IMAGE_FACTORY) =>
  `${factory.replace(/\/+$/, '')}/image/${id}/${talosVersion}/metal-amd64.raw.zst`

/** The official installer (ghcr.io/siderolabs/installer) is the factory's empty schematic. */
const OFFICIAL_INSTALLER = /^ghcr\.io\/siderolabs\/installer(:|@)/

/** An installer image reference as the runbooks read it. */
export interface InstallerImageRef {
  image: string
  /** The Talos version the image installs: its tag, or the tag's vX.Y.Z suffix (a digest after it is ignored). */
  version: string
  /** The Image Factory schematic ID in its path; undefined for the official installer and images built elsewhere. */
  schematic?: string
}

/** Any registry host with the Image Factory's path layout (factory.talos.dev, or a self-hosted factory). */
const FACTORY_INSTALLER = /^[a-z0-9.-]+(?::[0-9]+)?\/(?:[a-z0-9-]+-)?installer(?:-secureboot)?\/([0-9a-f]{64})(?::|@)/

/**
 * The one parser of installer image references: <factory>/<platform>-installer[-secureboot]/<id>:<tag> (or the older
 * <factory>/installer/<id>) names its schematic; `<image>@sha256:…` pins a digest beside the tag.
 */
export function parseInstallerImage(image: string): InstallerImageRef {
  const noDigest = image.replace(/@sha256:[0-9a-f]{64}$/, '')
  const tag = /:([^:/]+)$/.exec(noDigest)?.[1] ?? ''
  // a custom build's tag may say more than the version (custom-solana-v1.10.3): the version is its suffix
  const version = /(?:^|[-_.])(v\d+\.\d+\.\d+)$/.exec(tag)?.[1] ?? tag
  const schematic = FACTORY_INSTALLER.exec(image)?.[1]
  return { image, version, ...(schematic ? { schematic } : {}) }
}

/**
 * Which schematic's kernel args an installer image carries: its factory schematic, the empty schematic for the
 * official installer; undefined when the reference does not say (an image built elsewhere).
 */
export function schematicOfInstaller(image: string): string | undefined {
  if (OFFICIAL_INSTALLER.test(image)) return EMPTY_SCHEMATIC_ID
  return parseInstallerImage(image).schematic
}

/** Which schematic a disk image URL names: a 64-hex path segment (the factory's /image/<id>/<version>/ layout). */
export function schematicOfDiskImage(url: string): string | undefined {
  const segs = url.replace(/^[a-z]+:\/\//, '').split(/[/?#]/)
  return segs.find((s) => ID.test(s))
}
