// What each node runs, read through the Talos API the way talosctl reports it: the Talos version (`talosctl version`,
// Tag), the Image Factory schematic (`talosctl get extensions`: the "schematic" extension's version is the schematic
// ID, website/content/v1.10/learn-more/image-factory.md at v1.10.3) and the kernel command line (`/proc/cmdline`).
// A node that does not answer is recorded, never thrown: the plan refuses with its name. When the kernel args the
// inventory renders for a node can take CPUs offline (nosmt, maxcpus=, nr_cpus=), also which CPUs it has, which are
// online, and the SMT siblings of its reserved CPUs (Documentation/ABI/stable/sysfs-devices-system-cpu,
// Documentation/admin-guide/cputopology.rst), so the plan can tell whether a reserved CPU would go offline.
import type { Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { nodeKernelArgs } from '../../config/render.ts'
import { cpuLimitingArgs } from '../../lib/host/cpu-online.ts'
import { parseCpuList } from '../../lib/host/numa.ts'
import { planUpgrade, type NodeObservation, type UpgradePlan } from './plan.ts'
import { errText } from '../live-probes.ts'

/** What reading one node takes: the inventory and talosctl. */
type NodeReader = Pick<Cluster, 'inv' | 'talos'>

interface ExtensionSpec {
  metadata?: { name?: string; version?: string }
}

/** The reserved CPUs whose fate the plan must judge: a validator's, when its rendered kernel args limit CPUs. */
function reservedCpusToJudge(c: NodeReader, n: InventoryNode): number[] {
  if (n.profile !== 'validator') return []
  const limits = cpuLimitingArgs(nodeKernelArgs(c.inv, n))
  if (!limits.nosmt && limits.maxcpus === undefined && limits.nrCpus === undefined) return []
  return parseCpuList(c.inv.validator?.reservedSystemCpus ?? '')
}

async function observeCpus(c: NodeReader, n: InventoryNode, reserved: number[]): Promise<NodeObservation['cpus']> {
  const cpu = '/sys/devices/system/cpu'
  const [present, online, lists] = await Promise.all([
    c.talos.read(n.address, `${cpu}/present`),
    c.talos.read(n.address, `${cpu}/online`),
    // an offline CPU has no topology directory
    Promise.all(reserved.map((r) => c.talos.readOptional(n.address, `${cpu}/cpu${r}/topology/thread_siblings_list`))),
  ])
  const siblings: Record<number, number[]> = {}
  reserved.forEach((r, i) => {
    if (lists[i] !== undefined) siblings[r] = parseCpuList(lists[i]!.trim())
  })
  return { present: parseCpuList(present.trim()), online: parseCpuList(online.trim()), siblings }
}

export async function observeNode(c: NodeReader, n: InventoryNode): Promise<NodeObservation> {
  try {
    const reserved = reservedCpusToJudge(c, n)
    const [version, extensions, cmdline, cpus] = await Promise.all([
      c.talos.version([n.address]),
      c.talos.get<ExtensionSpec>('extensions', [n.address]),
      c.talos.read(n.address, '/proc/cmdline'),
      reserved.length ? observeCpus(c, n, reserved) : undefined,
    ])
    const schematic = extensions.find((e) => e.spec?.metadata?.name === 'schematic')?.spec.metadata?.version
    return {
      name: n.name,
      version: version.servers[0]?.tag,
      cmdline: cmdline.trim(),
      ...(schematic ? { schematic } : {}),
      ...(cpus ? { cpus } : {}),
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
