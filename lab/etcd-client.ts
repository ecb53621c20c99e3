// A small client for real etcd's JSON gateway (etcd 3.4: POST /v3/...), so the lab needs no gRPC stack.
import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:https'
import { join } from 'node:path'

// Keys and values travel base64-encoded; 64-bit integers arrive as decimal strings.

export class EtcdError extends Error {
  constructor(
    message: string,
    readonly endpoint: string,
    readonly code?: number,
  ) {
    super(message)
  }
}

const b64 = (s: string) => Buffer.from(s).toString('base64')
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString() : '')

/** The key just past every key starting with prefix, for range queries. */
export function prefixEnd(prefix: string): string {
  const buf = Buffer.from(prefix)
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i] < 0xff) {
      buf[i]++
      return buf.subarray(0, i + 1).toString()
    }
  }
  return '\0'
}

export interface EtcdMember {
  ID: string // decimal string as the gateway sends uint64
  /** Absent for a member that never started (etcd adds it with no name; the gateway omits empty fields). */
  name?: string
  peerURLs: string[]
  clientURLs?: string[]
  isLearner?: boolean
}

export interface EtcdStatus {
  header: { cluster_id: string; member_id: string; revision: string; raft_term: string }
  version: string
  dbSize: string
  dbSizeInUse?: string
  leader: string
  raftIndex: string
  raftTerm: string
  raftAppliedIndex?: string
  errors?: string[]
  isLearner?: boolean
}

export interface EtcdAlarm {
  memberID: string
  alarm: 'NONE' | 'NOSPACE' | 'CORRUPT'
}

export interface KV {
  key: string
  value: string
  modRevision: number
  createRevision: number
}

interface RawKV {
  key: string
  value?: string
  mod_revision: string
  create_revision: string
}

const toKV = (kv: RawKV): KV => ({
  key: unb64(kv.key),
  value: unb64(kv.value),
  modRevision: Number(kv.mod_revision),
  createRevision: Number(kv.create_revision),
})

/** Member ids are uint64: the gateway sends decimal strings; talosctl prints them as hex. */
export const memberIdHex = (decimal: string) => BigInt(decimal).toString(16)

/**
 * One keep-alive pool for every client: a lab process polls etcd often, and a TLS handshake per call would cost more
 * than the call. Node pools sockets by host, port and TLS options, so clients with other certificates never share one.
 */
const agent = new Agent({ keepAlive: true })

/** PEM files of a directory laid out as Talos's /system/secrets/etcd: ca.crt, admin.crt, admin.key. */
function adminTls(pki: string): { ca: Buffer; cert: Buffer; key: Buffer } {
  const read = (f: string) => readFileSync(join(pki, f))
  return { ca: read('ca.crt'), cert: read('admin.crt'), key: read('admin.key') }
}

/**
 * A client of one member, as machined's own (internal/pkg/etcd/etcd.go NewClient:42-60): mutual TLS, presenting
 * the admin certificate ("talos") from `pki`, a directory laid out as /system/secrets/etcd.
 */
export class EtcdClient {
  constructor(
    readonly endpoint: string,
    readonly pki: string,
    readonly timeoutMs = 2000,
  ) {}

  async call<T>(path: string, body: unknown = {}): Promise<T> {
    let tls: ReturnType<typeof adminTls>
    try {
      tls = adminTls(this.pki)
    } catch (e) {
      throw new EtcdError(`etcd ${this.endpoint}: no client certificate: ${(e as Error).message}`, this.endpoint)
    }
    let res: { status: number; text: string }
    try {
      res = await this.post(path, JSON.stringify(body), tls)
    } catch (e) {
      const cause = (e as { code?: string }).code ?? (e as Error).name
      throw new EtcdError(`etcd ${this.endpoint} unreachable: ${cause}`, this.endpoint)
    }
    const json = res.text ? JSON.parse(res.text) : {}
    if (res.status >= 300 || json.error) {
      throw new EtcdError(
        `etcd ${this.endpoint}${path}: ${json.error ?? json.message ?? res.status}`,
        this.endpoint,
        json.code,
      )
    }
    return json as T
  }

  private post(path: string, body: string, tls: object): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, this.endpoint),
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          signal: AbortSignal.timeout(this.timeoutMs),
          agent,
          ...tls,
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }))
          res.on('error', reject)
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  }

  async get(key: string): Promise<KV | undefined> {
    return (await this.range(key))[0]
  }

  async range(key: string, rangeEnd?: string): Promise<KV[]> {
    const r = await this.call<{ kvs?: RawKV[] }>('/v3/kv/range', {
      key: b64(key),
      ...(rangeEnd !== undefined ? { range_end: b64(rangeEnd) } : {}),
    })
    return (r.kvs ?? []).map(toKV)
  }

  list(prefix: string): Promise<KV[]> {
    return this.range(prefix, prefixEnd(prefix))
  }

  async put(key: string, value: string): Promise<void> {
    await this.call('/v3/kv/put', { key: b64(key), value: b64(value) })
  }

  // --- leases and the create-revision queries of go.etcd.io/etcd/client/v3/concurrency (lab/vip-election.ts)

  /** A new lease of `ttlS` seconds; its id as the gateway sends it (a decimal string). */
  async grantLease(ttlS: number): Promise<string> {
    const r = await this.call<{ ID: string }>('/v3/lease/grant', { TTL: ttlS })
    return r.ID
  }

  /** One keep-alive; the TTL it was renewed to, 0 when the lease is gone (expired or revoked). */
  async keepAliveLease(id: string): Promise<number> {
    const r = await this.call<{ result?: { TTL?: string } }>('/v3/lease/keepalive', { ID: id })
    return Number(r.result?.TTL ?? 0)
  }

  async revokeLease(id: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id })
  }

  /** Put key=value attached to `lease` unless the key exists; either way its create revision and value. */
  async createIfAbsent(key: string, value: string, lease: string): Promise<{ created: boolean; kv: KV }> {
    const r = await this.call<{
      succeeded?: boolean
      header: { revision: string }
      responses?: { response_range?: { kvs?: RawKV[] } }[]
    }>('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
      success: [{ request_put: { key: b64(key), value: b64(value), lease } }],
      failure: [{ request_range: { key: b64(key) } }],
    })
    if (r.succeeded) {
      const rev = Number(r.header.revision)
      return { created: true, kv: { key, value, createRevision: rev, modRevision: rev } }
    }
    const raw = r.responses?.[0]?.response_range?.kvs?.[0]
    if (!raw) throw new EtcdError(`etcd ${this.endpoint}: ${key} neither created nor found`, this.endpoint)
    return { created: false, kv: toKV(raw) }
  }

  /** The key under `prefix` created first, optionally among those created at or before `maxCreateRevision`. */
  async firstCreated(
    prefix: string,
    maxCreateRevision?: number,
    order: 'ASCEND' | 'DESCEND' = 'ASCEND',
  ): Promise<KV | undefined> {
    const r = await this.call<{ kvs?: RawKV[] }>('/v3/kv/range', {
      key: b64(prefix),
      range_end: b64(prefixEnd(prefix)),
      sort_order: order,
      sort_target: 'CREATE',
      limit: '1',
      ...(maxCreateRevision !== undefined ? { max_create_revision: String(maxCreateRevision) } : {}),
    })
    // the gateway's count ignores max_create_revision: only kvs says what matched
    return r.kvs?.[0] ? toKV(r.kvs[0]) : undefined
  }

  /** Delete key only while its create revision is still `createRevision` (a resign that cannot hit a newer key). */
  async deleteIfCreatedAt(key: string, createRevision: number): Promise<boolean> {
    const r = await this.call<{ succeeded?: boolean }>('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: String(createRevision) }],
      success: [{ request_delete_range: { key: b64(key) } }],
    })
    return r.succeeded === true
  }

  async delete(key: string): Promise<number> {
    const r = await this.call<{ deleted?: string }>('/v3/kv/deleterange', { key: b64(key) })
    return Number(r.deleted ?? 0)
  }

  async members(): Promise<EtcdMember[]> {
    const r = await this.call<{ members?: EtcdMember[] }>('/v3/cluster/member/list', {})
    return r.members ?? []
  }

  async addMember(peerURLs: string[], isLearner = false): Promise<{ member: EtcdMember; members: EtcdMember[] }> {
    return this.call('/v3/cluster/member/add', { peerURLs, isLearner })
  }

  async removeMember(id: string): Promise<void> {
    await this.call('/v3/cluster/member/remove', { ID: id })
  }

  async promoteMember(id: string): Promise<void> {
    await this.call('/v3/cluster/member/promote', { ID: id })
  }

  status(): Promise<EtcdStatus> {
    return this.call<EtcdStatus>('/v3/maintenance/status', {})
  }

  async alarms(): Promise<EtcdAlarm[]> {
    const r = await this.call<{ alarms?: EtcdAlarm[] }>('/v3/maintenance/alarm', { action: 'GET', alarm: 'NONE' })
    return r.alarms ?? []
  }

  async moveLeader(targetId: string): Promise<void> {
    await this.call('/v3/maintenance/transfer-leadership', { targetID: targetId })
  }
}
