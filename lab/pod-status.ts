// A pod's status as its kubelet reports it once the containers run: phase Running, the five pod conditions, host and pod
// IPs, one running containerStatus per container, as lab/kubelet-agent/ (the kubelet that joins the real control plane)
// posts it.
import { randomBytes } from 'node:crypto'
import { nowTs } from './quantity.ts'

type Obj = Record<string, any>

/**
 * status of a pod whose containers a kubelet started; readiness follows the node. `ids`: the containers' IDs as the
 * node runs them; a container started again (after a reboot) has a new ID and one more restart.
 */
export function runningStatus(
  p: Obj,
  hostIP: string,
  podIP: string,
  ready: boolean,
  ids: Record<string, string> = {},
): Obj {
  const prev: Obj = p.status ?? {}
  const ts = nowTs()
  const started = prev.startTime ?? ts
  const cond = (type: string, status: boolean) => {
    const s = status ? 'True' : 'False'
    const old = (prev.conditions ?? []).find((c: Obj) => c.type === type)
    return old && old.status === s ? old : { type, status: s, lastProbeTime: null, lastTransitionTime: ts }
  }
  return {
    ...prev,
    phase: 'Running',
    conditions: [
      cond('PodReadyToStartContainers', true),
      cond('Initialized', true),
      cond('Ready', ready),
      cond('ContainersReady', ready),
      cond('PodScheduled', true),
    ],
    hostIP,
    hostIPs: [{ ip: hostIP }],
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: started,
    containerStatuses: (p.spec.containers ?? []).map((c: Obj) => {
      const found = (prev.containerStatuses ?? []).find((x: Obj) => x.name === c.name)
      const restarted = !!found && !!ids[c.name] && found.containerID !== ids[c.name]
      const old = restarted
        ? { ...found, state: undefined, containerID: ids[c.name], restartCount: (found.restartCount ?? 0) + 1 }
        : found
      return {
        name: c.name,
        state: old?.state ?? { running: { startedAt: ts } },
        lastState: {},
        ready,
        restartCount: old?.restartCount ?? 0,
        image: c.image,
        imageID: old?.imageID ?? `${c.image.split(':')[0]}@sha256:${randomBytes(32).toString('hex')}`,
        containerID: old?.containerID ?? ids[c.name] ?? `containerd://${randomBytes(32).toString('hex')}`,
        started: true,
      }
    }),
    qosClass: prev.qosClass,
  }
}
