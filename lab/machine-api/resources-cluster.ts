// A lab machine's name and the cluster members it discovers (pkg/machinery/resources/{network,cluster} at v1.10.3).
import { createHash } from 'node:crypto'
import { isDown, loadNodes, type LabNode } from '../state.ts'
import type { ModelResource } from './model-resource.ts'
import { runningConfig } from './running-config.ts'

/**
 * The machine's hostname: machine.network.hostname when the config sets it (controllers/network/hostname_config.go,
 * the configuration layer wins over the default). Without it Talos picks a default the lab does not model (from the
 * node identity with features.stableHostname, else from the address); the lab's machines then keep their inventory
 * name, the name the rest of the lab (kubelet, etcd) registers them under.
 */
export function hostnameOf(n: LabNode): string | undefined {
  const cfg = runningConfig(n)
  return cfg ? (cfg.view.hostname ?? n.name) : undefined
}

/** HostnameStatuses.net.talos.dev, ID "hostname" (network.HostnameID), once the machine has its config. */
export function hostnameStatus(n: LabNode): ModelResource[] {
  const hostname = hostnameOf(n)
  if (hostname === undefined) return []
  return [{ id: 'hostname', owner: 'network.HostnameSpecController', spec: { hostname, domainname: '' } }]
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/**
 * The node identity: 32 random bytes in base62, made once and kept in STATE (internal/app/machined/pkg/adapters/
 * cluster/identity.go Generate, constants.DefaultNodeIdentitySize). The lab derives its bytes from the machine's name.
 */
function nodeIdOf(n: LabNode): string {
  let v = BigInt(`0x${createHash('sha256').update(`lab node identity ${n.name}`).digest('hex')}`)
  let s = ''
  while (v > 0n) {
    s = BASE62[Number(v % 62n)] + s
    v /= 62n
  }
  return s
}

/**
 * Members.cluster.talos.dev: the affiliates discovery finds, itself included, ID the nodename (controllers/cluster/
 * member.go), spec from each machine's local affiliate (local_affiliate.go: hostname, machine type,
 * "Talos (<tag>)", its routed addresses, the API server's local port on control planes). The lab's discovery sees
 * every configured machine of the cluster that is up.
 */
export function members(n: LabNode): ModelResource[] {
  const mine = runningConfig(n)
  if (!mine) return []
  return loadNodes().flatMap((m) => {
    const cfg = runningConfig(m)
    if (!cfg || isDown(m) || cfg.view.clusterName !== mine.view.clusterName) return []
    const hostname = hostnameOf(m)!
    return [
      {
        id: hostname,
        owner: 'cluster.MemberController',
        spec: {
          nodeId: nodeIdOf(m),
          addresses: [m.address],
          hostname,
          machineType: cfg.view.type,
          operatingSystem: `Talos (${m.talosVersion})`,
          ...(cfg.view.type !== 'worker' ? { controlPlane: { port: cfg.localApiServerPort } } : {}),
        },
      },
    ]
  })
}
