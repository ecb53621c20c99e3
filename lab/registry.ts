// The lab's container registry, as a machine's system containerd pulls installer images from it for an upgrade:
// which installer images exist (ghcr.io/siderolabs/installer and the Image Factory's
// factory.talos.dev/installer/<schematic> for the Talos releases below; a schematic the factory does not know has no
// image) and how long pulling one takes. machined pulls and validates the image BEFORE it answers the Upgrade call
// (v1.10.3 internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:495, internal/pkg/install/pull.go:38),
// skipping the pull when containerd already holds the image (image.WithSkipIfAlreadyPulled,
// internal/pkg/containers/image/image.go:68); the system containerd keeps its images under /system, a tmpfs
// (internal/pkg/mount/v2/pseudo.go:29; services/containerd.go --root /system/var/lib/containerd), so every boot
// starts cold.
import { EMPTY_SCHEMATIC_ID, schematicOfInstaller } from '../lib/talos/schematic.ts'
import { knownSchematic } from './factory.ts'
import { loadNode, updateNode } from './state.ts'

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

/**
 * The lab's sizes and link speed (its own numbers, not measurements): an installer image of 350 MiB plus 40 MiB per
 * system extension its schematic adds, over a 10 MiB/s link, so a cold pull takes 35 s or more, longer than a
 * 30 s call timeout. TALOS_LAB_IMAGE_PULL_MS (in the lab daemon's environment) sets every cold pull's time instead.
 */
const BASE_BYTES = 350 * 2 ** 20
const EXTENSION_BYTES = 40 * 2 ** 20
const LINK_BYTES_PER_S = 10 * 2 ** 20

const tagOf = (image: string) => /:([^:/@]+)(@sha256:[0-9a-f]{64})?$/.exec(image)?.[1]

/**
 * A reference as containerd names it (github.com/distribution/reference ParseDockerRef, normalize.go): docker.io for
 * a name without a registry, library/ for an official image, :latest when neither tag nor digest is given, the digest
 * alone when both are. Undefined for a reference that does not parse (lower-case path components, a tag of word
 * characters, a sha256 digest).
 */
export function normalizeImageRef(ref: string): string | undefined {
  const [named, digest, extra] = ref.split('@')
  if (extra !== undefined || (digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(digest))) return undefined
  const colon = named!.lastIndexOf(':')
  const hasTag = colon > named!.lastIndexOf('/')
  const name = hasTag ? named!.slice(0, colon) : named!
  const tag = hasTag ? named!.slice(colon + 1) : undefined
  if (tag !== undefined && !/^\w[\w.-]{0,127}$/.test(tag)) return undefined
  const slash = name.indexOf('/')
  const first = slash < 0 ? '' : name.slice(0, slash)
  const hasDomain = slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase())
  const domain = hasDomain ? first : 'docker.io'
  let path = hasDomain ? name.slice(slash + 1) : name
  if (!hasDomain && !path.includes('/')) path = `library/${path}`
  const component = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
  if (!/^[a-zA-Z0-9.-]+(?::\d+)?$/.test(domain) || !path.split('/').every((c) => component.test(c))) return undefined
  if (digest) return `${domain}/${path}@${digest}`
  return `${domain}/${path}:${tag ?? 'latest'}`
}

export const talosVersionOfImage = (image: string): string | undefined => {
  const tag = tagOf(image)
  return tag && /^v\d+\.\d+\.\d+$/.test(tag) ? tag : undefined
}

/** The installer image `ref` (normalized) in the lab's registry: its size, or undefined when there is none. */
function installerImageBytes(ref: string): number | undefined {
  const tag = tagOf(ref)
  if (!tag || !LAB_TALOS_RELEASES.includes(tag)) return undefined
  const id = schematicOfInstaller(ref)
  if (id === undefined) return undefined
  const s = knownSchematic(id)
  if (!s) return undefined
  const extensions = id === EMPTY_SCHEMATIC_ID ? 0 : (s.customization.systemExtensions?.officialExtensions?.length ?? 0)
  return BASE_BYTES + extensions * EXTENSION_BYTES
}

/** How long a cold pull of an image of `bytes` takes. */
export function coldPullMs(bytes: number): number {
  const set = Number(process.env.TALOS_LAB_IMAGE_PULL_MS)
  if (process.env.TALOS_LAB_IMAGE_PULL_MS && Number.isFinite(set) && set >= 0) return set
  return Math.round((bytes / LINK_BYTES_PER_S) * 1000)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * install.PullAndValidateInstallerImage on machine `name`: the pull takes its time unless containerd holds the image
 * since this boot; an image the registry does not have fails as containerd reports it (client/pull.go
 * "failed to resolve reference", remotes/docker/resolver.go "<ref>: not found", wrapped by image.Pull).
 */
export async function pullInstallerImage(name: string, image: string): Promise<void> {
  const ref = normalizeImageRef(image)
  if (!ref) throw new Error(`failed to parse image reference "${image}": invalid reference format`)
  const bytes = installerImageBytes(ref)
  if (bytes === undefined)
    throw new Error(`failed to pull image "${ref}": failed to resolve reference "${ref}": ${ref}: not found`)
  if (loadNode(name).pulledImages?.includes(ref)) return
  await sleep(coldPullMs(bytes))
  updateNode(name, (x) => (x.pulledImages = [...new Set([...(x.pulledImages ?? []), ref])]))
}
