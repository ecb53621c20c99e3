// One control plane of the REAL Kubernetes components, as Talos v1.10.3 runs them from the product's configs: a real
// `talosctl gen secrets` bundle, the product's rendered config of every inventory node, the node's static pods as
// `talos-api render-control-plane` renders them, etcd with TLS, then kube-apiserver and, unless asked not to,
// kube-controller-manager and kube-scheduler (lab/control-plane.ts). What the real-* lab tests start (issue #23).
import { spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Inventory } from '../config/inventory.ts'
import { renderMachineConfigs } from '../config/render.ts'
import { parseSecretsBundle } from '../lib/talos/secrets-bundle.ts'
import { ensureBuilt, realTalosctl, TALOS_API_BUILD } from './go-builds.ts'
import {
  flagValue,
  kubeClientCert,
  renderControlPlane,
  startEtcd,
  startKubeApiServer,
  startKubeControllerManager,
  startKubeScheduler,
  stopChild,
  writeKubeconfig,
  type RenderedControlPlane,
} from './control-plane.ts'

export interface RealControlPlane {
  /** Every inventory node's rendered config by name, also written to <dir>/<node>.yaml (0600). */
  configs: Map<string, string>
  cp: RenderedControlPlane
  /** https://<ip>:<secure port> */
  server: string
  caFile: string
  /** The admin's kubeconfig (system:masters, as Talos's own clients). */
  adminKubeconfig: string
  /** A kubeconfig for `cn` in `orgs`, its certificate issued from the cluster CA as Talos issues them. */
  kubeconfigFor(name: string, cn: string, orgs: string[]): string
  stop(): Promise<void>
}

export async function startRealControlPlane(o: {
  inventory: Inventory
  node: string
  ip: string
  dir: string
  controllerManager?: boolean
  scheduler?: boolean
}): Promise<RealControlPlane> {
  const talosApi = await ensureBuilt(TALOS_API_BUILD, (s) => process.stderr.write(s))
  const secretsFile = join(o.dir, 'secrets.yaml')
  const gen = spawnSync(realTalosctl(), ['gen', 'secrets', '-o', secretsFile], { encoding: 'utf8' })
  if (gen.status !== 0) throw new Error(`talosctl gen secrets: ${gen.stderr}`)
  const secrets = parseSecretsBundle(readFileSync(secretsFile, 'utf8'), secretsFile)
  const configs = renderMachineConfigs(o.inventory, secrets)
  for (const [node, text] of configs) writeFileSync(join(o.dir, `${node}.yaml`), text, { mode: 0o600 })
  const configFile = join(o.dir, `${o.node}.yaml`)
  const cp = renderControlPlane(talosApi, configFile, join(o.dir, o.node), o.ip)

  const procs: ChildProcess[] = []
  const stop = async () => {
    for (const p of procs.reverse()) await stopChild(p)
  }
  const server = `https://${o.ip}:${flagValue(cp.args, 'secure-port')}`
  const caFile = join(cp.dir, 'secrets', 'ca.crt')
  const kubeconfigFor = (name: string, cn: string, orgs: string[]) =>
    writeKubeconfig(
      join(o.dir, `${name}.kubeconfig`),
      server,
      caFile,
      kubeClientCert(talosApi, configFile, join(o.dir, name), cn, orgs),
    )
  try {
    const etcd = { name: o.node, ip: o.ip, clientPort: 2379, peerPort: 2380, dataDir: join(o.dir, 'etcd') }
    procs.push(await startEtcd({ ...etcd, certs: join(cp.dir, 'etcd') }, join(o.dir, 'etcd.log')))
    const adminKubeconfig = kubeconfigFor('admin', 'admin', ['system:masters'])
    const adminCert = join(o.dir, 'admin')
    const log = (c: string) => join(o.dir, `${c}.log`)
    procs.push(await startKubeApiServer(cp, o.ip, `https://${o.ip}:2379`, adminCert, log('kube-apiserver')))
    if (o.controllerManager !== false)
      procs.push(await startKubeControllerManager(cp, o.ip, log('kube-controller-manager')))
    if (o.scheduler !== false) procs.push(await startKubeScheduler(cp, o.ip, log('kube-scheduler')))
    return { configs, cp, server, caFile, adminKubeconfig, kubeconfigFor, stop }
  } catch (e) {
    await stop()
    throw e
  }
}

/** A taint as the kubelet registers it (machine.kubelet.extraConfig.registerWithTaints). */
interface Taint {
  key: string
  value: string
  effect: string
}

/**
 * The drain tests' workload: two pause replicas in `namespace` that tolerate the validator's taint, and a
 * PodDisruptionBudget over them that allows no disruption (minAvailable 2).
 */
export function guardedWorkload(namespace: string, taint: Taint): { replicaSet: object; budget: object } {
  const labels = { app: 'guarded' }
  const metadata = { name: 'guarded', namespace }
  return {
    replicaSet: {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata,
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            tolerations: [{ key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect }],
            containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }],
          },
        },
      },
    },
    budget: {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata,
      spec: { minAvailable: 2, selector: { matchLabels: labels } },
    },
  }
}
