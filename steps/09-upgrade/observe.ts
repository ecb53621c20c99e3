// What each node runs, read through the Talos API the way talosctl reports it: the Talos version (`talosctl version`,
// Tag), the Image Factory schematic (`talosctl get extensions`: the "schematic" extension's version is the schematic
// ID, website/content/v1.10/learn-more/image-factory.md at v1.10.3) and the kernel command line (`/proc/cmdline`).
// A node that does not answer is recorded, never thrown: the plan refuses with its name.
import type { Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { planUpgrade, type NodeObservation, type UpgradePlan } from './plan.ts'
import { errText } from '../live-probes.ts'

interface ExtensionSpec {
  metadata?: { name?: string; version?: string }
}

export async function observeNode(c: Cluster, n: InventoryNode): Promise<NodeObservation> {
  try {
    const [version, extensions, cmdline] = await Promise.all([
      c.talos.version([n.address]),
      c.talos.get<ExtensionSpec>('extensions', [n.address]),
      c.talos.read(n.address, '/proc/cmdline'),
    ])
    const schematic = extensions.find((e) => e.spec?.metadata?.name === 'schematic')?.spec.metadata?.version
    return {
      name: n.name,
      version: version.servers[0]?.tag,
      cmdline: cmdline.trim(),
      ...(schematic ? { schematic } : {}),
    }
  } catch (e) {
    return { name: n.name, error: errText(e) }
  }
}

/** Kubelet versions of the registered nodes; none when the API does not answer (the plan then skips Kubernetes). */
export async function kubeletVersions(c: Cluster): Promise<string[]> {
  try {
    return (await c.kube.nodes()).map((k) => k.status?.nodeInfo?.kubeletVersion).filter((v): v is string => !!v)
  } catch {
    return []
  }
}

export async function observePlan(c: Cluster): Promise<UpgradePlan> {
  const [observed, kubelets] = await Promise.all([
    Promise.all(c.inv.nodes.map((n) => observeNode(c, n))),
    kubeletVersions(c),
  ])
  return planUpgrade(c.inv, observed, kubelets)
}
