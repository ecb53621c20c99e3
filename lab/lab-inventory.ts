// The few inventory fields the lab needs, read from inventory/*.yaml. The lab only ever brings up
// inventories with `cluster.target: lab` whose addresses are all on loopback: it never touches a
// production inventory (the runbooks have their own full inventory reader in lib/).
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { unreadable } from '../config/inventory.ts'
import type { Role } from './state.ts'

export interface LabInventoryNode {
  name: string
  address: string
  role: Role
  profile?: string
  installDisk: string
  /** Hardware profile name for lab/hardware.ts (`lab.hardware`); defaults to the role. */
  hardware: string
  rescue: { host: string; port: number; user: string }
}

export interface LabInventory {
  file: string
  clusterName: string
  endpoint: string
  target: string
  talosVersion: string
  nodes: LabInventoryNode[]
}

export class InventoryError extends Error {}

const NAME_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/
const LOOPBACK_RE = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

export function isLoopbackV4(addr: string): boolean {
  const m = LOOPBACK_RE.exec(addr)
  return !!m && m.slice(1).every((o) => Number(o) <= 255)
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Parse and check an inventory's lab-relevant fields. `file` only names the source in errors. */
export function parseLabInventory(text: string, file = 'inventory'): LabInventory {
  const doc = parse(text) as unknown
  if (!isObj(doc)) throw new InventoryError(`${file}: not a YAML mapping`)
  const cluster = doc.cluster
  if (!isObj(cluster)) throw new InventoryError(`${file}: missing cluster:`)
  const str = (o: Obj, key: string, where: string, def?: string): string => {
    const v = o[key] ?? def
    if (typeof v !== 'string' || v === '') throw new InventoryError(`${file}: ${where}.${key} must be a non-empty string`)
    return v
  }
  const target = str(cluster, 'target', 'cluster')
  if (target !== 'lab') {
    throw new InventoryError(`${file}: cluster.target is ${JSON.stringify(target)}: the lab only brings up inventories with target: lab (it never touches production machines)`)
  }
  const endpoint = str(cluster, 'endpoint', 'cluster')
  const endpointHost = /^https:\/\/([^:/]+)(:\d+)?\/?$/.exec(endpoint)?.[1]
  if (!endpointHost || !isLoopbackV4(endpointHost)) throw new InventoryError(`${file}: cluster.endpoint ${endpoint} must be https://<127.x.y.z>:<port> in a lab`)

  const defaults = isObj(doc.defaults) ? doc.defaults : {}
  const defRescue = isObj(defaults.rescue) ? defaults.rescue : {}
  const defPort = Number(defRescue.port ?? 2222)
  const defUser = typeof defRescue.user === 'string' ? defRescue.user : 'root'

  if (!Array.isArray(doc.nodes) || doc.nodes.length === 0) throw new InventoryError(`${file}: nodes: must be a non-empty list`)
  const nodes = doc.nodes.map((raw: unknown, i: number): LabInventoryNode => {
    if (!isObj(raw)) throw new InventoryError(`${file}: nodes[${i}] is not a mapping`)
    const where = `nodes[${i}]`
    const name = str(raw, 'name', where)
    if (!NAME_RE.test(name)) throw new InventoryError(`${file}: ${where}.name ${JSON.stringify(name)} must be lowercase letters, digits and dashes`)
    const at = `${where} (${name})`
    const address = str(raw, 'address', at)
    if (!isLoopbackV4(address)) throw new InventoryError(`${file}: ${at}.address ${address} is not a 127.x.y.z loopback address: the lab only uses loopback`)
    const role = str(raw, 'role', at)
    if (role !== 'controlplane' && role !== 'worker') throw new InventoryError(`${file}: ${at}.role must be controlplane or worker (got ${role})`)
    const rescue = isObj(raw.rescue) ? raw.rescue : {}
    const host = typeof rescue.host === 'string' ? rescue.host : address
    if (!isLoopbackV4(host)) throw new InventoryError(`${file}: ${at}.rescue.host ${host} is not a loopback address`)
    const port = Number(rescue.port ?? defPort)
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InventoryError(`${file}: ${at}.rescue.port ${String(rescue.port)} is not a TCP port`)
    const lab = isObj(raw.lab) ? raw.lab : {}
    return {
      name,
      address,
      role,
      profile: typeof raw.profile === 'string' ? raw.profile : undefined,
      installDisk: str(raw, 'installDisk', at),
      hardware: typeof lab.hardware === 'string' ? lab.hardware : role,
      rescue: { host, port, user: typeof rescue.user === 'string' ? rescue.user : defUser },
    }
  })
  const seen = new Map<string, string>()
  for (const n of nodes) {
    for (const [kind, key] of [['name', n.name], ['address', n.address], ['rescue endpoint', `${n.rescue.host}:${n.rescue.port}`]] as const) {
      const k = `${kind}=${key}`
      if (seen.has(k)) throw new InventoryError(`${file}: nodes ${seen.get(k)} and ${n.name} share the ${kind} ${key}`)
      seen.set(k, n.name)
    }
  }
  return {
    file,
    clusterName: str(cluster, 'name', 'cluster'),
    endpoint,
    target,
    talosVersion: str(cluster, 'talosVersion', 'cluster', 'v1.10.3'),
    nodes,
  }
}

export function readLabInventory(file: string): LabInventory {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new InventoryError(`${file}: ${unreadable(e)}`)
  }
  return parseLabInventory(text, file)
}
