// machined Bootstrap for a lab control plane (v1.10.3 v1alpha1_server.go:413-447 Bootstrap): not before this boot's
// CRI is up, control planes only, not before the clock is synchronised (machined waits 5 s for it), and only while
// the machine's etcd data directory is empty; then etcd starts as a one-member cluster, or, with
// recover_etcd, restores the snapshot EtcdRecover uploaded (lab/machine-api/etcd-data.ts). Without recovery the lab
// stands for every machine's /var/lib/etcd: a cluster anywhere means this one's would not be empty either.
import { bootstrapEtcd, criUpAt, etcdDataDirNonEmpty, timeSyncedAt } from '../node-services.ts'
import { loadNodes, type LabNode } from '../state.ts'
import { bootstrapFromSnapshot } from './etcd-data.ts'
import { ModelError } from './errors.ts'
import { setTimeout as sleep } from 'node:timers/promises'

interface BootstrapRequest {
  recoverEtcd?: boolean
  recover_etcd?: boolean
  recoverSkipHashCheck?: boolean
  recover_skip_hash_check?: boolean
}

/** Wait until `at` when it is at most `withinMs` away; false when it is further (the caller's wait would time out). */
async function reachedWithin(at: number, withinMs: number): Promise<boolean> {
  const wait = at - Date.now()
  if (wait > withinMs) {
    await sleep(withinMs)
    return false
  }
  if (wait > 0) await sleep(wait)
  return true
}

export async function Bootstrap(n: LabNode, req: BootstrapRequest): Promise<unknown> {
  // IsBootstrapAllowed: the CRI service up, waited for 1 s (runtime/v1alpha1/v1alpha1_runtime.go:238-250)
  if (!(await reachedWithin(criUpAt(n), 1000)))
    throw new ModelError('FailedPrecondition', 'bootstrap is not available yet')
  if (n.role !== 'controlplane')
    throw new ModelError('FailedPrecondition', 'bootstrap can only be performed on a control plane node')
  // the time sync condition, waited for 5 s (v1alpha1_server.go:424-429)
  if (!(await reachedWithin(timeSyncedAt(n), 5000)))
    throw new ModelError('FailedPrecondition', 'time is not in sync yet')
  if (req.recoverEtcd ?? req.recover_etcd) {
    await bootstrapFromSnapshot(n.name, Boolean(req.recoverSkipHashCheck ?? req.recover_skip_hash_check))
    return { messages: [{}] }
  }
  if (loadNodes().some((x) => x.bootstrapped || etcdDataDirNonEmpty(x.name)))
    throw new ModelError('AlreadyExists', 'etcd data directory is not empty')
  await bootstrapEtcd(n.name)
  return { messages: [{}] }
}
