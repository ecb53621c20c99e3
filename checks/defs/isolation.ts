// The validator node is fenced off: it carries the inventory's labels and NoSchedule taint, and nothing that does
// not tolerate that taint runs on it.
import { names, validatorNodes } from '../engine/inventory.ts'
import { count, fail, pass, worded } from '../engine/results.ts'
import { defineCheck } from '../engine/types.ts'
import type { KubePod, KubeTaint } from '../../lib/kube/kubectl.ts'
import { findK8sNode } from './cluster.ts'

export const validatorLabels = defineCheck({
  id: 'isolation.labels',
  group: 'isolation',
  title: 'the validator node has the inventory labels',
  targets: (inv) => names(validatorNodes(inv)),
  needs: ['k8sNodes'],
  evaluate: ({ k8sNodes }, inv) =>
    validatorNodes(inv).map((n) => {
      const want = inv.validator?.labels ?? {}
      const wanted = worded(want, count(Object.keys(want).length, 'label'))
      const k = findK8sNode(k8sNodes.items, n)
      if (!k) return fail('isolation.labels', n.name, null, wanted, `${n.name} is not a Kubernetes node`)
      const labels = k.metadata.labels ?? {}
      const wrong = Object.entries(want).filter(([key, v]) => labels[key] !== v)
      const seen = worded(
        Object.fromEntries(Object.keys(want).map((key) => [key, labels[key]])),
        `${Object.keys(want).length - wrong.length}/${count(Object.keys(want).length, 'label')}`,
      )
      return wrong.length === 0
        ? pass('isolation.labels', n.name, seen, wanted, `${Object.keys(want).length} label(s) present`)
        : fail(
            'isolation.labels',
            n.name,
            seen,
            wanted,
            `label(s) wrong or missing: ${wrong.map(([key, v]) => `${key}=${labels[key] ?? '(absent)'} (want ${v})`).join(', ')}`,
          )
    }),
})

const sameTaint = (a: KubeTaint, b: KubeTaint) =>
  a.key === b.key && (a.value ?? '') === (b.value ?? '') && a.effect === b.effect

export const validatorTaints = defineCheck({
  id: 'isolation.taints',
  group: 'isolation',
  title: 'the validator node has the inventory taints',
  targets: (inv) => names(validatorNodes(inv)),
  needs: ['k8sNodes'],
  evaluate: ({ k8sNodes }, inv) =>
    validatorNodes(inv).map((n) => {
      const want = inv.validator?.taints ?? []
      const wanted = worded(want, taintWords(want))
      const k = findK8sNode(k8sNodes.items, n)
      if (!k) return fail('isolation.taints', n.name, null, wanted, `${n.name} is not a Kubernetes node`)
      const taints = k.spec?.taints ?? []
      const seen = worded(taints, taintWords(taints))
      const missing = want.filter((w) => !taints.some((t) => sameTaint(t, w)))
      return missing.length === 0
        ? pass('isolation.taints', n.name, seen, wanted, `taint(s) ${want.map(fmtTaint).join(', ')} present`)
        : fail('isolation.taints', n.name, seen, wanted, `missing taint(s): ${missing.map(fmtTaint).join(', ')}`)
    }),
})

const fmtTaint = (t: KubeTaint) => `${t.key}${t.value !== undefined ? `=${t.value}` : ''}:${t.effect}`
/** Taints as `kubectl describe node` lists them, or `none`. */
const taintWords = (ts: KubeTaint[]) => (ts.length ? ts.map(fmtTaint).join(', ') : 'none')

/** Kubernetes' toleration matching (v1.ToleratesTaint), for the scheduler's view of who may land on the node. */
export function tolerates(pod: KubePod, taint: KubeTaint): boolean {
  return (pod.spec?.tolerations ?? []).some((t) => {
    if (t.effect && t.effect !== taint.effect) return false
    if (!t.key) return t.operator === 'Exists'
    if (t.key !== taint.key) return false
    return t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '')
  })
}

export const foreignPods = defineCheck({
  id: 'isolation.foreign-pods',
  group: 'isolation',
  title: 'no pod that does not tolerate the validator taint runs on the validator',
  targets: (inv) => names(validatorNodes(inv)),
  needs: ['k8sNodes', 'k8sPods'],
  evaluate: ({ k8sNodes, k8sPods }, inv) =>
    validatorNodes(inv).map((n) => {
      const taints = (inv.validator?.taints ?? []).filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')
      const nodeName = findK8sNode(k8sNodes.items, n)?.metadata.name ?? n.name
      const live = k8sPods.items.filter(
        (p) => p.spec?.nodeName === nodeName && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
      )
      const intruders = live
        .filter((p) => taints.some((t) => !tolerates(p, t)))
        .map((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`)
      const wanted = worded(
        `only pods tolerating ${taints.map(fmtTaint).join(', ') || '(no taints in inventory)'}`,
        'no foreign pods',
      )
      return intruders.length === 0
        ? pass(
            'isolation.foreign-pods',
            n.name,
            worded(`${live.length} pod(s), all tolerate the taint`, `${count(live.length, 'pod')}, all tolerate`),
            wanted,
            `no foreign pods on ${nodeName}`,
          )
        : fail(
            'isolation.foreign-pods',
            n.name,
            worded(intruders, count(intruders.length, 'foreign pod')),
            wanted,
            `${intruders.length} pod(s) without the toleration on ${nodeName}: ${intruders.join(', ')}`,
          )
    }),
})

export const isolationChecks = [validatorLabels, validatorTaints, foreignPods]
