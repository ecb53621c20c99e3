// talosctl bootstrap / kubeconfig
import { existsSync, readFileSync, statSync, mkdirSync, chmodSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { parse as parseYaml, stringify } from 'yaml'
import type { RunContext } from './context.ts'
import { RpcFailure, nodeErrors, perNode, rpcError, withClient, type Session } from './common.ts'
import { bootstrapEtcd, etcdDataDirNonEmpty } from '../node-services.ts'
import { parseMachineConfig } from '../machine-config.ts'
import { buildAdminKubeconfig } from '../kube-api/kubeconfig.ts'
import { loadNodes, paths, writeFileAtomic } from '../state.ts'
import { formatSnapshotInfo, snapshotInfo, uploadRecoverySnapshot } from '../etcd-recovery.ts'
import { bootstrapFromSnapshot } from '../machine-api/etcd-data.ts'
import { ModelError } from '../machine-api/errors.ts'
import * as io from './io.ts'

export async function bootstrap(ctx: RunContext): Promise<void> {
  let s
  try {
    s = await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(`error executing bootstrap: ${e.message}`)
    throw e
  }
  if (s.nodes.length > 1) throw new Error('command "bootstrap" is not supported with multiple nodes')
  const recoverFrom = ctx.flags['recover-from'] as string
  if (recoverFrom) return bootstrapRecover(ctx, s, recoverFrom)
  const results = await perNode(s, async (n) => {
    if (n.role !== 'controlplane')
      throw new Error(rpcError('FailedPrecondition', 'bootstrap can only be performed on a control plane node'))
    // the lab stands for every node's /var/lib/etcd: an existing cluster anywhere means this data dir would not be empty
    if (loadNodes().some((x) => x.bootstrapped || etcdDataDirNonEmpty(x.name)))
      throw new Error(rpcError('AlreadyExists', 'etcd data directory is not empty'))
    await bootstrapEtcd(n.name)
  })
  const err = nodeErrors(results)
  if (err) throw new Error(`error executing bootstrap: ${err}`)
}

/**
 * `bootstrap --recover-from FILE` as cmd/talosctl/cmd/talos/bootstrap.go (v1.10.3) runs it: bbolt's status of the
 * local file first (an unreadable file fails here, before anything is sent), the "recovering from snapshot" line, the
 * upload (EtcdRecover: control planes only), then Bootstrap with RecoverEtcd. machined refuses unless THIS node's
 * /var/lib/etcd is empty (v1alpha1_server.go Bootstrap); the restore itself runs in etcd's pre stage
 * (lab/etcd-recovery.ts recoverEtcd).
 */
async function bootstrapRecover(ctx: RunContext, s: Session, file: string): Promise<void> {
  let info
  try {
    info = await snapshotInfo(file)
  } catch (e) {
    throw new Error((e as Error).message)
  }
  io.out(`recovering from snapshot ${JSON.stringify(file)}: ${formatSnapshotInfo(info)}\n`)
  const results = await perNode(s, async (n) => {
    if (n.role !== 'controlplane')
      throw new Error(
        `error uploading snapshot: ${rpcError('Unimplemented', 'etcd recover is only available on control plane nodes')}`,
      )
    uploadRecoverySnapshot(n.name, file)
    // the restore is the machine model's (lab/machine-api/etcd-data.ts)
    try {
      await bootstrapFromSnapshot(n.name, Boolean(ctx.flags['recover-skip-hash-check']))
    } catch (e) {
      if (e instanceof ModelError) throw new Error(`error executing bootstrap: ${rpcError(e.code, e.message)}`)
      throw e
    }
  })
  const err = nodeErrors(results)
  if (err) throw new Error(err)
}

function mergeKubeconfig(existing: any, fresh: any, force: boolean): any {
  const out = existing && typeof existing === 'object' ? existing : { apiVersion: 'v1', kind: 'Config' }
  for (const key of ['clusters', 'contexts', 'users'] as const) {
    out[key] = Array.isArray(out[key]) ? out[key] : []
    for (const item of fresh[key]) {
      const i = out[key].findIndex((x: any) => x.name === item.name)
      if (i >= 0) out[key][i] = item
      else out[key].push(item)
    }
  }
  out['current-context'] = fresh['current-context']
  void force
  return out
}

export async function kubeconfig(ctx: RunContext): Promise<void> {
  let s
  try {
    s = await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(`error copying: ${e.message}`)
    throw e
  }
  if (s.nodes.length > 1) throw new Error('command "kubeconfig" is not supported with multiple nodes')
  const results = await perNode(s, async (n) => {
    if (n.role !== 'controlplane')
      throw new Error(rpcError('Unknown', 'kubeconfig can only be generated on control plane nodes'))
    const cfg = parseMachineConfig(readFileSync(paths.config(n.name), 'utf8'), paths.config(n.name))
    const pem = (b: string) => Buffer.from(b, 'base64').toString('utf8')
    return buildAdminKubeconfig({
      clusterName: cfg.clusterName,
      endpoint: cfg.controlPlaneEndpoint,
      caCrtPem: pem(cfg.k8sCaCrt),
      caKeyPem: pem(cfg.k8sCaKey),
    })
  })
  const err = nodeErrors(results)
  if (err) throw new Error(`error copying: ${err}`)
  const data = results[0].value!
  let target = ctx.args[0] ?? join(io.env('HOME') ?? homedir(), '.kube', 'config')
  if (existsSync(target) && statSync(target).isDirectory()) target = join(target, 'kubeconfig')
  if (target === '-') {
    io.out(data)
    return
  }
  const merge = ctx.flags.merge as boolean
  if (existsSync(target) && merge) {
    const merged = mergeKubeconfig(parseYaml(readFileSync(target, 'utf8')), parseYaml(data), ctx.flags.force)
    writeFileAtomic(target, stringify(merged), 0o600)
  } else {
    if (existsSync(target) && !ctx.flags.force)
      throw new Error(`kubeconfig file already exists, use --force to overwrite: "${target}"`)
    mkdirSync(dirname(target), { recursive: true })
    writeFileAtomic(target, data, 0o600)
  }
  chmodSync(target, 0o600)
}
