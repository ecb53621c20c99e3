// The default scheduler's decisions for the lab, as pure functions: filters in the real plugin order
// (NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit), the FitError message
// ("0/5 nodes are available: ...  preemption: ...") and a least-allocated pick among feasible nodes.
import { podRequests } from './admission.ts'
import type { Obj } from './errors.ts'
import { parseQuantity } from './quantity.ts'

export interface Failure {
  reasons: string[]
  /** UnschedulableAndUnresolvable: preemption cannot help on this node. */
  unresolvable: boolean
}

export function tolerates(tolerations: Obj[] = [], taint: Obj): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false
    if (t.operator === 'Exists') return !t.key || t.key === taint.key
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '')
  })
}

function matchExpr(labels: Record<string, string>, e: Obj): boolean {
  const has = Object.hasOwn(labels, e.key)
  const v = labels[e.key]
  switch (e.operator) {
    case 'In':
      return has && (e.values ?? []).includes(v)
    case 'NotIn':
      return !has || !(e.values ?? []).includes(v)
    case 'Exists':
      return has
    case 'DoesNotExist':
      return !has
    case 'Gt':
      return has && Number(v) > Number(e.values?.[0])
    case 'Lt':
      return has && Number(v) < Number(e.values?.[0])
    default:
      return false
  }
}

export function matchesNodeSelector(pod: Obj, node: Obj): boolean {
  const labels: Record<string, string> = node.metadata?.labels ?? {}
  for (const [k, v] of Object.entries<string>(pod.spec?.nodeSelector ?? {})) if (labels[k] !== v) return false
  const terms: Obj[] | undefined =
    pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms
  if (terms?.length) {
    const fields: Record<string, string> = { 'metadata.name': node.metadata.name }
    return terms.some(
      (t) =>
        (t.matchExpressions ?? []).every((e: Obj) => matchExpr(labels, e)) &&
        (t.matchFields ?? []).every((e: Obj) => matchExpr(fields, e)),
    )
  }
  return true
}

/** Requests already placed on a node (pods not finished). */
export function usedOn(nodeName: string, pods: Obj[]): { req: Record<string, number>; count: number } {
  const req: Record<string, number> = {}
  let count = 0
  for (const p of pods) {
    if (p.spec?.nodeName !== nodeName || ['Succeeded', 'Failed'].includes(p.status?.phase)) continue
    count++
    for (const [k, v] of Object.entries(podRequests(p))) req[k] = (req[k] ?? 0) + v
  }
  return { req, count }
}

/** undefined = the pod fits on the node. */
export function filterNode(pod: Obj, node: Obj, pods: Obj[]): Failure | undefined {
  const tol: Obj[] = pod.spec?.tolerations ?? []
  if (node.spec?.unschedulable && !tolerates(tol, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }))
    return { reasons: ['node(s) were unschedulable'], unresolvable: true }
  for (const t of node.spec?.taints ?? []) {
    if (t.effect !== 'NoSchedule' && t.effect !== 'NoExecute') continue
    if (!tolerates(tol, t))
      return { reasons: [`node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`], unresolvable: true }
  }
  if (!matchesNodeSelector(pod, node))
    return { reasons: ["node(s) didn't match Pod's node affinity/selector"], unresolvable: true }
  const alloc: Record<string, string> = node.status?.allocatable ?? {}
  const used = usedOn(node.metadata.name, pods)
  const reasons: string[] = []
  if (used.count + 1 > parseQuantity(alloc.pods ?? '110')) reasons.push('Too many pods')
  const want = podRequests(pod)
  for (const [res, amount] of Object.entries(want)) {
    if (amount <= 0) continue
    const free = parseQuantity(alloc[res] ?? '0') - (used.req[res] ?? 0)
    // cpu compares in millicores, everything else in whole units
    const over = res === 'cpu' ? Math.round(amount * 1000) > Math.round(free * 1000) : amount > free + 1e-9
    if (over) reasons.push(`Insufficient ${res}`)
  }
  return reasons.length ? { reasons, unresolvable: false } : undefined
}

function histogram(items: string[]): string {
  const counts = new Map<string, number>()
  for (const i of items) counts.set(i, (counts.get(i) ?? 0) + 1)
  return [...counts]
    .map(([k, v]) => `${v} ${k}`)
    .sort()
    .join(', ')
}

/** The scheduler's FitError text plus the default preemption plugin's verdict. */
export function fitErrorMessage(pod: Obj, nodes: Obj[], failures: Map<string, Failure>, pods: Obj[]): string {
  if (!nodes.length) return 'no nodes available to schedule pods'
  const all = [...failures.values()].flatMap((f) => f.reasons)
  let msg = `0/${nodes.length} nodes are available: ${histogram(all)}.`
  if (pod.spec?.preemptionPolicy === 'Never') return `${msg} preemption: not eligible due to preemptionPolicy=Never.`
  const prio = pod.spec?.priority ?? 0
  const pre: string[] = []
  for (const n of nodes) {
    const f = failures.get(n.metadata.name)
    if (!f || f.unresolvable) pre.push('Preemption is not helpful for scheduling')
    else if (!pods.some((p) => p.spec?.nodeName === n.metadata.name && (p.spec?.priority ?? 0) < prio))
      pre.push('No preemption victims found for incoming pod')
    else pre.push(...f.reasons)
  }
  msg += ` preemption: 0/${nodes.length} nodes are available: ${histogram(pre)}.`
  return msg
}

/** NodeResourcesFit LeastAllocated: prefer the node with the most cpu and memory left. */
export function pickNode(pod: Obj, feasible: Obj[], pods: Obj[]): Obj {
  const score = (n: Obj) => {
    const alloc = n.status?.allocatable ?? {}
    const used = usedOn(n.metadata.name, pods).req
    const want = podRequests(pod)
    const frac = (r: string) => {
      const a = parseQuantity(alloc[r] ?? '0')
      return a > 0 ? (a - (used[r] ?? 0) - (want[r] ?? 0)) / a : 0
    }
    return (frac('cpu') + frac('memory')) / 2
  }
  return [...feasible].sort((a, b) => score(b) - score(a) || a.metadata.name.localeCompare(b.metadata.name))[0]
}
