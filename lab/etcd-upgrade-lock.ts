// What machined checks in etcd before it acknowledges an upgrade of a control plane (v1.10.3
// internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:499-517, unless --force): it takes the cluster's
// upgrade mutex, so two control planes never upgrade at once, and validates that every member runs and answers.
// The mutex is go.etcd.io/etcd/client/v3/concurrency's (mutex.go TryLock): a key <prefix>/<lease id in hex> on a
// session lease, owned by whoever's key under the prefix was created first.
import { EtcdClient } from './etcd-client.ts'
import { cause, openSession, tryLock, type Session } from './etcd-mutex.ts'

/** constants.EtcdTalosEtcdUpgradeMutex (pkg/machinery/constants/constants.go:460), plus the mutex's "/". */
export const UPGRADE_MUTEX_PREFIX = 'talos:v1:etcdUpgradeMutex/'
/** MinimumEtcdUpgradeLeaseLockSeconds (v1alpha1_server.go:98): the session's TTL. */
const LEASE_TTL_S = 60

/**
 * tryLockUpgradeMutex (v1alpha1_server.go:2344): the lock, or "error trying to lock etcd upgrade mutex: mutex: Locked
 * by another session" (concurrency.ErrLocked) when another session holds it. Returns the unlock.
 */
export async function tryLockUpgradeMutex(c: EtcdClient): Promise<() => Promise<void>> {
  let s: Session
  try {
    s = await openSession(c, LEASE_TTL_S)
  } catch (e) {
    throw new Error(`error establishing etcd concurrency session: ${cause(e)}`)
  }
  try {
    const held = await tryLock(c, s, UPGRADE_MUTEX_PREFIX.slice(0, -1))
    return async () => {
      await held.unlock()
      await s.close()
    }
  } catch (e) {
    await s.close()
    throw new Error(`error trying to lock etcd upgrade mutex: ${cause(e)}`)
  }
}

/**
 * Client.ValidateForUpgrade (internal/pkg/etcd/etcd.go:95-121): two members cannot keep quorum while one upgrades;
 * every member must have started (a name) and answer a read through its own client URLs.
 */
export async function validateForUpgrade(c: EtcdClient): Promise<void> {
  const members = await c.members()
  if (members.length === 2)
    throw new Error(`etcd member count(${members.length}) is insufficient to maintain quorum if upgrade commences`)
  for (const m of members) {
    const hex = BigInt(m.ID).toString(16).padStart(16, '0')
    if (!m.name) throw new Error(`etcd member ${hex} is not started, all members must be running to perform an upgrade`)
    try {
      // ValidateQuorum: a read of any key goes through consensus
      // through the member's own client URL, with the same admin certificate
      await new EtcdClient(m.clientURLs?.[0] ?? '', c.pki, 5000).get('health')
    } catch (e) {
      throw new Error(
        `etcd member ${hex} is not healthy; all members must be healthy to perform an upgrade: ${cause(e)}`,
      )
    }
  }
}
