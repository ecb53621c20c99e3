// The few inventory fields the lab needs, read from inventory/*.yaml. The lab only ever brings up
// inventories with `cluster.target: lab` whose addresses are all on loopback: it never touches a
// production inventory (the runbooks have their own full inventory reader in lib/).
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { unreadable } from '../config/inventory.ts'
import type { Role } from './state.ts'
import { HARDWARE_PROFILES, hardwareProfile } from './hardware.ts'
import { checkInventory, formatIssue } from '../config/inventory.ts'

export interface LabInventoryNode {
  name: string
  address: string
  role: Role
  profile?: string
  installDisk: string
  /** Hardware profile name for lab/hardware.ts (`lab.hardware`); defaults to the role. */
  hardware: string
  rescue: { host: string; port: number; user: string }
  /** The machine's BMC (ipmi_sim), when the inventory gives it one. */
  bmc?: { address: string; port: number; username: string }
}

export interface LabInventory {
  file: string
  clusterName: string
  endpoint: string
  target: string
  talosVersion: string
  /** Where the lab serves its Image Factory (cluster.imageFactory); absent: the inventory names none. */
  imageFactory?: { host: string; port: number }
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
    if (typeof v !== 'string' || v === '')
      throw new InventoryError(`${file}: ${where}.${key} must be a non-empty string`)
    return v
  }
  const target = str(cluster, 'target', 'cluster')
  if (target !== 'lab') {
    throw new InventoryError(
      `${file}: cluster.target is ${JSON.stringify(target)}: the lab only brings up inventories with target: lab (it never touches production machines)`,
    )
  }
  const endpoint = str(cluster, 'endpoint', 'cluster')
  const endpointHost = /^https:\/\/([^:/]+)(:\d+)?\/?$/.exec(endpoint)?.[1]
  if (!endpointHost || !isLoopbackV4(endpointHost))
    throw new InventoryError(`${file}: cluster.endpoint ${endpoint} must be https://<127.x.y.z>:<port> in a lab`)

  const defaults = isObj(doc.defaults) ? doc.defaults : {}
  const defRescue = isObj(defaults.rescue) ? defaults.rescue : {}
  const defPort = Number(defRescue.port ?? 2222)
  const defUser = typeof defRescue.user === 'string' ? defRescue.user : 'root'

  if (!Array.isArray(doc.nodes) || doc.nodes.length === 0)
    throw new InventoryError(`${file}: nodes: must be a non-empty list`)
  const nodes = doc.nodes.map((raw: unknown, i: number): LabInventoryNode => {
    if (!isObj(raw)) throw new InventoryError(`${file}: nodes[${i}] is not a mapping`)
    const where = `nodes[${i}]`
    const name = str(raw, 'name', where)
    if (!NAME_RE.test(name))
      throw new InventoryError(
        `${file}: ${where}.name ${JSON.stringify(name)} must be lowercase letters, digits and dashes`,
      )
    const at = `${where} (${name})`
    const address = str(raw, 'address', at)
    if (!isLoopbackV4(address))
      throw new InventoryError(
        `${file}: ${at}.address ${address} is not a 127.x.y.z loopback address: the lab only uses loopback`,
      )
    const role = str(raw, 'role', at)
    if (role !== 'controlplane' && role !== 'worker')
      throw new InventoryError(`${file}: ${at}.role must be controlplane or worker (got ${role})`)
    const rescue = isObj(raw.rescue) ? raw.rescue : {}
    const host = typeof rescue.host === 'string' ? rescue.host : address
    if (!isLoopbackV4(host)) throw new InventoryError(`${file}: ${at}.rescue.host ${host} is not a loopback address`)
    const port = Number(rescue.port ?? defPort)
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new InventoryError(`${file}: ${at}.rescue.port ${String(rescue.port)} is not a TCP port`)
    const lab = isObj(raw.lab) ? raw.lab : {}
    const hardware = typeof lab.hardware === 'string' ? lab.hardware : role
    if (!HARDWARE_PROFILES.includes(hardware))
      throw new InventoryError(
        `${file}: ${at}.lab.hardware ${JSON.stringify(hardware)} is not a lab hardware profile; valid: ${HARDWARE_PROFILES.join(', ')}`,
      )
    let bmc: LabInventoryNode['bmc']
    if (isObj(raw.bmc)) {
      const address = str(raw.bmc, 'address', `${at}.bmc`)
      if (!isLoopbackV4(address))
        throw new InventoryError(
          `${file}: ${at}.bmc.address ${address} is not a loopback address: the lab's BMCs listen on loopback only`,
        )
      const port = Number(raw.bmc.port ?? 623)
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new InventoryError(`${file}: ${at}.bmc.port ${String(raw.bmc.port)} is not a UDP port`)
      bmc = { address, port, username: str(raw.bmc, 'username', `${at}.bmc`) }
    }
    return {
      ...(bmc ? { bmc } : {}),
      name,
      address,
      role,
      profile: typeof raw.profile === 'string' ? raw.profile : undefined,
      installDisk: str(raw, 'installDisk', at),
      hardware,
      rescue: { host, port, user: typeof rescue.user === 'string' ? rescue.user : defUser },
    }
  })
  const seen = new Map<string, string>()
  for (const n of nodes) {
    for (const [kind, key] of [
      ['name', n.name],
      ['address', n.address],
      ['rescue endpoint', `${n.rescue.host}:${n.rescue.port}`],
    ] as const) {
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
    ...labImageFactory(cluster.imageFactory, file),
    nodes,
  }
}

/** A lab's Image Factory is served by `lab up` on loopback, over plain HTTP. */
function labImageFactory(v: unknown, file: string): Pick<LabInventory, 'imageFactory'> {
  if (v === undefined) return {}
  const m = typeof v === 'string' ? /^http:\/\/([0-9.]+):(\d+)\/?$/.exec(v) : null
  const port = Number(m?.[2])
  if (!m || !isLoopbackV4(m[1]!) || port < 1 || port > 65535)
    throw new InventoryError(
      `${file}: cluster.imageFactory ${String(v)} must be http://<127.x.y.z>:<port> in a lab (the lab serves its Image Factory there)`,
    )
  return { imageFactory: { host: m[1]!, port } }
}

export function readLabInventory(file: string): LabInventory {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new InventoryError(`${file}: ${unreadable(e)}`)
  }
  const inv = parseLabInventory(text, file)
  checkLabInventoryHardware(text, file, inv)
  return inv
}

/**
 * What only the lab knows: whether the validator's huge pages and reservations fit its simulated machine
 * (`lab.hardware`), checked with the runbooks' own rules (lib/inventory.ts) given the machines' facts. Throws
 * InventoryError naming file:line:column and field for each problem. An inventory the runbooks reject anyway is
 * left to them (the lab brings up minimal inventories too).
 */
export function checkLabInventoryHardware(text: string, file: string, inv: LabInventory): void {
  if (checkInventory(text, file).errors.length) return
  const profileOf = new Map(inv.nodes.map((n) => [n.name, n.hardware]))
  const lookup = (node: string) => {
    const profile = profileOf.get(node)
    return profile === undefined ? undefined : hardwareProfile(profile)
  }
  const r = checkInventory(text, file, { hardware: lookup })
  if (r.errors.length) throw new InventoryError(r.errors.map(formatIssue).join('\n'))
}
