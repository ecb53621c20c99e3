// What every lab talosctl command shares: the talosconfig, node addressing, the per-node "connection" rules
// (faults, stages, maintenance TLS, CA check), and talosctl's error shapes (gRPC status text, NodeError,
// hashicorp multierror).
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { findNodeByAddress, isDown, labExists, paths, type LabNode } from '../state.ts'
import * as io from './io.ts'

export const CLIENT_VERSION = 'v1.10.3'
export const APID_PORT = 50000

export interface GlobalArgs {
  talosconfig?: string
  context?: string
  nodes: string[]
  endpoints: string[]
  cluster?: string
}

export interface TalosContext {
  endpoints?: string[]
  nodes?: string[]
  ca?: string
  crt?: string
  key?: string
}

export interface TalosConfig {
  context?: string
  contexts?: Record<string, TalosContext>
}

export function talosconfigPath(g: GlobalArgs): { path: string; explicit: boolean } {
  if (g.talosconfig) return { path: g.talosconfig, explicit: true }
  const fromEnv = io.env('TALOSCONFIG')
  if (fromEnv) return { path: fromEnv, explicit: true }
  return { path: join(io.env('HOME') ?? homedir(), '.talos', 'config'), explicit: false }
}

export function loadTalosconfig(g: GlobalArgs): TalosConfig {
  const { path, explicit } = talosconfigPath(g)
  if (!existsSync(path)) {
    if (explicit) throw new Error(`failed to open config file "${path}": open ${path}: no such file or directory`)
    return {}
  }
  try {
    return (parseYaml(readFileSync(path, 'utf8')) ?? {}) as TalosConfig
  } catch (e) {
    throw new Error(`failed to open config file "${path}": ${(e as Error).message}`)
  }
}

export function currentContext(g: GlobalArgs, cfg: TalosConfig): TalosContext | undefined {
  const name = g.context || cfg.context
  if (!name) return undefined
  return cfg.contexts?.[name]
}

// ---- gRPC-shaped errors

export const rpcError = (code: string, desc: string) => `rpc error: code = ${code} desc = ${desc}`
export const dialError = (addr: string, why: string) =>
  rpcError(
    'Unavailable',
    `connection error: desc = "transport: Error while dialing: dial tcp ${addr}:${APID_PORT}: ${why}"`,
  )
export const refused = (addr: string) => dialError(addr, 'connect: connection refused')
export const noRoute = (addr: string) => dialError(addr, 'connect: no route to host')
export const unknownAuthority = () =>
  rpcError(
    'Unavailable',
    'connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"',
  )
export const certificateRequired = () =>
  rpcError(
    'Unavailable',
    'connection error: desc = "error reading server preface: remote error: tls: certificate required"',
  )

/** hashicorp/go-multierror's default format. */
export function multiError(errs: string[]): string {
  if (errs.length === 1) return `1 error occurred:\n\t* ${errs[0]}\n\n`
  return `${errs.length} errors occurred:\n\t${errs.map((e) => `* ${e}`).join('\n\t')}\n\n`
}

export class RpcFailure extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function lookup(addr: string): LabNode | undefined {
  if (!labExists()) return undefined
  try {
    return findNodeByAddress(addr)
  } catch {
    return undefined
  }
}

function b64pem(s: string | undefined): string {
  if (!s) return ''
  const t = s.trim()
  return t.startsWith('-----') ? t : Buffer.from(t, 'base64').toString('utf8').trim()
}

/** The CA the node's apid serves with (machine.ca.crt of its config), PEM. */
export function nodeCaPem(n: LabNode): string {
  const f = paths.config(n.name)
  if (!existsSync(f)) return ''
  const cfg = parseYaml(readFileSync(f, 'utf8').split(/^---\s*$/m)[0]) as { machine?: { ca?: { crt?: string } } }
  return b64pem(cfg?.machine?.ca?.crt)
}

/**
 * Reach the node's API the way talosctl does (secure: with the talosconfig; insecure: maintenance API).
 * Resolves to the node, or throws RpcFailure with the error real talosctl would see.
 */
export async function dial(
  addr: string,
  mode: { insecure: true } | { insecure: false; caPem: string },
): Promise<LabNode> {
  const n = lookup(addr)
  if (!n) throw new RpcFailure(noRoute(addr))
  if (n.faults.slowMs) await sleep(n.faults.slowMs)
  if (isDown(n) || ['off', 'shutting down', 'rebooting'].includes(n.stage)) throw new RpcFailure(refused(n.address))
  if (mode.insecure) {
    if (n.stage !== 'maintenance') throw new RpcFailure(certificateRequired())
    return n
  }
  if (n.stage === 'maintenance') throw new RpcFailure(unknownAuthority())
  if (nodeCaPem(n) !== mode.caPem.trim()) throw new RpcFailure(unknownAuthority())
  return n
}

export interface Session {
  global: GlobalArgs
  insecure: boolean
  /** Node addresses as given (-n), or the talosconfig context's nodes. */
  nodes: string[]
  /** Set when -n/--nodes or the context addressed nodes through apid (NODE column, per-node errors). */
  proxied: boolean
  caPem: string
  ctx?: TalosContext
}

/** talosctl's WithClient: talosconfig, endpoint connection, nodes. Throws Error for top-level failures. */
export async function withClient(g: GlobalArgs, opts: { needNodes?: boolean } = {}): Promise<Session> {
  const cfg = loadTalosconfig(g)
  const ctxName = g.context || cfg.context
  const ctx = ctxName ? cfg.contexts?.[ctxName] : undefined
  if (g.context && !ctx) throw new Error(`error constructing client: context "${g.context}" not found`)
  const endpoints = g.endpoints.length ? g.endpoints : (ctx?.endpoints ?? [])
  if (!endpoints.length) throw new Error('error constructing client: failed to determine endpoints')
  let nodes = g.nodes
  if (!nodes.length) {
    if (!ctx) throw new Error('failed to resolve config context')
    nodes = ctx.nodes ?? []
  }
  if (opts.needNodes !== false && !nodes.length)
    throw new Error(
      'nodes are not set for the command: please use `--nodes` flag or configuration file to set the nodes to run the command against',
    )
  const caPem = b64pem(ctx?.ca)
  // the client talks to the first endpoint that answers; if none does, the call fails as a whole
  let firstErr: string | undefined
  let ok = false
  for (const ep of endpoints) {
    try {
      await dial(stripPort(ep), { insecure: false, caPem })
      ok = true
      break
    } catch (e) {
      firstErr ??= (e as Error).message
    }
  }
  if (!ok) throw new RpcFailure(firstErr!)
  return { global: g, insecure: false, nodes, proxied: true, caPem, ctx }
}

/** talosctl's WithClientMaintenance: the first node, no client certificate, no NODE metadata. */
export async function withMaintenanceClient(g: GlobalArgs): Promise<Session & { node: LabNode }> {
  if (!g.nodes.length) throw new Error('error constructing client: failed to determine endpoints')
  const node = await dial(stripPort(g.nodes[0]), { insecure: true })
  return { global: g, insecure: true, nodes: [g.nodes[0]], proxied: false, caPem: '', node }
}

export const stripPort = (ep: string) => ep.replace(/^https?:\/\//, '').replace(/:\d+$/, '')

export interface NodeResult<T> {
  addr: string
  node?: LabNode
  value?: T
  error?: string
}

/** Run fn against every addressed node in parallel (apid one2many): failures become per-node errors. */
export async function perNode<T>(s: Session, fn: (n: LabNode, addr: string) => Promise<T>): Promise<NodeResult<T>[]> {
  return Promise.all(
    s.nodes.map(async (addr): Promise<NodeResult<T>> => {
      let node: LabNode
      try {
        node = s.insecure
          ? await dial(stripPort(addr), { insecure: true })
          : await dial(stripPort(addr), { insecure: false, caPem: s.caPem })
      } catch (e) {
        return { addr, error: (e as Error).message }
      }
      try {
        return { addr, node, value: await fn(node, addr) }
      } catch (e) {
        const msg = (e as Error).message
        return { addr, node, error: msg.startsWith('rpc error:') ? msg : rpcError('Unknown', msg) }
      }
    }),
  )
}

/** FilterMessages: the error for failed nodes (NodeError "addr: err"), or undefined. */
export function nodeErrors<T>(results: NodeResult<T>[]): string | undefined {
  const errs = results.filter((r) => r.error !== undefined).map((r) => `${r.addr}: ${r.error}`)
  return errs.length ? multiError(errs) : undefined
}

/** A command error carrying its own exit code (talosctl exits 1 for every error). */
export class CommandError extends Error {}

export function warn(msg: string): void {
  io.err(`WARNING: ${msg.endsWith('\n') ? msg : msg + '\n'}`)
}

export function nodeLabel(s: Session, r: NodeResult<unknown>): string {
  return s.proxied ? r.addr : ''
}
