// Which labels a node may set on its own Node object. On a worker, Talos applies machine.nodeLabels and
// machine.nodeTaints with the kubelet's own credentials (internal/app/machined/pkg/controllers/k8s/node_apply.go
// at v1.10.3: getK8sClient uses the kubelet kubeconfig unless the machine is a control plane), so the API server's
// NodeRestriction admission plugin judges every update, and one forbidden change refuses the whole update:
//  - kubernetes plugin/pkg/admission/noderestriction/admission.go admitNode: a node may never change its taints on
//    update ("is not allowed to modify taints"), nor add, change or remove labels in the kubernetes.io / k8s.io
//    namespaces (and subdomains) unless kubelet may set them, and never node-restriction.kubernetes.io labels;
//  - kubernetes staging/src/k8s.io/kubelet/pkg/apis/well_known_labels.go: what kubelet may set.
// Labels outside those namespaces (solana.org/role) are always allowed.

/** KubeletLabels() in well_known_labels.go. */
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
])
/** KubeletLabelNamespaces() in well_known_labels.go. */
const KUBELET_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io']

const namespaceOf = (key: string) => (key.includes('/') ? key.slice(0, key.indexOf('/')) : '')
const inNamespace = (ns: string, parent: string) => ns === parent || ns.endsWith(`.${parent}`)

/** Why NodeRestriction refuses this label key from a node, or undefined when the node may set it. */
function labelForbiddenToNode(key: string): string | undefined {
  const ns = namespaceOf(key)
  if (inNamespace(ns, 'node-restriction.kubernetes.io'))
    return `${ns} labels are reserved for administrators (NodeRestriction)`
  const k8s = inNamespace(ns, 'kubernetes.io') || inNamespace(ns, 'k8s.io')
  if (k8s && !KUBELET_LABELS.has(key) && !KUBELET_NAMESPACES.some((a) => inNamespace(ns, a)))
    return `a node may not set ${ns} labels on itself (NodeRestriction allows only kubelet's labels and the node.kubernetes.io / kubelet.kubernetes.io namespaces)`
  return undefined
}

/** Split labels into those Talos can apply with the node's credentials and those only an administrator can. */
export function splitNodeLabels(labels: Record<string, string> = {}): {
  self: Record<string, string>
  admin: Record<string, string>
} {
  const self: Record<string, string> = {}
  const admin: Record<string, string> = {}
  for (const [k, v] of Object.entries(labels)) (labelForbiddenToNode(k) ? admin : self)[k] = v
  return { self, admin }
}
