// Cluster-wide health in the spirit of `talosctl health` (pkg/cluster/check): k8s nodes Ready with the right role,
// the API answering promptly, etcd and kubelet services running, control-plane static pods Running.
import { controlPlaneNodes, names, type CheckInventory, type CheckNode } from '../engine/inventory.ts'
import { count, fail, pass, warn, worded } from '../engine/results.ts'
import { defineCheck, type Result, type ServiceRow } from '../engine/types.ts'
import type { KubeNode } from '../../lib/kube/kubectl.ts'

const API_LATENCY_WARN_MS = 1000
const API_LATENCY_FAIL_MS = 5000
const CONTROL_PLANE_LABEL = 'node-role.kubernetes.io/control-plane'
export const STATIC_PODS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']

/** The k8s Node for an inventory node: by name (Talos registers the hostname), else by InternalIP. */
export function findK8sNode(items: KubeNode[], n: CheckNode): KubeNode | undefined {
  return (
    items.find((k) => k.metadata.name === n.name) ??
    items.find((k) => (k.status?.addresses ?? []).some((a) => a.type === 'InternalIP' && a.address === n.address))
  )
}

/** A Ready condition's status as `kubectl get nodes` words it. */
const readyWord = (status: string | undefined) =>
  status === 'True' ? 'Ready' : status === 'False' ? 'NotReady' : 'Unknown'

export const nodesReady = defineCheck({
  id: 'cluster.nodes-ready',
  group: 'cluster',
  title: 'every inventory node is a Ready Kubernetes node with the right role',
  targets: (inv) => names(inv.nodes),
  needs: ['k8sNodes'],
  evaluate: ({ k8sNodes }, inv) =>
    inv.nodes.map((n) => {
      const k = findK8sNode(k8sNodes.items, n)
      const wanted = worded({ ready: 'True', role: n.role }, `Ready ${n.role}`)
      if (!k)
        return fail(
          'cluster.nodes-ready',
          n.name,
          null,
          wanted,
          `${n.name} (${n.address}) is not registered in Kubernetes`,
        )
      const ready = k.status?.conditions?.find((c) => c.type === 'Ready')
      const isCp = CONTROL_PLANE_LABEL in (k.metadata.labels ?? {})
      const role = isCp ? 'controlplane' : 'worker'
      const seen = worded(
        { name: k.metadata.name, ready: ready?.status ?? 'Unknown', role },
        `${readyWord(ready?.status)} ${role}`,
      )
      if (ready?.status !== 'True') {
        return fail(
          'cluster.nodes-ready',
          n.name,
          seen,
          wanted,
          `${k.metadata.name} is not Ready: ${ready?.reason ?? 'no Ready condition'}${ready?.message ? ` (${ready.message})` : ''}`,
        )
      }
      if (isCp !== (n.role === 'controlplane')) {
        return fail(
          'cluster.nodes-ready',
          n.name,
          seen,
          wanted,
          `${k.metadata.name} is labelled ${role}, the inventory says ${n.role}`,
        )
      }
      return pass('cluster.nodes-ready', n.name, seen, wanted, `${k.metadata.name} Ready as ${n.role}`)
    }),
})

export const apiLatency = defineCheck({
  id: 'cluster.api-latency',
  group: 'cluster',
  title: `the Kubernetes API answers (warn > ${API_LATENCY_WARN_MS} ms)`,
  targets: () => ['cluster'],
  needs: ['k8sNodes'],
  evaluate: ({ k8sNodes }) => {
    const ms = Math.round(k8sNodes.latencyMs)
    const seen = `${ms} ms`
    const wanted = `≤ ${API_LATENCY_WARN_MS} ms`
    if (ms > API_LATENCY_FAIL_MS)
      return [fail('cluster.api-latency', 'cluster', seen, wanted, `the API took ${ms} ms to list nodes`)]
    if (ms > API_LATENCY_WARN_MS)
      return [warn('cluster.api-latency', 'cluster', seen, wanted, `the API is slow: ${ms} ms to list nodes`)]
    return [pass('cluster.api-latency', 'cluster', seen, wanted, `the API listed nodes in ${ms} ms`)]
  },
})

function serviceResult(
  check: string,
  node: string,
  svc: string,
  rows: ServiceRow[],
  nodeErrors: Record<string, string>,
): Result {
  const wanted = worded({ state: 'Running', health: 'OK' }, 'Running, healthy')
  if (nodeErrors[node])
    return fail(check, node, nodeErrors[node], wanted, `could not list services on ${node}: ${nodeErrors[node]}`)
  const row = rows.find((r) => r.node === node && r.id === svc)
  if (!row) return fail(check, node, null, wanted, `${node} has no ${svc} service`)
  const seen = worded({ state: row.state, health: row.health }, serviceWords(row))
  if (row.state !== 'Running') return fail(check, node, seen, wanted, `${svc} on ${node} is ${row.state}`)
  if (row.health === 'Fail') return fail(check, node, seen, wanted, `${svc} on ${node} is Running but unhealthy`)
  if (row.health !== 'OK') return warn(check, node, seen, wanted, `${svc} on ${node} is Running, health ${row.health}`)
  return pass(check, node, seen, wanted, `${svc} on ${node} is Running and healthy`)
}

/** `Running, healthy`, `Running, unhealthy`, `Finished`: a service row as `talosctl service` would say it. */
function serviceWords(row: ServiceRow): string {
  const health = row.health === 'OK' ? 'healthy' : row.health === 'Fail' ? 'unhealthy' : `health ${row.health || '?'}`
  return row.state === 'Running' ? `Running, ${health}` : row.state
}

export const etcdService = defineCheck({
  id: 'cluster.etcd-service',
  group: 'cluster',
  title: 'the etcd service runs on every control plane',
  targets: (inv) => names(controlPlaneNodes(inv)),
  needs: ['services'],
  evaluate: ({ services }, inv) =>
    names(controlPlaneNodes(inv)).map((n) =>
      serviceResult('cluster.etcd-service', n, 'etcd', services.rows, services.nodeErrors),
    ),
})

export const kubeletService = defineCheck({
  id: 'cluster.kubelet-service',
  group: 'cluster',
  title: 'the kubelet service runs on every node',
  targets: (inv) => names(inv.nodes),
  needs: ['services'],
  evaluate: ({ services }, inv) =>
    names(inv.nodes).map((n) =>
      serviceResult('cluster.kubelet-service', n, 'kubelet', services.rows, services.nodeErrors),
    ),
})

export const staticPods = defineCheck({
  id: 'cluster.static-pods',
  group: 'cluster',
  title: 'control-plane static pods are Running on every control plane',
  targets: (inv) => names(controlPlaneNodes(inv)),
  needs: ['k8sPods', 'k8sNodes'],
  evaluate: ({ k8sPods, k8sNodes }, inv: CheckInventory) =>
    controlPlaneNodes(inv).map((n) => {
      const nodeName = findK8sNode(k8sNodes.items, n)?.metadata.name ?? n.name
      const seen: Record<string, string> = {}
      for (const comp of STATIC_PODS) {
        const pod = k8sPods.items.find(
          (p) =>
            (p.metadata.namespace ?? 'default') === 'kube-system' &&
            p.spec?.nodeName === nodeName &&
            p.metadata.name.startsWith(`${comp}-`),
        )
        seen[comp] = pod ? (pod.status?.phase ?? 'Unknown') : 'missing'
      }
      const bad = Object.entries(seen).filter(([, phase]) => phase !== 'Running')
      const running = STATIC_PODS.length - bad.length
      const seenWords = worded(
        seen,
        bad.length === 0
          ? `${running}/${STATIC_PODS.length} Running`
          : `${running}/${STATIC_PODS.length} Running, ${bad.map(([c, p]) => `${c.replace(/^kube-/, '')} ${p}`).join(', ')}`,
      )
      const wanted = worded(
        Object.fromEntries(STATIC_PODS.map((c) => [c, 'Running'])),
        `${count(STATIC_PODS.length, 'pod')} Running`,
      )
      return bad.length === 0
        ? pass('cluster.static-pods', n.name, seenWords, wanted, `${STATIC_PODS.join(', ')} Running on ${nodeName}`)
        : fail(
            'cluster.static-pods',
            n.name,
            seenWords,
            wanted,
            `on ${nodeName}: ${bad.map(([c, p]) => `${c} ${p}`).join(', ')}`,
          )
    }),
})

export const clusterChecks = [nodesReady, apiLatency, etcdService, kubeletService, staticPods]
