// Which objects Talos v1.10.3's ManifestApplyController applies, and in what order, for a control plane's Manifest
// resources: its own bootstrap manifests (ids like "00-kubelet-bootstrapping-token", "11-core-dns") and each
// cluster.inlineManifests entry (ControlPlaneExtraManifestsController, control_plane.go:401-409: priority "99", id
// "99-<name>"). Sources (v1.10.3, internal/app/machined/pkg/): adapters/k8s/manifest.go:38 SetYAML (every YAML
// document, comment-only ones skipped, Lists unwrapped) and controllers/k8s/manifest_apply.go (Run :128 manifests
// sorted by id; apply :193 their objects flattened, then a stable sort: namespaces first, then CRDs, each by name).
import { parseDocument, visit, type Document } from 'yaml'

export type Obj = Record<string, any>

export interface Manifest {
  id: string
  contents: string
}

const isNamespace = (o: Obj) => o.kind === 'Namespace' && o.apiVersion === 'v1'
const isCrd = (o: Obj) =>
  o.kind === 'CustomResourceDefinition' && String(o.apiVersion ?? '').startsWith('apiextensions.k8s.io/')
const nameOf = (o: Obj) => String(o.metadata?.name ?? '')

/**
 * A multi-document YAML's documents as SetYAML reads them: split as Kubernetes's YAMLReader splits them (apimachinery
 * util/yaml Read: a line that starts with "---" and has nothing after it but spaces or a comment), each trimmed of
 * surrounding whitespace (bytes.TrimSpace). The trim drops the last line break of a document that ends in a block
 * scalar, so a ConfigMap's final `key: |` value reaches the API server without its trailing newline, as from Talos.
 */
function yamlDocuments(text: string): string[] {
  const docs: string[] = []
  let cur: string[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('---') && /^\s*(#.*)?$/.test(line.slice(3))) {
      docs.push(cur.join('\n'))
      cur = []
    } else cur.push(line)
  }
  docs.push(cur.join('\n'))
  return docs.map((d) => d.trim()).filter((d) => d !== '')
}

/**
 * A trimmed document parsed as Go's YAML parser reads it: a block scalar that runs to the end of the text has no last
 * line break to keep (YAML 1.2 8.1.1.2, chomping keeps "the final line break", and there is none), where the yaml
 * package still gives it one.
 */
function parseTrimmed(text: string): Document {
  const d = parseDocument(text)
  visit(d, {
    Scalar(_, node) {
      const block = node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED'
      if (block && node.range && node.range[1] >= text.length && typeof node.value === 'string')
        node.value = node.value.replace(/\n$/, '')
    },
  })
  return d
}

/** One manifest's objects (Lists unwrapped), or the error that makes Talos skip it. */
function objectsOf(m: Manifest): Obj[] {
  const items: Obj[] = []
  for (const d of yamlDocuments(m.contents).map(parseTrimmed)) {
    if (d.errors.length) throw new Error(d.errors[0]!.message)
    const o = d.toJS() as unknown
    if (o === null || o === undefined) continue
    if (typeof o !== 'object' || Array.isArray(o)) throw new Error('a document is not an object')
    if (!Object.keys(o).length) continue
    const obj = o as Obj
    if (Array.isArray(obj.items)) items.push(...(obj.items as Obj[]))
    else items.push(obj)
  }
  return items
}

/**
 * The objects of these manifests in the controller's order. A manifest whose YAML does not parse is an error for that
 * manifest alone.
 */
export function manifestObjects(manifests: Manifest[]): { objects: Obj[]; errors: string[] } {
  const objects: Obj[] = []
  const errors: string[] = []
  for (const m of [...manifests].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    try {
      objects.push(...objectsOf(m))
    } catch (e) {
      errors.push(`manifest ${m.id}: ${(e as Error).message}`)
    }
  }
  const rank = (o: Obj) => (isNamespace(o) ? 0 : isCrd(o) ? 1 : 2)
  const ordered = objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => {
      const ra = rank(a.o)
      const rb = rank(b.o)
      if (ra !== rb) return ra - rb
      if (ra < 2 && nameOf(a.o) !== nameOf(b.o)) return nameOf(a.o) < nameOf(b.o) ? -1 : 1
      return a.i - b.i
    })
    .map((x) => x.o)
  return { objects: ordered, errors }
}

/** A machine config's cluster.inlineManifests as Manifest resources ("99-<name>", control_plane.go). */
export function inlineManifests(cfg: Obj | undefined): Manifest[] {
  return ((cfg?.cluster?.inlineManifests ?? []) as Obj[]).map((m) => ({
    id: `99-${m?.name ?? ''}`,
    contents: String(m?.contents ?? ''),
  }))
}

/** The objects of a machine config's inline manifests alone, in the controller's order. */
export const inlineManifestObjects = (cfg: Obj | undefined) => manifestObjects(inlineManifests(cfg))

/** "group/version/Kind/name", as manifest_apply.go names an object in its log and errors. */
export function objName(o: Obj): string {
  const av = String(o.apiVersion ?? '')
  const [group, version] = av.includes('/') ? av.split('/', 2) : ['', av]
  return `${group}/${version}/${o.kind ?? ''}/${nameOf(o)}`
}
