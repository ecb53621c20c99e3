// etcd backup and disaster recovery on a lab control plane, machined's side (v1.10.3
// internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go EtcdSnapshot, EtcdRecover, Bootstrap;
// internal/app/machined/pkg/system/services/etcd.go BootstrapEtcd). lab/talos-api streams the snapshot from the
// machine's real etcd and writes the upload; the model says where, refuses what machined refuses, and restores
// (Bootstrap itself: lab/machine-api/cluster.ts).
import { join } from 'node:path'
import { recoverEtcd, recoverySnapshotPath } from '../etcd-recovery.ts'
import { etcdClient, etcdClientUrl, etcdDataDirNonEmpty } from '../node-services.ts'
import { isAlive, spawnDetached, tsEntry } from '../processes.ts'
import { labDir, loadNode, loadNodes, paths, updateNode, type LabNode } from '../state.ts'
import { ModelError } from './errors.ts'

/** checkControlplane (v1alpha1_server.go:129): "<api> is only available on control plane nodes". */
function controlPlaneOnly(n: LabNode, api: string): void {
  if (n.role !== 'controlplane')
    throw new ModelError('Unimplemented', `${api} is only available on control plane nodes`)
}

/**
 * The machine's etcd client URL and certificates (Talos's /system/secrets/etcd) for EtcdSnapshot. A local client to an etcd that does not answer fails as machined's
 * does (etcd.NewLocalClient); the lab refuses at once rather than waiting on a dead endpoint.
 */
export async function EtcdLocalEndpoint(n: LabNode, req: { api?: string }): Promise<unknown> {
  controlPlaneOnly(n, req.api ?? 'etcd snapshot')
  const fail = () => new ModelError('Unknown', 'failed to create etcd client: context deadline exceeded')
  if (!isAlive(n.etcd.pid)) throw fail()
  try {
    await etcdClient(n, 2000).status()
  } catch {
    throw fail()
  }
  return { url: etcdClientUrl(n), pki: paths.etcdPki(n.name) }
}

/** EtcdRecover: control planes only; the upload goes to constants.EtcdRecoverySnapshotPath (lab/etcd-recovery.ts). */
export function EtcdRecoverTarget(n: LabNode): unknown {
  controlPlaneOnly(n, 'etcd recover')
  return { path: recoverySnapshotPath(n.name) }
}

/**
 * Bootstrap with recover_etcd: machined refuses unless THIS machine's /var/lib/etcd is empty; etcd then restores the
 * uploaded snapshot as a one-member cluster of this machine (services/etcd.go recoverFromSnapshot). A restore that
 * fails leaves etcd Failed with its error (`talosctl service etcd`), as on Talos, where it runs after the call returned.
 * Once it is up, this machine holds the cluster: the other control planes' old membership went with their data, and
 * they join it (a detached converge, lab/converge.ts).
 */
export async function bootstrapFromSnapshot(name: string, skipHashCheck: boolean): Promise<void> {
  if (etcdDataDirNonEmpty(name)) throw new ModelError('AlreadyExists', 'etcd data directory is not empty')
  await recoverEtcd(name, skipHashCheck)
  if (loadNode(name).etcd.recoverError) return
  for (const x of loadNodes()) updateNode(x.name, (y) => (y.bootstrapped = x.name === name))
  const { cmd, args } = tsEntry('lab/converge.ts', [])
  spawnDetached('converge', name, cmd, args, join(labDir(), 'converge.log'))
}
