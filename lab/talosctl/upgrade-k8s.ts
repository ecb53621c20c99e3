// `talosctl upgrade-k8s --to X [--dry-run]`, as pkg/cluster/kubernetes/talos_managed.go and kubelet.go at v1.10.3
// do it for a Talos-managed control plane: detect the lowest version (the API server images), refuse an unsupported
// path (one minor at a time), then per control-plane node patch the machine config's kube-apiserver,
// kube-controller-manager and kube-scheduler images (Talos re-renders the static pods; the lab restarts the node's
// API server so /version reports it), then kube-proxy, then every node's kubelet image (the Node's kubeletVersion
// follows the config). Lines are the real ones (options.Log, on stdout); `--dry-run` patches nothing. The
// deprecated-API scan and the bootstrap manifests phase are not modelled. The configs are edited in place (only the
// image tags change) so the rest of each node's config stays byte for byte what was applied.
import { existsSync, readFileSync } from 'node:fs'
import type { RunContext } from './context.ts'
import { RpcFailure, withClient } from './common.ts'
import { loadNodes, paths, updateNode, writeFileAtomic, type LabNode } from '../state.ts'
import { reconcileNode, stopKubeApi } from '../node-services.ts'
import * as io from './io.ts'

const CONTROL_PLANE = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const

const say = (line: string) => io.out(`${line}\n`)
const q = (s: string) => JSON.stringify(s)

/** The tag of `<registry>/<name>:<tag>` on an `image:` line of the config, if any. */
function imageTag(config: string, name: string): string | undefined {
  return new RegExp(`^\\s*image: \\S+/${name}:(v?[0-9][^\\s@]*)`, 'm').exec(config)?.[1]
}

function retag(config: string, name: string, to: string): string {
  return config.replace(new RegExp(`^(\\s*image: \\S+/${name}:)v?[0-9][^\\s@]*`, 'm'), `$1v${to}`)
}

const parse = (v: string) => {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v)
  return m ? { major: Number(m[1]), minor: Number(m[2]), text: `${m[1]}.${m[2]}.${m[3]}` } : undefined
}

interface Configured {
  n: LabNode
  config: string
}

function configured(): Configured[] {
  return loadNodes()
    .filter((n) => existsSync(paths.config(n.name)) && !['off', 'maintenance'].includes(n.stage) && !n.faults.down)
    .map((n) => ({ n, config: readFileSync(paths.config(n.name), 'utf8') }))
}

function writeConfig(n: LabNode, config: string): void {
  writeFileAtomic(paths.config(n.name), config, 0o600)
  updateNode(n.name, (x) => (x.configVersion = (x.configVersion || 1) + 1))
}

export async function upgradeK8s(ctx: RunContext): Promise<void> {
  try {
    await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(e.message)
    throw e
  }
  const dryRun = !!ctx.flags['dry-run']
  const to = parse(String(ctx.flags.to ?? ''))
  if (!to) throw new Error(`error creating upgrade path invalid version ${q(String(ctx.flags.to))}`)
  const nodes = configured()
  const cps = nodes.filter((x) => x.n.role === 'controlplane')
  const workers = nodes.filter((x) => x.n.role !== 'controlplane')
  const versions = cps.map((x) => parse(imageTag(x.config, 'kube-apiserver') ?? '')).filter((v) => v !== undefined)
  const fromFlag = ctx.flags.from ? parse(String(ctx.flags.from)) : undefined
  const from =
    fromFlag ??
    versions.sort((a, b) => a.minor - b.minor || a.text.localeCompare(b.text, undefined, { numeric: true }))[0]
  if (!from) throw new Error('error detecting the lowest Kubernetes version no control plane node runs kube-apiserver')
  if (!fromFlag) say(`automatically detected the lowest Kubernetes version ${from.text}`)
  if (from.major !== to.major || to.minor < from.minor || to.minor - from.minor > 1) {
    throw new Error(
      `unsupported upgrade path ${from.major}.${from.minor}->${to.major}.${to.minor} (from ${q(from.text)} to ${q(to.text)})`,
    )
  }
  say(`checking for resource APIs to be deprecated in version ${to.text}`)
  say(`discovered controlplane nodes [${cps.map((x) => q(x.n.address)).join(' ')}]`)
  if (workers.length) say(`discovered worker nodes [${workers.map((x) => q(x.n.address)).join(' ')}]`)

  for (const comp of CONTROL_PLANE) {
    say(`updating ${q(comp)} to version ${q(to.text)}`)
    for (const x of cps) {
      say(` > ${q(x.n.address)}: starting update`)
      const cur = imageTag(x.config, comp)
      if (cur === `v${to.text}`) continue
      say(` > update ${comp}: ${cur} -> ${to.text}`)
      if (dryRun) {
        say(' > skipped in dry-run')
        continue
      }
      x.config = retag(x.config, comp, to.text)
      writeConfig(x.n, x.config)
      say(` > ${q(x.n.address)}: machine configuration patched`)
      say(` > ${q(x.n.address)}: waiting for ${comp} pod update`)
      if (comp === 'kube-apiserver') {
        await stopKubeApi(x.n.name)
        await reconcileNode(x.n.name)
      }
      say(` < ${q(x.n.address)}: successfully updated`)
    }
  }
  say(`updating kube-proxy to version ${q(to.text)}`)
  for (const x of cps) {
    say(` > ${q(x.n.address)}: starting update`)
    if (imageTag(x.config, 'kube-proxy') === `v${to.text}`) continue
    if (dryRun) {
      say(' > skipped in dry-run')
      continue
    }
    x.config = retag(x.config, 'kube-proxy', to.text)
    writeConfig(x.n, x.config)
  }
  if (ctx.flags['upgrade-kubelet'] !== false) {
    say(`updating kubelet to version ${q(to.text)}`)
    for (const x of [...cps, ...workers]) {
      say(` > ${q(x.n.address)}: starting update`)
      const cur = imageTag(x.config, 'kubelet')
      if (cur === `v${to.text}`) continue
      say(` > update kubelet: ${cur} -> ${to.text}`)
      if (dryRun) {
        say(' > skipped in dry-run')
        continue
      }
      x.config = retag(x.config, 'kubelet', to.text)
      writeConfig(x.n, x.config)
      say(` > ${q(x.n.address)}: machine configuration patched`)
      say(` > ${q(x.n.address)}: waiting for kubelet restart`)
      say(` > ${q(x.n.address)}: waiting for node update`)
      say(` < ${q(x.n.address)}: successfully updated`)
    }
  }
}
