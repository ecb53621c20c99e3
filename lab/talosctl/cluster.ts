// talosctl bootstrap / kubeconfig
import { existsSync, readFileSync, statSync, mkdirSync, chmodSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { parse as parseYaml, stringify } from 'yaml'
import type { RunContext } from './context.ts'
import { RpcFailure, nodeErrors, perNode, rpcError, withClient } from './common.ts'
import { bootstrapEtcd, etcdDataDirNonEmpty } from '../node-services.ts'
import { parseMachineConfig } from '../machine-config.ts'
import { buildAdminKubeconfig } from '../kube-api/kubeconfig.ts'
import { loadNodes, paths, writeFileAtomic } from '../state.ts'
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
  if (ctx.flags['recover-from']) throw new Error('lab talosctl: bootstrap --recover-from is not implemented in the lab')
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
