// Objects in the node's local etcd member: /registry/<resource>/[<ns>/]<name>, JSON values,
// resourceVersion = etcd mod_revision, writes guarded by a mod_revision compare (optimistic concurrency).
import { EtcdClient, EtcdError, prefixEnd } from '../etcd-client.ts'
import { HttpEtcdClient } from './etcd-http.ts'
import { ApiError, alreadyExists, conflict, notFound, unavailable, type Obj } from './errors.ts'
import type { ResourceDef } from './resources.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString() : '')

export interface Stored {
  obj: Obj
  modRevision: number
  createRevision: number
}

interface RawKV {
  key: string
  value?: string
  mod_revision: string
  create_revision: string
}

export const keyFor = (r: ResourceDef, ns: string | undefined, name: string) =>
  r.namespaced ? `/registry/${r.plural}/${ns}/${name}` : `/registry/${r.plural}/${name}`
export const prefixFor = (r: ResourceDef, ns?: string) =>
  r.namespaced && ns ? `/registry/${r.plural}/${ns}/` : `/registry/${r.plural}/`

/** etcd unreachable or without quorum: the apiserver answers 503 instead of hanging forever. */
function wrap(e: unknown): never {
  if (e instanceof ApiError) throw e
  if (e instanceof EtcdError) throw unavailable(`etcd cluster is unavailable or misconfigured; error #0: ${e.message}`)
  throw e
}

export class Store {
  readonly etcd: EtcdClient
  private readonly healthClient: EtcdClient
  constructor(endpoint: string, timeoutMs = 2500) {
    this.etcd = new HttpEtcdClient(endpoint, timeoutMs)
    this.healthClient = new HttpEtcdClient(endpoint, 1000)
  }

  private decode(kv: RawKV): Stored {
    const obj = JSON.parse(unb64(kv.value)) as Obj
    obj.metadata ??= {}
    obj.metadata.resourceVersion = kv.mod_revision
    return { obj, modRevision: Number(kv.mod_revision), createRevision: Number(kv.create_revision) }
  }

  private encode(obj: Obj): string {
    const copy = { ...obj, metadata: { ...obj.metadata } }
    delete copy.metadata.resourceVersion
    return JSON.stringify(copy)
  }

  async get(r: ResourceDef, ns: string | undefined, name: string): Promise<Stored> {
    const s = await this.tryGet(r, ns, name)
    if (!s) throw notFound(r, name)
    return s
  }

  async tryGet(r: ResourceDef, ns: string | undefined, name: string): Promise<Stored | undefined> {
    try {
      const res = await this.etcd.call<{ kvs?: RawKV[] }>('/v3/kv/range', { key: b64(keyFor(r, ns, name)) })
      return res.kvs?.length ? this.decode(res.kvs[0]) : undefined
    } catch (e) {
      wrap(e)
    }
  }

  /** All objects of a resource (in one namespace or all), and the store revision they were read at. */
  async list(r: ResourceDef, ns?: string): Promise<{ items: Stored[]; revision: number }> {
    const prefix = prefixFor(r, ns)
    try {
      const res = await this.etcd.call<{ header: { revision: string }; kvs?: RawKV[] }>('/v3/kv/range', {
        key: b64(prefix),
        range_end: b64(prefixEnd(prefix)),
      })
      return { items: (res.kvs ?? []).map((kv) => this.decode(kv)), revision: Number(res.header.revision) }
    } catch (e) {
      wrap(e)
    }
  }

  private async txnPut(key: string, value: string, modRevision: number): Promise<number | undefined> {
    const res = await this.etcd.call<{ header: { revision: string }; succeeded?: boolean }>('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'MOD', result: 'EQUAL', mod_revision: String(modRevision) }],
      success: [{ request_put: { key: b64(key), value: b64(value) } }],
    })
    return res.succeeded ? Number(res.header.revision) : undefined
  }

  async create(r: ResourceDef, obj: Obj): Promise<Obj> {
    const name = obj.metadata.name as string
    try {
      const rev = await this.txnPut(keyFor(r, obj.metadata.namespace, name), this.encode(obj), 0)
      if (rev === undefined) throw alreadyExists(r, name)
      return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rev) } }
    } catch (e) {
      wrap(e)
    }
  }

  /** Write obj if the stored object is still at modRevision; Conflict otherwise. */
  async update(r: ResourceDef, obj: Obj, modRevision: number): Promise<Obj> {
    const name = obj.metadata.name as string
    try {
      const rev = await this.txnPut(keyFor(r, obj.metadata.namespace, name), this.encode(obj), modRevision)
      if (rev === undefined) throw conflict(r, name)
      return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rev) } }
    } catch (e) {
      wrap(e)
    }
  }

  /** Read-modify-write with retries on conflict, as the apiserver does for PATCH. fn returns undefined to skip the write. */
  async mutate(r: ResourceDef, ns: string | undefined, name: string, fn: (o: Obj) => Obj | undefined): Promise<Obj> {
    for (let i = 0; ; i++) {
      const cur = await this.get(r, ns, name)
      const next = fn(structuredClone(cur.obj))
      if (!next) return cur.obj
      try {
        return await this.update(r, next, cur.modRevision)
      } catch (e) {
        if (!(e instanceof ApiError && e.reason === 'Conflict') || i >= 5) throw e
      }
    }
  }

  async delete(r: ResourceDef, ns: string | undefined, name: string): Promise<Obj> {
    const cur = await this.get(r, ns, name)
    try {
      const key = keyFor(r, ns, name)
      const res = await this.etcd.call<{ succeeded?: boolean }>('/v3/kv/txn', {
        compare: [{ key: b64(key), target: 'MOD', result: 'EQUAL', mod_revision: String(cur.modRevision) }],
        success: [{ request_delete_range: { key: b64(key) } }],
      })
      if (!res.succeeded) throw conflict(r, name)
      return cur.obj
    } catch (e) {
      wrap(e)
    }
  }

  /** Linearizable read: fails without quorum, as the apiserver's etcd health check does. */
  async healthy(): Promise<string | undefined> {
    return (await this.probe()).error
  }

  /** The health check, which also tells the store's current revision (what changed-since checks compare). */
  async probe(): Promise<{ error?: string; revision?: number }> {
    try {
      const res = await this.healthClient.call<{ header?: { revision?: string } }>('/v3/kv/range', {
        key: b64('health'),
      })
      return { revision: Number(res.header?.revision ?? NaN) }
    } catch (e) {
      return { error: (e as Error).message }
    }
  }
}
