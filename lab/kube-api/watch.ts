// ?watch=true: the lab polls its etcd every ~100 ms and streams the differences as watch events
// (ADDED/MODIFIED/DELETED JSON lines), which is what `kubectl wait` and `kubectl get -w` consume.
// A poll first asks for the store's revision (one tiny read) and lists the resource only when it moved.
import type { ServerResponse } from 'node:http'
import type { Obj } from './errors.ts'
import { apiVersionOf, type ResourceDef } from './resources.ts'
import { objectFilter } from './selectors.ts'
import type { Store } from './storage.ts'
import { toTable } from './tables.ts'

export interface WatchOptions {
  table: boolean
  includeObject: string | null
  pollMs?: number
}

export async function serveWatch(
  res: ServerResponse,
  store: Store,
  r: ResourceDef,
  ns: string | undefined,
  q: URLSearchParams,
  o: WatchOptions,
): Promise<void> {
  const filter = objectFilter(q)
  const since = Number(q.get('resourceVersion') ?? 0)
  const sendInitial = q.get('sendInitialEvents') === 'true' || !since
  const timeoutMs = q.get('timeoutSeconds') ? Number(q.get('timeoutSeconds')) * 1000 : 30 * 60 * 1000
  const first = await store.list(r, ns) // errors before the 200 go out as a Status
  res.writeHead(200, {
    'content-type': 'application/json',
    'cache-control': 'no-cache, private',
    'transfer-encoding': 'chunked',
  })
  res.flushHeaders() // clients wait for the headers before they count the watch as started
  let columnsSent = false
  let closed = false
  res.on('close', () => (closed = true))
  const send = (type: string, obj: Obj) => {
    let payload = obj
    if (o.table && type !== 'BOOKMARK' && type !== 'ERROR') {
      payload = toTable(r, [obj], obj.metadata?.resourceVersion, o.includeObject, !columnsSent)
      columnsSent = true
    }
    res.write(JSON.stringify({ type, object: payload }) + '\n')
  }
  const known = new Map<string, { rev: number; obj: Obj; match: boolean }>()
  const keyOf = (x: Obj) => `${x.metadata.namespace ?? ''}/${x.metadata.name}`
  for (const it of first.items) {
    const match = filter(it.obj)
    known.set(keyOf(it.obj), { rev: it.modRevision, obj: it.obj, match })
    if (!match) continue
    if (sendInitial) send('ADDED', it.obj)
    else if (it.modRevision > since) send(it.createRevision > since ? 'ADDED' : 'MODIFIED', it.obj)
  }
  if (q.get('sendInitialEvents') === 'true' && q.get('allowWatchBookmarks') === 'true') {
    send('BOOKMARK', {
      kind: r.kind,
      apiVersion: apiVersionOf(r),
      metadata: { resourceVersion: String(first.revision), annotations: { 'k8s.io/initial-events-end': 'true' } },
    })
  }
  const deadline = Date.now() + timeoutMs
  let listedAt = first.revision
  while (!closed && Date.now() < deadline) {
    await new Promise((ok) => setTimeout(ok, o.pollMs ?? 100))
    if (closed) break
    // nothing written since the last list: nothing to send (a failed probe falls through to the list's error)
    if ((await store.probe()).revision === listedAt) continue
    if (closed) break
    let now
    try {
      now = await store.list(r, ns)
    } catch (e) {
      send('ERROR', {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: (e as Error).message,
        reason: 'ServiceUnavailable',
        code: 503,
      })
      break
    }
    listedAt = now.revision
    const seen = new Set<string>()
    for (const it of now.items) {
      const k = keyOf(it.obj)
      seen.add(k)
      const prev = known.get(k)
      if (prev && prev.rev === it.modRevision) continue
      const match = filter(it.obj)
      if (match && (!prev || !prev.match)) send('ADDED', it.obj)
      else if (match) send('MODIFIED', it.obj)
      else if (prev?.match) send('DELETED', it.obj)
      known.set(k, { rev: it.modRevision, obj: it.obj, match })
    }
    for (const [k, prev] of known) {
      if (seen.has(k)) continue
      known.delete(k)
      if (prev.match)
        send('DELETED', { ...prev.obj, metadata: { ...prev.obj.metadata, resourceVersion: String(now.revision) } })
    }
  }
  if (!closed) res.end()
}
