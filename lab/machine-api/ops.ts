// What each lab machine answers, by operation: the lab's machine behaviour (state, sysroot, etcd, services) stated as
// Talos's API messages in protojson form, which lab/talos-api decodes strictly into Talos's own Go types.
import { existsSync, readFileSync } from 'node:fs'
import { isDown, loadNodes, paths, type LabNode } from '../state.ts'
import { allResourceDefs } from '../talosctl/resources.ts'

/** A refusal with the gRPC code Talos answers it with. */
export class ModelError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface ModelNode {
  name: string
  address: string
  role: string
  stage: string
  down: boolean
  slowMs: number
  talosVersion: string
  config: string
}

/** Every machine as talos-api needs it to decide whether and how it listens. */
export function modelNodes(): ModelNode[] {
  return loadNodes().map((n) => ({
    name: n.name,
    address: n.address,
    role: n.role,
    stage: n.stage,
    down: isDown(n),
    slowMs: n.faults.slowMs ?? 0,
    talosVersion: n.talosVersion,
    config: n.stage !== 'maintenance' && existsSync(paths.config(n.name)) ? readFileSync(paths.config(n.name), 'utf8') : '',
  }))
}

type Op = (n: LabNode, args: Record<string, unknown>) => Promise<unknown> | unknown

/** The resources of one type on one machine: [{namespace, id, spec}] (spec with Talos's YAML field names). */
function resources(n: LabNode, args: Record<string, unknown>): unknown {
  const def = allResourceDefs.find((d) => d.type === args.type)
  if (!def) return []
  if (n.stage === 'maintenance' && !def.maintenance) return []
  return def.list(n).map((r) => ({ namespace: def.namespace, id: r.id, spec: r.spec }))
}

export const NODE_OPS: Record<string, Op> = {
  resources,
}
