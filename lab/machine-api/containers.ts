// machined's Containers (`talosctl containers`): v1.10.3 internal/app/machined/internal/server/v1alpha1/
// v1alpha1_server.go:1325-1343 getContainerInspector, :1460-1505 Containers.
// - `-k` (namespace k8s.io, driver CRI): internal/pkg/containers/cri/cri.go:296-378 Pods lists the READY sandboxes,
//   then every container in its sandbox's pod. A sandbox (buildPod :189-251): Id = Name = PodId = "<podns>/<pod>",
//   InternalId the sandbox ID, Uid the pod's UID, Status SANDBOX_READY, Pid and the pause image from the verbose
//   info, the network namespace's name. A container (buildContainer :253-287): Id = "<podns>/<pod>:<name>:<first
//   12 of its ID>", Status CONTAINER_RUNNING, Image its image's first RepoTag (:338, :358). The lab's containers:
//   lab/containers.ts.
// - otherwise (namespace system, driver containerd): the system containerd's running tasks
//   (internal/pkg/containers/containerd/containerd.go:100-231 containerInfo, :334-406 Pods): apid on every machine,
//   trustd on control planes (runtime/v1alpha1/v1alpha1_sequencer_tasks.go:436-447), each with its own ID as Id,
//   Name and PodId, no image (they run from a rootfs: services/apid.go:212-225), Status RUNNING. Their PIDs are the
//   lab's own numbers, fixed per boot (no /proc/<pid> behind them).
import type { LabNode } from '../state.ts'
import { liveContainers } from '../containers.ts'
import { ModelError } from './errors.ts'

interface Req {
  namespace?: string
  driver?: string | number
}

export function Containers(n: LabNode, req: Req): unknown {
  const ns = req.namespace ?? ''
  const cri = req.driver === 'CRI' || req.driver === 1
  if (cri && ns !== 'k8s.io') throw new ModelError('Unknown', 'CRI inspector is supported only for K8s namespace')
  let containers: unknown[]
  if (cri) {
    containers = liveContainers(n).map((c) => {
      const pod = `${c.podNamespace}/${c.podName}`
      return c.name === ''
        ? {
            namespace: ns,
            id: pod,
            uid: c.podUid,
            internal_id: c.id,
            image: c.image,
            pid: c.pid,
            status: 'SANDBOX_READY',
            pod_id: pod,
            name: pod,
            network_namespace: c.netns,
          }
        : {
            namespace: ns,
            id: `${pod}:${c.name}:${c.id.slice(0, 12)}`,
            internal_id: c.id,
            image: c.image,
            pid: c.pid,
            status: 'CONTAINER_RUNNING',
            pod_id: pod,
            name: c.name,
          }
    })
  } else if (ns === 'system') {
    const services = n.role === 'controlplane' ? ['apid', 'trustd'] : ['apid']
    containers = services.map((id, i) => ({
      namespace: ns,
      id,
      internal_id: id,
      pid: 1100 + i * 7,
      status: 'RUNNING',
      pod_id: id,
      name: id,
    }))
  } else containers = []
  return { messages: [{ containers }] }
}
