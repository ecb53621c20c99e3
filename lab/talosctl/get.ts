// talosctl get <type> [<id>] [-o table|json|yaml] [--namespace] [--insecure]
import { stringify } from 'yaml'
import type { RunContext } from './context.ts'
import {
  RpcFailure,
  dial,
  multiError,
  rpcError,
  stripPort,
  withClient,
  withMaintenanceClient,
  type Session,
} from './common.ts'
import { resolveResource, type Resource, type ResourceDef } from './resources.ts'
import { tabwrite } from './tabwriter.ts'
import type { LabNode } from '../state.ts'
import * as io from './io.ts'

/** k8s jsonpath text output of one value: scalars as text, lists/maps as JSON. */
function cell(v: unknown): string {
  if (v === undefined || v === null) return ''
  if (typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep)
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortDeep((v as any)[k])]),
    )
  return v
}

/** encoding/json with SetIndent("", "    ") and HTML escaping. */
const goJson = (v: unknown) =>
  JSON.stringify(sortDeep(v), null, 4).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026') + '\n'

function metadata(def: ResourceDef, r: Resource, n: LabNode, namespace: string) {
  const ts = (n.bootedAt ?? new Date(0).toISOString()).replace(/\.\d+Z$/, 'Z')
  return {
    namespace,
    type: def.type,
    id: r.id,
    version: r.version,
    owner: r.owner,
    phase: 'running',
    created: ts,
    updated: ts,
  }
}

export async function get(ctx: RunContext): Promise<void> {
  const [type, id] = ctx.args
  const outMode = ctx.flags.output as string
  if (!['table', 'json', 'yaml'].includes(outMode) && !outMode.startsWith('jsonpath'))
    throw new Error(`output writer "${outMode}" is not supported`)
  const s: Session = ctx.flags.insecure ? await withMaintenanceClient(ctx.global) : await withClient(ctx.global)
  const def = resolveResource(type)
  // ResolveResourceKind runs against the first node: its failure fails the whole command
  const first = s.nodes[0]
  try {
    await dial(stripPort(first), s.insecure ? { insecure: true } : { insecure: false, caPem: s.caPem })
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(e.message)
    throw e
  }
  if (!def) throw new Error(rpcError('NotFound', `resource "${type}" is not registered`))
  const namespace = (ctx.flags.namespace as string) || def.namespace
  const errs: string[] = []
  let text = ''
  const header =
    ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION', ...def.columns.map(([c]) => c.toUpperCase())].join('\t') + '\n'
  if (outMode === 'table') text += header
  let yamlDocs = 0
  for (const addr of s.nodes) {
    const nodeLabel = s.proxied ? addr : ''
    let n: LabNode
    try {
      n = await dial(stripPort(addr), s.insecure ? { insecure: true } : { insecure: false, caPem: s.caPem })
    } catch (e) {
      errs.push((e as Error).message)
      continue
    }
    if (s.insecure && !def.maintenance) {
      errs.push(rpcError('PermissionDenied', `resource "${def.type}" is not available in maintenance mode`))
      continue
    }
    let items = namespace === def.namespace ? await def.list(n) : []
    if (id !== undefined) {
      items = items.filter((r) => r.id === id)
      if (!items.length) {
        errs.push(rpcError('NotFound', `resource ${def.type}(${namespace}/${id}@undefined) doesn't exist`))
        continue
      }
    }
    for (const r of items) {
      const md = metadata(def, r, n, namespace)
      if (outMode === 'table') {
        const spec = typeof r.spec === 'string' ? {} : r.spec
        text +=
          [
            nodeLabel,
            namespace,
            def.displayType,
            r.id,
            r.version,
            ...def.columns.map(([, f]) => cell(safe(() => f(spec)))),
          ].join('\t') + '\n'
      } else if (outMode === 'json') {
        text += goJson({ node: nodeLabel, metadata: md, spec: r.spec })
      } else if (outMode === 'yaml') {
        if (yamlDocs++) text += '---\n'
        text +=
          `node: ${nodeLabel}\n` +
          stringify({ metadata: md, spec: r.spec }, { indent: 4, indentSeq: true, lineWidth: 0 })
      } else {
        text += cell(jsonpath(outMode, r.spec)) + '\n'
      }
    }
  }
  io.out(outMode === 'table' ? tabwrite(text) : text)
  if (errs.length) throw new Error(multiError(errs))
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f()
  } catch {
    return undefined
  }
}

/** -o jsonpath='{.spec.field}' on the spec, enough for simple field paths. */
function jsonpath(mode: string, spec: unknown): unknown {
  const m = /^jsonpath=\{\.?(.*)\}$/.exec(mode)
  if (!m) throw new Error(`invalid jsonpath output ${mode}`)
  let v: any = { spec }
  for (const part of m[1].split('.').filter(Boolean)) v = v?.[part]
  return v
}
