// A lab machine's service logs, as machined's logging manager holds them for `talosctl logs <service>` (lab/talos-api
// logs.go does tail and follow): etcd's is the real etcd's own output, kubelet's the lines the lab's kubelet writes
// as it starts (lab/kubelet.ts kubeletStartLine). machined keeps logs in memory, so a real machine's start with its
// boot; the lab's files keep the lines of earlier boots too.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { paths, type LabNode } from '../state.ts'
import { nodeServices } from '../machine-services.ts'
import { ModelError } from './errors.ts'
import { ethernetSpecErrors } from './resources-network.ts'

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
  // machined's controllers log here; the lab writes the one failure it models (an EthernetConfig Talos cannot apply)
  if (id === 'controller-runtime') return { lines: ethernetSpecErrors(n) }
  if (id === 'kubelet') return { lines: fileLines(join(paths.nodeDir(n.name), 'kubelet.log')) }
  if (id === 'etcd' && n.role === 'controlplane') return { lines: fileLines(join(paths.nodeDir(n.name), 'etcd.log')) }
  if ((await nodeServices(n)).some((s) => s.id === id && id !== 'etcd')) return { lines: [] }
  throw new ModelError('Unknown', `log ${JSON.stringify(id)} was not registered`)
}
