// machined's NodeApplyController, Talos v1.10.3 internal/app/machined/pkg/controllers/k8s/node_apply.go: it keeps
// machine.nodeLabels, machine.nodeAnnotations and machine.nodeTaints (plus the control-plane role label and taint,
// node_label_spec.go / node_taint_spec.go) on the machine's Node, and remembers what it set in the
// talos.dev/owned-labels, owned-annotations and owned-taints annotations (sorted JSON lists, removed when empty).
// - applyNodeKV :357-395 (labels and annotations): a key not on the Node is set and owned; one with the same value is
//   owned; one with another value is changed only when owned; an owned key no longer wanted is removed.
// - ApplyTaints :414-466: taints match by key alone; a missing one is added and owned; an owned one takes the wanted
//   value and effect; a not-owned one with the same value and effect becomes owned, with another it is left alone; an
//   owned taint no longer wanted is removed.
// - syncOnce :302-355 GETs the Node and PUTs it back whole; sync :244-262 retries Conflict and Forbidden every 100 ms
//   for 10 s. The client (getK8sClient :169-186) is an admin one on a control plane and the kubelet's kubeconfig on a
//   worker, so on a worker the API server's NodeRestriction judges the update: it refuses any taint change.
// Talos's cordon spec (ApplyCordoned) is not modelled.
import type { Taint } from '../node-shape.ts'
import type { ApiClient } from '../kubelet-agent/client.ts'

type Obj = Record<string, any>

export interface NodeApplySpec {
  labels: Record<string, string>
  annotations: Record<string, string>
  taints: Taint[]
}

export const OWNED_LABELS = 'talos.dev/owned-labels'
export const OWNED_ANNOTATIONS = 'talos.dev/owned-annotations'
export const OWNED_TAINTS = 'talos.dev/owned-taints'

function owned(node: Obj, annotation: string): Set<string> {
  const text = node.metadata.annotations?.[annotation]
  return new Set(text ? (JSON.parse(text) as string[]) : [])
}

function keepOwned(node: Obj, annotation: string, keys: Set<string>): void {
  if (keys.size) node.metadata.annotations[annotation] = JSON.stringify([...keys].sort())
  else delete node.metadata.annotations[annotation]
}

function applyKV(kv: Record<string, string>, own: Set<string>, spec: Record<string, string>): void {
  for (const [key, value] of Object.entries(spec)) {
    if (!(key in kv)) {
      kv[key] = value
      own.add(key)
    } else if (kv[key] === value) own.add(key)
    else if (own.has(key)) kv[key] = value
  }
  for (const key of [...own])
    if (!(key in spec)) {
      delete kv[key]
      own.delete(key)
    }
}

function applyTaints(node: Obj, own: Set<string>, want: Taint[]): void {
  const taints: Taint[] = (node.spec.taints ??= [])
  for (const t of want) {
    // the last taint with that key, as the Go loop leaves it
    const cur = [...taints].reverse().find((x) => x.key === t.key)
    if (!cur) {
      taints.push({ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect })
      own.add(t.key)
    } else if (own.has(t.key)) {
      if (t.value) cur.value = t.value
      else delete cur.value
      cur.effect = t.effect
    } else if ((cur.value ?? '') === (t.value ?? '') && cur.effect === t.effect) own.add(t.key)
  }
  node.spec.taints = taints.filter((x) => {
    if (!own.has(x.key) || want.some((t) => t.key === x.key)) return true
    own.delete(x.key)
    return false
  })
  if (!node.spec.taints.length) delete node.spec.taints
}

/** What syncOnce does to the Node it read (mutated in place). */
export function applyNodeSpec(node: Obj, spec: NodeApplySpec): Obj {
  node.metadata.labels ??= {}
  node.metadata.annotations ??= {}
  node.spec ??= {}
  const labels = owned(node, OWNED_LABELS)
  const annotations = owned(node, OWNED_ANNOTATIONS)
  const taints = owned(node, OWNED_TAINTS)
  applyKV(node.metadata.labels, labels, spec.labels)
  applyKV(node.metadata.annotations, annotations, spec.annotations)
  applyTaints(node, taints, spec.taints)
  keepOwned(node, OWNED_LABELS, labels)
  keepOwned(node, OWNED_ANNOTATIONS, annotations)
  keepOwned(node, OWNED_TAINTS, taints)
  return node
}

/** The client node_apply.go uses: a GET and a PUT of one Node, each an HTTP status and body. */
export interface NodeClient {
  get(name: string): Promise<{ status: number; body: Obj }>
  put(name: string, node: Obj): Promise<{ status: number; body: Obj }>
}

/**
 * sync: syncOnce, again every 100 ms while the API answers Conflict or Forbidden, for 10 s. Resolves when the Node
 * was updated (or needed nothing); rejects with the API's last message otherwise.
 */
export async function syncNode(client: NodeClient, name: string, spec: NodeApplySpec, budgetMs = 10_000) {
  const deadline = Date.now() + budgetMs
  for (;;) {
    const got = await client.get(name)
    if (got.status !== 200) throw new Error(`error getting node: ${got.status} ${got.body.message ?? ''}`)
    const before = JSON.stringify(got.body)
    const node = applyNodeSpec(structuredClone(got.body), spec)
    // Talos PUTs even an unchanged Node, which the API server accepts without a write: skipping it changes nothing
    if (JSON.stringify(node) === before) return
    const put = await client.put(name, node)
    if (put.status === 200) return
    if (![403, 409].includes(put.status) || Date.now() >= deadline)
      throw new Error(String(put.body.message ?? put.status))
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** node_apply.go's client over the lab's HTTPS client (lab/kubelet-agent/client.ts) with the node's or admin's certificate. */
export const nodeClient = (api: ApiClient): NodeClient => ({
  get: (name) => api.call('GET', `/api/v1/nodes/${name}`),
  put: (name, node) => api.call('PUT', `/api/v1/nodes/${name}`, node),
})
