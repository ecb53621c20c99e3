// The shape of a COSI resource the lab serves and of its definition (type, namespace, aliases, print columns).
import type { LabNode } from '../state.ts'

export interface Resource {
  id: string
  version: number
  owner: string
  spec: Record<string, unknown> | string
}

export interface ResourceDef {
  type: string
  displayType: string
  namespace: string
  aliases: string[]
  columns: [string, (spec: any) => unknown][]
  /** Available in maintenance mode (unconfigured node). */
  maintenance: boolean
  list(n: LabNode): Resource[] | Promise<Resource[]>
}
