// The REST surface: discovery, health, and generic get/list/watch/create/update/patch/delete for every
// resource in resources.ts, plus the subresources kubectl uses (status, binding, eviction, approval).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { parse as parseYaml } from 'yaml'
import { admitNodeRestriction, nodeIdentity, prepareCreate } from './admission.ts'
import { ApiError, badRequest, conflict, notFound, qualified, type Obj } from './errors.ts'
import { jsonPatch, mergePatch, strategicMerge } from './patch.ts'
import { nowTs } from './quantity.ts'
import {
  RESOURCES,
  apiGroup,
  apiGroupList,
  apiVersionOf,
  apiVersions,
  byKind,
  findResource,
  openapiV3Doc,
  openapiV3Paths,
  resourceList,
  type ResourceDef,
} from './resources.ts'
import { configMapFromProtobuf, csrFromProtobuf, isK8sProtobuf, unwrap } from './protobuf.ts'
import { admitPodCreate, warningHeader, type PodSecurityConfig } from './pod-security.ts'
import { objectFilter } from './selectors.ts'
import type { Store } from './storage.ts'
import { toTable, wantsTable } from './tables.ts'
import { serveWatch } from './watch.ts'

export interface User {
  name: string
  groups: string[]
}

export interface ApiContext {
  store: Store
  gitVersion: string
  serverAddress: string
  log: (msg: string) => void
  /** The PodSecurity admission configuration in force (none: the plugin's defaults, privileged everywhere). */
  podSecurity?: () => PodSecurityConfig
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(code, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'cache-control': 'no-cache, private',
  })
  res.end(text)
}

export const sendError = (res: ServerResponse, e: ApiError) => send(res, e.code, e.status())

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

function parseBody(buf: Buffer, contentType: string): any {
  if (isK8sProtobuf(buf)) {
    const { kind, fields } = unwrap(buf)
    if (kind === 'CertificateSigningRequest') return csrFromProtobuf(fields)
    if (kind === 'ConfigMap') return configMapFromProtobuf(fields)
    if (kind === 'Eviction' || kind === 'DeleteOptions') return {}
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
    )
  }
  const text = buf.toString()
  try {
    return /yaml/.test(contentType) ? parseYaml(text) : JSON.parse(text)
  } catch (e) {
    throw badRequest(`the server rejected our request due to an error in our request: ${(e as Error).message}`)
  }
}

function versionInfo(gitVersion: string): object {
  const m = /^v(\d+)\.(\d+)/.exec(gitVersion)
  return {
    major: m?.[1] ?? '1',
    minor: m?.[2] ?? '33',
    gitVersion,
    gitCommit: 'lab',
    gitTreeState: 'clean',
    buildDate: '2025-05-15T00:00:00Z',
    goVersion: 'go1.24.2',
    compiler: 'gc',
    platform: 'linux/amd64',
  }
}

/** /healthz, /livez, /readyz: "ok", or the check list when verbose or failing (HTTP 500). */
async function health(ctx: ApiContext, which: string, q: URLSearchParams, res: ServerResponse): Promise<void> {
  const etcdErr = await ctx.store.healthy()
  if (etcdErr) ctx.log(`${which}: etcd check failed: ${etcdErr}`)
  const checks: [string, boolean][] = [
    ['ping', true],
    ['log', true],
    ['etcd', !etcdErr],
    ...(which === 'readyz'
      ? ([
          ['etcd-readiness', !etcdErr],
          ['informer-sync', true],
        ] as [string, boolean][])
      : []),
    ['poststarthook/start-apiserver-admission-initializer', true],
    ['poststarthook/generic-apiserver-start-informers', true],
    ...(which === 'readyz' ? ([['shutdown', true]] as [string, boolean][]) : []),
  ]
  const ok = checks.every(([, v]) => v)
  if (ok && !q.has('verbose')) return send(res, 200, 'ok')
  const lines = checks.map(([n, v]) => (v ? `[+]${n} ok` : `[-]${n} failed: reason withheld`))
  send(res, ok ? 200 : 500, `${lines.join('\n')}\n${which} check ${ok ? 'passed' : 'failed'}\n`)
}

interface Target {
  r: ResourceDef
  ns?: string
  name?: string
  sub?: string
}

/** /api/v1/[namespaces/<ns>/]<plural>[/<name>[/<sub>]] and the /apis/<group>/<version>/... equivalents. */
function parseTarget(group: string, version: string, rest: string[]): Target | undefined {
  let ns: string | undefined
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const inner = findResource(group, version, rest[2])
    if (inner?.namespaced) {
      ns = rest[1]
      rest = rest.slice(2)
    }
  }
  const r = findResource(group, version, rest[0])
  if (!r || rest.length > 3) return undefined
  return { r, ns, name: rest[1], sub: rest[2] }
}

export function isPublicPath(path: string): boolean {
  return ['/healthz', '/livez', '/readyz', '/version'].includes(path)
}

export async function handle(ctx: ApiContext, user: User, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://lab')
  const path = url.pathname.replace(/\/+$/, '') || '/'
  const q = url.searchParams
  const method = req.method ?? 'GET'
  try {
    if (path === '/version') return send(res, 200, versionInfo(ctx.gitVersion))
    if (path === '/healthz' || path === '/livez' || path === '/readyz') return await health(ctx, path.slice(1), q, res)
    if (path === '/api') return send(res, 200, apiVersions(ctx.serverAddress))
    if (path === '/apis') return send(res, 200, apiGroupList())
    if (path === '/openapi/v3') return send(res, 200, openapiV3Paths())
    if (path.startsWith('/openapi/v3/')) {
      const doc = openapiV3Doc(path.slice('/openapi/v3/'.length))
      return doc ? send(res, 200, doc) : send(res, 404, '404 page not found\n')
    }
    const parts = path.split('/').slice(1)
    let group: string, version: string, rest: string[]
    if (parts[0] === 'api' && parts[1]) [group, version, rest] = ['', parts[1], parts.slice(2)]
    else if (parts[0] === 'apis' && parts[1] && parts[2]) [group, version, rest] = [parts[1], parts[2], parts.slice(3)]
    else if (parts[0] === 'apis' && parts[1]) {
      const g = apiGroup(parts[1])
      return g ? send(res, 200, g) : send(res, 404, '404 page not found\n')
    } else return send(res, 404, '404 page not found\n')
    if (!rest.length) {
      const list = resourceList(group, version)
      return list ? send(res, 200, list) : send(res, 404, '404 page not found\n')
    }
    const t = parseTarget(group, version, rest)
    if (!t)
      return send(res, 404, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'the server could not find the requested resource',
        reason: 'NotFound',
        details: {},
        code: 404,
      })
    if (!user.groups.includes('system:masters') && !nodeMay(user, t, method)) {
      const verb = method === 'GET' ? (t.name ? 'get' : q.get('watch') ? 'watch' : 'list') : method.toLowerCase()
      const scope = t.ns ? `in the namespace "${t.ns}"` : 'at the cluster scope'
      throw new ApiError(
        403,
        'Forbidden',
        `${qualified(t.r)}${t.name ? ` "${t.name}"` : ''} is forbidden: User "${user.name}" cannot ${verb} resource "${t.r.plural}" in API group "${t.r.group}" ${scope}`,
        { name: t.name ?? '', group: t.r.group, kind: t.r.plural },
      )
    }
    await resource(ctx, user, t, method, q, req, res)
  } catch (e) {
    if (e instanceof ApiError) return sendError(res, e)
    ctx.log(`${method} ${req.url}: ${(e as Error).stack}`)
    sendError(res, new ApiError(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`))
  }
}

const NS = byKind('Namespace')

/**
 * What a kubelet's credentials may do here: read nodes and write Node objects (RBAC's system:node role and the Node
 * authorizer grant nodes get/list/watch/create/update/patch); NodeRestriction then limits which node and what.
 */
function nodeMay(user: User, t: Target, method: string): boolean {
  if (nodeIdentity(user) === undefined || t.r.kind !== 'Node' || (t.sub && t.sub !== 'status')) return false
  return ['GET', 'POST', 'PUT', 'PATCH'].includes(method)
}

/** The PodSecurity plugin on a pod create: throws its 403, or puts its warnings on the response. */
function admitPod(ctx: ApiContext, user: User, namespace: Obj, pod: Obj, res: ServerResponse): void {
  if (!ctx.podSecurity) return
  const ns = { name: namespace.metadata.name, labels: namespace.metadata.labels }
  const v = admitPodCreate(ctx.podSecurity(), ns, pod, user.name)
  if (!v.allowed) throw new ApiError(v.code, v.reason, v.message, { name: pod.metadata.name, kind: 'pods' })
  if (v.warnings.length) res.setHeader('Warning', v.warnings.map(warningHeader))
}

async function resource(
  ctx: ApiContext,
  user: User,
  t: Target,
  method: string,
  q: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { store } = ctx
  const { r, ns, name, sub } = t
  const table = wantsTable(req.headers.accept)
  const includeObject = q.get('includeObject')
  const dryRun = q.has('dryRun')
  const body = async () => parseBody(await readBody(req), String(req.headers['content-type'] ?? 'application/json'))

  if (method === 'GET' && !name) {
    if (q.get('watch') === 'true' || q.get('watch') === '1')
      return serveWatch(res, store, r, ns, q, { table, includeObject })
    const { items, revision } = await store.list(r, ns)
    const filter = objectFilter(q)
    const objs = items.map((i) => i.obj).filter(filter)
    if (table) return send(res, 200, toTable(r, objs, String(revision), includeObject))
    return send(res, 200, {
      kind: `${r.kind}List`,
      apiVersion: apiVersionOf(r),
      metadata: { resourceVersion: String(revision) },
      items: objs.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
    })
  }
  if (method === 'GET') {
    const { obj } = await store.get(r, ns, name!)
    if (table) return send(res, 200, toTable(r, [obj], obj.metadata.resourceVersion, includeObject))
    return send(res, 200, obj)
  }
  if (method === 'POST' && !name) {
    const obj = await body()
    if (!obj || typeof obj !== 'object') throw badRequest('the body of the request was empty')
    if (r.namespaced && obj.metadata?.namespace && ns && obj.metadata.namespace !== ns)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request')
    const namespace = r.namespaced
      ? (await store.get(NS, undefined, ns ?? obj.metadata?.namespace ?? 'default')).obj
      : undefined
    const prepared = prepareCreate(r, obj, ns, user)
    if (r.kind === 'Node') admitNodeRestriction(user, 'create', prepared.metadata.name, prepared)
    if (r.kind === 'Pod') admitPod(ctx, user, namespace!, prepared, res)
    if (dryRun) return send(res, 201, prepared)
    return send(res, 201, await store.create(r, prepared))
  }
  if (method === 'POST' && r.kind === 'Pod' && sub === 'binding') {
    const b = await body()
    const node = b?.target?.name
    if (!node) throw badRequest('binding target name is required')
    await store.mutate(r, ns, name!, (p) => {
      if (p.spec.nodeName)
        throw new ApiError(
          409,
          'Conflict',
          `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is already assigned to node "${p.spec.nodeName}"`,
        )
      p.spec.nodeName = node
      return p
    })
    return send(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 })
  }
  if (method === 'POST' && r.kind === 'Pod' && sub === 'eviction') {
    await store.get(r, ns, name!)
    if (!dryRun) await store.delete(r, ns, name!)
    return send(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 })
  }
  if (!name) {
    if (method === 'DELETE') {
      const { items, revision } = await store.list(r, ns)
      const filter = objectFilter(q)
      const gone = items.map((i) => i.obj).filter(filter)
      if (!dryRun)
        for (const o of gone) await store.delete(r, o.metadata.namespace, o.metadata.name).catch(() => undefined)
      return send(res, 200, {
        kind: `${r.kind}List`,
        apiVersion: apiVersionOf(r),
        metadata: { resourceVersion: String(revision) },
        items: gone,
      })
    }
    throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`)
  }
  if (sub && !(r.subresources ?? []).includes(sub)) throw notFound(r, `${name}/${sub}`)

  // Writes to the object: what part of the incoming object a write may change depends on the endpoint.
  const scope = (cur: Obj, next: Obj): Obj => {
    const out = structuredClone(next)
    out.kind = r.kind
    out.apiVersion = apiVersionOf(r)
    out.metadata = {
      ...out.metadata,
      name: cur.metadata.name,
      uid: cur.metadata.uid,
      creationTimestamp: cur.metadata.creationTimestamp,
    }
    if (r.namespaced) out.metadata.namespace = cur.metadata.namespace
    if (sub === 'status') return { ...cur, status: out.status }
    if (sub === 'approval') {
      const ts = nowTs()
      const conditions = (out.status?.conditions ?? []).map((c: Obj) => ({
        ...c,
        lastUpdateTime: c.lastUpdateTime ?? ts,
        lastTransitionTime: c.lastTransitionTime ?? ts,
      }))
      return { ...cur, status: { ...(cur.status ?? {}), conditions } }
    }
    if ((r.subresources ?? []).includes('status')) out.status = cur.status
    return out
  }

  if (method === 'PUT') {
    const obj = await body()
    const cur = await store.get(r, ns, name)
    const rv = obj?.metadata?.resourceVersion
    if (rv && Number(rv) !== cur.modRevision) throw conflict(r, name)
    const next = scope(cur.obj, obj)
    if (r.kind === 'Node') admitNodeRestriction(user, 'update', name, next, cur.obj)
    if (dryRun) return send(res, 200, next)
    return send(res, 200, await store.update(r, next, cur.modRevision))
  }
  if (method === 'PATCH') {
    const ct = String(req.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
    const patch = await body()
    if (ct === 'application/apply-patch+yaml') {
      // server-side apply, approximated as a strategic merge of the applied configuration
      const cur = await store.tryGet(r, ns, name)
      if (!cur) {
        const namespace = r.namespaced ? (await store.get(NS, undefined, ns ?? 'default')).obj : undefined
        const prepared = prepareCreate(r, { ...patch, metadata: { ...patch.metadata, name } }, ns, user)
        if (r.kind === 'Pod') admitPod(ctx, user, namespace!, prepared, res)
        return send(res, 201, dryRun ? prepared : await store.create(r, prepared))
      }
    }
    const apply = (cur: Obj): Obj => {
      let next: unknown
      if (ct === 'application/json-patch+json') next = jsonPatch(cur, patch)
      else if (ct === 'application/merge-patch+json') next = mergePatch(cur, patch)
      else if (ct === 'application/strategic-merge-patch+json' || ct === 'application/apply-patch+yaml')
        next = strategicMerge(cur, patch)
      else
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
        )
      const rv = (patch as Obj)?.metadata?.resourceVersion
      if (rv && rv !== cur.metadata.resourceVersion) throw conflict(r, name)
      const scoped = scope(cur, next as Obj)
      if (r.kind === 'Node') admitNodeRestriction(user, 'update', name, scoped, cur)
      return scoped
    }
    if (dryRun) return send(res, 200, apply((await store.get(r, ns, name)).obj))
    return send(res, 200, await store.mutate(r, ns, name, apply))
  }
  if (method === 'DELETE') {
    const cur = await store.get(r, ns, name)
    if (dryRun) return send(res, 200, cur.obj)
    if (r.kind === 'Namespace') {
      for (const inner of RESOURCES.filter((x) => x.namespaced)) {
        for (const it of (await store.list(inner, name)).items)
          await store.delete(inner, name, it.obj.metadata.name).catch(() => undefined)
      }
    }
    const gone = await store.delete(r, ns, name)
    gone.metadata.deletionTimestamp = nowTs()
    if (r.kind === 'Pod') return send(res, 200, gone)
    return send(res, 200, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name, ...(r.group ? { group: r.group } : {}), kind: r.plural, uid: cur.obj.metadata.uid },
    })
  }
  throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
}
