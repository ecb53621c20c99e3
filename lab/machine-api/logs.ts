// A lab machine's service logs, as machined's logging manager holds them for `talosctl logs <service>` (lab/talos-api
// logs.go does tail and follow). etcd's is the real etcd's own output; kubelet's is what the lab's kubelet did at its
// last start, in the JSON format Talos runs kubelet with (v1.10.3
// internal/app/machined/pkg/controllers/k8s/kubelet_spec.go:383: Logging.Format "json").
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { paths, type LabNode } from '../state.ts'
import { nodeServices } from '../machine-services.ts'
import { ModelError } from './errors.ts'

/** k8s.io/component-base's JSON logger: ts in milliseconds since the epoch, caller, msg, then the key/values. */
function kubeletLine(ts: number, caller: string, msg: string, kv: Record<string, string> = {}): string {
  return JSON.stringify({ ts, caller, msg, v: 0, ...kv })
}

/**
 * kubelet: it starts its sync loop, or exits at start with the error the lab's kubelet found (lab/kubelet.ts), which
 * Talos restarts forever.
 */
function kubeletLog(n: LabNode): string[] {
  const ts = Date.parse(n.bootedAt ?? new Date().toISOString())
  if (n.kubeletError)
    return [kubeletLine(ts, 'kubelet/kubelet.go:1678', 'Failed to start ContainerManager', { err: n.kubeletError })]
  return [kubeletLine(ts, 'kubelet/kubelet.go:2468', 'Starting kubelet main sync loop')]
}

function fileLines(file: string): string[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter(Boolean)
}

/**
 * ServiceLog: the lines of one service's log. A log nobody wrote to is not there: machined answers
 * `log "<id>" was not registered` (runtime/logging/circular.go Reader).
 */
export async function ServiceLog(n: LabNode, req: { id?: string; namespace?: string }): Promise<unknown> {
  const id = req.id ?? ''
  if (req.namespace === 'k8s.io') throw new ModelError('Unimplemented', 'the lab keeps no Kubernetes container logs')
  if (id === 'kubelet') return { lines: kubeletLog(n) }
  if (id === 'etcd' && n.role === 'controlplane') return { lines: fileLines(join(paths.nodeDir(n.name), 'etcd.log')) }
  if ((await nodeServices(n)).some((s) => s.id === id && id !== 'etcd')) return { lines: [] }
  throw new ModelError('Unknown', `log ${JSON.stringify(id)} was not registered`)
}
