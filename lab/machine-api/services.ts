// machined's services of a lab machine: ServiceList from the machine's state (lab/machine-services.ts nodeServices),
// ServiceRestart as Talos allows it.
import { runKubelet } from '../kubelet.ts'
import type { LabNode } from '../state.ts'
import { nodeServices } from '../machine-services.ts'
import { ModelError } from './errors.ts'

const iso = (ms: number) => new Date(ms).toISOString()

export async function ServiceList(n: LabNode): Promise<unknown> {
  const services = await nodeServices(n)
  return {
    messages: [
      {
        services: services.map((s) => {
          const last = s.events[s.events.length - 1]
          return {
            id: s.id,
            state: s.state,
            events: { events: s.events.map((e) => ({ msg: e.msg, state: e.state, ts: iso(e.ts) })) },
            health: {
              unknown: s.health === '?',
              healthy: s.health === 'OK',
              last_message: s.lastMessage ?? '',
              ...(last ? { last_change: iso(last.ts) } : {}),
            },
          }
        }),
      },
    ],
  }
}

/**
 * Only a service that allows it is restarted through the API: of the lab's, kubelet
 * (internal/app/machined/pkg/system/services/kubelet.go APIRestartAllowed). Every other running service, etcd among
 * them, is refused (pkg/system/system.go APIRestart: `service %q doesn't support restart operation via API`); a
 * stopped one is started instead, which only extension services allow (APIStart: `... start operation via API`).
 */
export async function ServiceRestart(n: LabNode, req: { id?: string }): Promise<unknown> {
  const id = req.id ?? ''
  const svc = (await nodeServices(n)).find((s) => s.id === id)
  if (!svc) throw new ModelError('Unknown', `service "${id}" not defined`)
  if (id !== 'kubelet') {
    const running = svc.state === 'Running'
    throw new ModelError(
      'Unknown',
      `service "${id}" doesn't support ${running ? 'restart' : 'start'} operation via API`,
    )
  }
  await runKubelet(n.name)
  return { messages: [{ resp: `Service "${id}" restarted` }] }
}
