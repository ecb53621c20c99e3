// PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes strategic merge patch
// (the lists kubectl edits by key: containers by name, conditions by type ...). Pure functions.
import { badRequest, type Obj } from './errors.ts'

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return patch
  const out: Obj = isObj(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

const unescape = (s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~')
function pointer(path: string): string[] {
  if (path === '') return []
  if (!path.startsWith('/'))
    throw badRequest(
      `the server rejected our request due to an error in our request: invalid JSON pointer ${JSON.stringify(path)}`,
    )
  return path.slice(1).split('/').map(unescape)
}

export function jsonPatch(doc: unknown, ops: Obj[]): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch must be a list of operations')
  let root = structuredClone(doc)
  const parentOf = (path: string): [any, string] => {
    const parts = pointer(path)
    const last = parts.pop()!
    let cur: any = root
    for (const p of parts) {
      cur = cur?.[Array.isArray(cur) ? Number(p) : p]
      if (cur === undefined)
        throw badRequest(
          `the server rejected our request due to an error in our request: doc is missing path: "${path}"`,
        )
    }
    return [cur, last]
  }
  const getAt = (path: string) =>
    pointer(path).reduce<any>((c, p) => (c === undefined ? undefined : c[Array.isArray(c) ? Number(p) : p]), root)
  const add = (path: string, value: unknown) => {
    if (path === '') return void (root = value)
    const [parent, key] = parentOf(path)
    if (Array.isArray(parent)) parent.splice(key === '-' ? parent.length : Number(key), 0, value)
    else parent[key] = value
  }
  const remove = (path: string) => {
    const [parent, key] = parentOf(path)
    if (Array.isArray(parent)) parent.splice(Number(key), 1)
    else {
      if (!(key in parent))
        throw badRequest(
          `the server rejected our request due to an error in our request: remove operation does not apply: doc is missing path: "${path}"`,
        )
      delete parent[key]
    }
  }
  for (const op of ops) {
    switch (op.op) {
      case 'add':
        add(op.path, op.value)
        break
      case 'remove':
        remove(op.path)
        break
      case 'replace':
        if (getAt(op.path) === undefined)
          throw badRequest(
            `the server rejected our request due to an error in our request: replace operation does not apply: doc is missing key: ${op.path}`,
          )
        remove(op.path)
        add(op.path, op.value)
        break
      case 'move': {
        const v = getAt(op.from)
        remove(op.from)
        add(op.path, v)
        break
      }
      case 'copy':
        add(op.path, structuredClone(getAt(op.from)))
        break
      case 'test':
        if (JSON.stringify(getAt(op.path)) !== JSON.stringify(op.value))
          throw new Error(`testing value ${op.path} failed`)
        break
      default:
        throw badRequest(`Unexpected kind: ${op.op}`)
    }
  }
  return root
}

/** patchMergeKey of the list fields the lab's kinds use (k8s.io/api struct tags). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  conditions: 'type',
  ownerReferences: 'uid',
  hostAliases: 'ip',
  addresses: 'type',
  resourceClaims: 'name',
  ports: 'containerPort',
}
const PRIMITIVE_MERGE = new Set(['finalizers'])

function mergeList(orig: unknown[], patch: unknown[], key: string): unknown[] {
  if (patch.some((p) => isObj(p) && p.$patch === 'replace')) return patch.filter((p) => !(isObj(p) && p.$patch))
  const out = [...orig]
  for (const item of patch) {
    if (!isObj(item)) {
      out.push(item)
      continue
    }
    const k = item[key] ?? item.port
    const i = out.findIndex((o) => isObj(o) && (o[key] ?? o.port) === k)
    if (item.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1)
    } else if (i >= 0) out[i] = strategicMerge(out[i], item)
    else out.push(strategicMerge({}, item))
  }
  return out
}

export function strategicMerge(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return patch
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch
    return rest
  }
  if (patch.$patch === 'delete') return undefined
  const out: Obj = isObj(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const f = k.slice('$deleteFromPrimitiveList/'.length)
      if (Array.isArray(out[f]) && Array.isArray(v)) out[f] = out[f].filter((x: unknown) => !v.includes(x))
      continue
    }
    if (v === null) delete out[k]
    else if (Array.isArray(v) && Array.isArray(out[k]) && MERGE_KEYS[k]) out[k] = mergeList(out[k], v, MERGE_KEYS[k])
    else if (Array.isArray(v) && Array.isArray(out[k]) && PRIMITIVE_MERGE.has(k))
      out[k] = [...new Set([...out[k], ...v])]
    else if (Array.isArray(v)) out[k] = v.map((x) => (isObj(x) ? strategicMerge({}, x) : x))
    else if (isObj(v)) {
      const merged = strategicMerge(out[k], v)
      if (merged === undefined) delete out[k]
      else out[k] = merged
    } else out[k] = v
  }
  if (Array.isArray(patch.$retainKeys))
    for (const k of Object.keys(out)) if (!patch.$retainKeys.includes(k)) delete out[k]
  return out
}
