// The control plane's static pods and the mirror pods kubelet makes of them (issue #23).
// - Talos v1.10.3 writes kube-apiserver, kube-controller-manager and kube-scheduler as static pods for kubelet
//   (internal/app/machined/pkg/controllers/k8s/control_plane_static_pod.go manageAPIServer :444-560,
//   manageControllerManager :625-740, manageScheduler :780-890): labels tier/k8s-app/component/app.kubernetes.io/*,
//   priority 2000000000 of system-cluster-critical, host network, requests from cluster.<component>.resources over
//   the defaults 200m/512Mi, 50m/256Mi, 10m/64Mi (resources :283-329), limits only from the config, a GOMEMLIMIT of
//   95 % of a memory limit (goGCEnvFromResources), every capability dropped (the API server keeps
//   NET_BIND_SERVICE), RuntimeDefault seccomp, run as 65534, 65535 and 65536 (machinery constants.go :339-355).
//   The command is the binary and the flags `talos-api render-control-plane` renders (lab/control-plane.ts), with the
//   lab's directories read as Talos's.
// - kubelet v1.33.1 reads a static pod from its file source (pkg/kubelet/config/common.go applyDefaults :57-98): the
//   name gets "-<node name>", the namespace defaults, spec.nodeName is the node, a NoExecute "Exists" toleration is
//   added, and config.hash is the pod's hash. It then creates the mirror pod with the node's credential
//   (pkg/kubelet/pod/mirror_client.go CreateMirrorPod :69-107): config.mirror = the hash, owned by the Node (the
//   NodeRestriction admission plugin refuses a node's mirror pod without that owner, or one using secrets,
//   config maps or a service account). The hash here is an MD5 of the pod's JSON, not Go's DeepHashObject: only its
//   stability matters.
import { createHash } from 'node:crypto'
import { parseQuantity } from '../../lib/kube/quantity.ts'
import type { RenderedControlPlane } from '../control-plane.ts'

type Obj = Record<string, any>

const COMPONENTS = {
  'kube-apiserver': { cpu: '200m', memory: '512Mi', user: 65534, keep: ['NET_BIND_SERVICE'] },
  'kube-controller-manager': { cpu: '50m', memory: '256Mi', user: 65535, keep: [] },
  'kube-scheduler': { cpu: '10m', memory: '64Mi', user: 65536, keep: [] },
} as const
type Component = keyof typeof COMPONENTS

/** The machine config's field for each component (cluster.apiServer, …). */
const CONFIG_FIELD: Record<Component, string> = {
  'kube-apiserver': 'apiServer',
  'kube-controller-manager': 'controllerManager',
  'kube-scheduler': 'scheduler',
}

/** Talos's directories (machinery constants.go :307-334) for the lab's render directories. */
function talosPaths(dir: string): [string, string][] {
  return [
    [`${dir}/secrets`, '/system/secrets/kubernetes/kube-apiserver'],
    [`${dir}/config`, '/system/config/kubernetes/kube-apiserver'],
    [`${dir}/audit`, '/var/log/audit/kube'],
    [`${dir}/controller-manager`, '/system/secrets/kubernetes/kube-controller-manager'],
    [`${dir}/scheduler`, '/system/secrets/kubernetes/kube-scheduler'],
  ]
}

function staticPod(comp: Component, args: string[], image: string, dir: string, cfg: Obj): Obj {
  const d = COMPONENTS[comp]
  const field: Obj = cfg.cluster?.[CONFIG_FIELD[comp]] ?? {}
  const requests = {
    cpu: field.resources?.requests?.cpu ?? d.cpu,
    memory: field.resources?.requests?.memory ?? d.memory,
  }
  const limits: Obj = {}
  if (field.resources?.limits?.cpu) limits.cpu = field.resources.limits.cpu
  if (field.resources?.limits?.memory) limits.memory = field.resources.limits.memory
  const version = image.split(':').pop()!
  const paths = talosPaths(dir)
  const command = [`/usr/local/bin/${comp}`, ...args].map((a) =>
    paths.reduce((s, [lab, talos]) => s.split(lab).join(talos), a),
  )
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: comp,
      namespace: 'kube-system',
      labels: {
        tier: 'control-plane',
        'k8s-app': comp,
        component: comp,
        'app.kubernetes.io/name': comp,
        'app.kubernetes.io/version': version.replace(/^v/, ''),
        'app.kubernetes.io/component': 'control-plane',
        'app.kubernetes.io/managed-by': 'Talos',
      },
    },
    spec: {
      priority: 2000000000,
      priorityClassName: 'system-cluster-critical',
      containers: [
        {
          name: comp,
          image,
          command,
          env: [
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            ...(limits.memory
              ? [{ name: 'GOMEMLIMIT', value: String(Math.floor((parseQuantity(limits.memory) * 95) / 100)) }]
              : []),
          ],
          resources: { requests, ...(Object.keys(limits).length ? { limits } : {}) },
          securityContext: {
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'], ...(d.keep.length ? { add: [...d.keep] } : {}) },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        },
      ],
      hostNetwork: true,
      securityContext: { runAsNonRoot: true, runAsUser: d.user, runAsGroup: d.user },
    },
  }
}

/** The static pods Talos writes for a control plane, from what `render-control-plane` rendered for it. */
export function controlPlaneStaticPods(cp: RenderedControlPlane, cfg: Obj): Obj[] {
  const pods = [staticPod('kube-apiserver', cp.args, cp.image, cp.dir, cfg)]
  if (cp.controllerManager)
    pods.push(staticPod('kube-controller-manager', cp.controllerManager.args, cp.controllerManager.image, cp.dir, cfg))
  if (cp.scheduler) pods.push(staticPod('kube-scheduler', cp.scheduler.args, cp.scheduler.image, cp.dir, cfg))
  return pods
}

/** The mirror pod kubelet creates for a static pod read from its manifest directory on `node` (owned by its Node). */
export function mirrorPod(manifest: Obj, node: string, nodeUid: string, seen = new Date()): Obj {
  const pod = structuredClone(manifest)
  const hash = createHash('md5')
    .update(JSON.stringify(manifest))
    .update(`host:${node}file:/etc/kubernetes/manifests`)
    .digest('hex')
  pod.metadata.name = `${manifest.metadata.name}-${node.toLowerCase()}`
  pod.metadata.namespace ??= 'default'
  pod.metadata.annotations = {
    ...(manifest.metadata.annotations ?? {}),
    'kubernetes.io/config.hash': hash,
    'kubernetes.io/config.mirror': hash,
    'kubernetes.io/config.seen': seen.toISOString().replace('Z', '000000Z'),
    'kubernetes.io/config.source': 'file',
  }
  pod.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid, controller: true }]
  pod.spec.nodeName = node
  pod.spec.tolerations = [...(pod.spec.tolerations ?? []), { operator: 'Exists', effect: 'NoExecute' }]
  return pod
}
