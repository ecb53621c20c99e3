// machined Bootstrap for a lab control plane (v1.10.3 v1alpha1_server.go:413-447 Bootstrap): control planes only, and
// only while the machine's etcd data directory is empty; then etcd starts as a one-member cluster, or, with
// recover_etcd, restores the snapshot EtcdRecover uploaded (lab/machine-api/etcd-data.ts). Without recovery the lab
// stands for every machine's /var/lib/etcd: a cluster anywhere means this one's would not be empty either.
import { bootstrapEtcd, etcdDataDirNonEmpty } from '../node-services.ts'
import { loadNodes, type LabNode } from '../state.ts'
import { bootstrapFromSnapshot } from './etcd-data.ts'
import { ModelError } from './errors.ts'

interface BootstrapRequest {
  recoverEtcd?: boolean
  recover_etcd?: boolean
  recoverSkipHashCheck?: boolean
  recover_skip_hash_check?: boolean
}

export async function Bootstrap(n: LabNode, req: BootstrapRequest): Promise<unknown> {
  if (n.role !== 'controlplane')
    throw new ModelError('FailedPrecondition', 'bootstrap can only be performed on a control plane node')
  if (req.recoverEtcd ?? req.recover_etcd) {
    await bootstrapFromSnapshot(n.name, Boolean(req.recoverSkipHashCheck ?? req.recover_skip_hash_check))
    return { messages: [{}] }
  }
  if (loadNodes().some((x) => x.bootstrapped || etcdDataDirNonEmpty(x.name)))
    throw new ModelError('AlreadyExists', 'etcd data directory is not empty')
  await bootstrapEtcd(n.name)
  return { messages: [{}] }
}
