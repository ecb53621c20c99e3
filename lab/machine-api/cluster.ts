// machined Bootstrap for a lab control plane (v1.10.3 v1alpha1_server.go Bootstrap): control planes only, and only
// while the machine's etcd data directory is empty (the lab stands for every machine's /var/lib/etcd: a cluster
// anywhere means this one's would not be empty either); then etcd starts as a one-member cluster.
import { bootstrapEtcd, etcdDataDirNonEmpty } from '../node-services.ts'
import { loadNodes, type LabNode } from '../state.ts'
import { ModelError } from './errors.ts'

export async function Bootstrap(n: LabNode, req: { recover_etcd?: boolean; recoverEtcd?: boolean }): Promise<unknown> {
  if (n.role !== 'controlplane')
    throw new ModelError('FailedPrecondition', 'bootstrap can only be performed on a control plane node')
  if (req.recoverEtcd ?? req.recover_etcd)
    throw new ModelError('Unimplemented', 'the lab does not serve bootstrap --recover-from through this API yet')
  if (loadNodes().some((x) => x.bootstrapped || etcdDataDirNonEmpty(x.name)))
    throw new ModelError('AlreadyExists', 'etcd data directory is not empty')
  await bootstrapEtcd(n.name)
  return { messages: [{}] }
}
