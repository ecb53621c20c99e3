// go.etcd.io/etcd/client/v3/concurrency's Mutex (v3.5.21 client/v3/concurrency/mutex.go, session.go) on the lab's
// etcd client, as machined takes it: NewSession grants a lease (60 s unless WithTTL) and keeps it alive every third
// of its TTL; NewMutex(session, pfx) queues under pfx + "/" with the key <pfx>/<lease id in hex>, put only if absent
// and attached to the lease; the holder is the key created first. TryLock gives up when another key is first
// (ErrLocked); Lock waits until every key created before its own is gone (waitDeletes). Unlock deletes the key and
// closing the session revokes the lease. Real Go waits on watches; the lab polls every POLL_MS.
import type { EtcdClient } from './etcd-client.ts'

/** concurrency.defaultSessionTTL */
const SESSION_TTL_S = 60
const POLL_MS = 250

export const cause = (e: unknown) => (e as Error).message.replace(/^etcd \S+: /, '')

/** NewSession: a lease kept alive every third of its TTL until close() revokes it. */
export interface Session {
  lease: string
  close(): Promise<void>
}

export async function openSession(c: EtcdClient, ttlS = SESSION_TTL_S): Promise<Session> {
  const lease = await c.grantLease(ttlS)
  const keepAlive = setInterval(() => void c.keepAliveLease(lease).catch(() => undefined), (ttlS * 1000) / 3)
  keepAlive.unref()
  return {
    lease,
    close: async () => {
      clearInterval(keepAlive)
      await c.revokeLease(lease).catch(() => undefined)
    },
  }
}

/** This session's key in the queue under prefix; unlock() deletes it. */
export interface QueuedKey {
  key: string
  createRevision: number
  unlock(): Promise<void>
}

/** tryAcquire: the session's key put under prefix unless it is there already. */
async function enqueue(c: EtcdClient, s: Session, prefix: string): Promise<QueuedKey> {
  const key = `${prefix}/${BigInt(s.lease).toString(16)}`
  const unlock = async () => void (await c.delete(key).catch(() => undefined))
  const { kv } = await c.createIfAbsent(key, '', s.lease)
  return { key, createRevision: kv.createRevision, unlock }
}

/** Mutex.TryLock: the key, or "mutex: Locked by another session" (concurrency.ErrLocked). */
export async function tryLock(c: EtcdClient, s: Session, prefix: string): Promise<QueuedKey> {
  const mine = await enqueue(c, s, prefix)
  const owner = await c.firstCreated(`${prefix}/`)
  if (owner && owner.createRevision !== mine.createRevision) {
    await mine.unlock()
    throw new Error('mutex: Locked by another session')
  }
  return mine
}

/** Mutex.Lock: waits, without a bound of its own (the caller's context in Go), until every earlier key is gone. */
export async function lock(c: EtcdClient, s: Session, prefix: string): Promise<QueuedKey> {
  const mine = await enqueue(c, s, prefix)
  while (await c.firstCreated(`${prefix}/`, mine.createRevision - 1, 'DESCEND'))
    await new Promise((r) => setTimeout(r, POLL_MS))
  // the session expired while waiting: its key is gone (mutex.go Lock: ErrSessionExpired)
  const still = await c.get(mine.key)
  if (!still || still.createRevision !== mine.createRevision) throw new Error('session expired')
  return mine
}

/**
 * internal/pkg/etcd/lock.go WithLock: f runs while a new session holds the mutex at key; then it unlocks and closes
 * the session, whatever f did.
 */
export async function withLock<T>(c: EtcdClient, key: string, f: () => Promise<T>): Promise<T> {
  let s: Session
  try {
    s = await openSession(c)
  } catch (e) {
    throw new Error(`error creating etcd session: ${cause(e)}`)
  }
  try {
    let held: QueuedKey
    try {
      held = await lock(c, s, key)
    } catch (e) {
      throw new Error(`error acquiring mutex for key ${key}: ${cause(e)}`)
    }
    try {
      return await f()
    } finally {
      await held.unlock()
    }
  } finally {
    await s.close()
  }
}
