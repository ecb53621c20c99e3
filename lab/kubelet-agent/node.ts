// The Node a kubelet registers and the status it posts, from the lab machine's shape (lab/node-shape.ts
// nodeShape: capacity and allocatable from the simulated hardware and the sysroot, addresses, nodeInfo), as kubelet
// v1.33.1 builds them (k8s.io/kubernetes@v1.33.1):
// - pkg/kubelet/kubelet_node_status.go initialNode (:302-420): labels kubernetes.io/hostname, kubernetes.io/os,
//   kubernetes.io/arch and the beta.kubernetes.io/os and /arch ones (still set in v1.33), spec.taints =
//   registerWithTaints, the annotation volumes.kubernetes.io/controller-managed-attach-detach=true; initialNode ends
//   with setNodeStatus, so the Node is created with its status.
// - pkg/kubelet/nodestatus/setters.go: MemoryPressure, DiskPressure, PIDPressure and Ready conditions (reasons and
//   messages as kubelet writes them), daemonEndpoints.kubeletEndpoint.Port (10250, Talos's KubeletPort).
// - the node lease (k8s.io/component-helpers@v0.33.1 apimachinery/lease/controller.go newLease :213-235):
//   kube-node-lease/<node>, holderIdentity <node>, leaseDurationSeconds 40 (kubelet's nodeLeaseDurationSeconds
//   default), renewTime a MicroTime, owned by the Node (pkg/kubelet/util/nodelease.go setNodeOwnerFunc).
import type { NodeShape } from '../node-shape.ts'

type Obj = Record<string, any>

/** Seconds precision, as metav1.Time marshals. */
export const metaTime = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, 'Z')
/** Microseconds, as metav1.MicroTime marshals (RFC3339Micro). */
export const microTime = (d = new Date()) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')

const READY: [string, string, string, string][] = [
  ['MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
  ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
  ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
  ['Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'],
]

/** The four conditions, keeping lastTransitionTime of those whose status did not change. */
export function conditions(prev: Obj[] | undefined, now = new Date()): Obj[] {
  return READY.map(([type, status, reason, message]) => {
    const old = prev?.find((c) => c.type === type)
    return {
      type,
      status,
      lastHeartbeatTime: metaTime(now),
      lastTransitionTime: old && old.status === status ? old.lastTransitionTime : metaTime(now),
      reason,
      message,
    }
  })
}

export function nodeStatus(s: NodeShape, ids: { bootID: string; machineID: string }, prev?: Obj[]): Obj {
  return {
    capacity: s.capacity,
    allocatable: s.allocatable,
    conditions: conditions(prev),
    addresses: s.addresses,
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: { ...s.nodeInfo, ...ids },
  }
}

export function initialNode(s: NodeShape, ids: { bootID: string; machineID: string }): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: s.name,
      labels: { ...s.kubeletLabels },
      annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
    },
    spec: s.registerTaints.length ? { taints: s.registerTaints.map((t) => ({ ...t })) } : {},
    status: nodeStatus(s, ids),
  }
}

export const LEASE_DURATION_S = 40
/** renewInterval = 0.25 × the lease duration (pkg/kubelet/kubelet.go:230-231, :1021). */
export const LEASE_RENEW_MS = LEASE_DURATION_S * 250

export function newLease(node: string, nodeUid: string | undefined, base?: Obj): Obj {
  const lease: Obj = base
    ? structuredClone(base)
    : {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: node, namespace: 'kube-node-lease' },
        spec: { holderIdentity: node, leaseDurationSeconds: LEASE_DURATION_S },
      }
  if (nodeUid && !lease.metadata.ownerReferences?.length)
    lease.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid }]
  lease.spec.renewTime = microTime()
  return lease
}
