// The steps of 05-storage-tuning: every assertion is read back from the node (Talos API) or from
// Kubernetes, never assumed from the config we applied.
import { log } from './log.ts'
import type { Cluster } from './cluster.ts'
import type { InventoryNode } from './inventory.ts'
import type { KubeNode, KubeTaint } from './kube.ts'

interface MountSpec {
  source: string
  target: string
  filesystemType: string
}

export interface StorageWant {
  name: string
  mountPoint: string
  filesystem: string
}

/** Each inventory volume must be mounted at its mount point with its filesystem. */
export function storageProblems(want: StorageWant[], mounts: MountSpec[]): string[] {
  return want.flatMap((w) => {
    const m = mounts.find((x) => x.target === w.mountPoint)
    if (!m) return [`${w.name}: nothing mounted at ${w.mountPoint} (the UserVolumeConfig did not provision it: check its diskSelector against \`talosctl get disks\`)`]
    return m.filesystemType === w.filesystem ? [] : [`${w.name}: ${w.mountPoint} is ${m.filesystemType}, the inventory wants ${w.filesystem}`]
  })
}

export async function readMounts(c: Cluster, node: InventoryNode): Promise<MountSpec[]> {
  return (await c.talos.get<MountSpec>('mountstatus', [node.address])).map((r) => r.spec)
}

export function missingLabels(k: KubeNode, want: Record<string, string>): Record<string, string> {
  const have = k.metadata.labels ?? {}
  return Object.fromEntries(Object.entries(want).filter(([key, v]) => have[key] !== v))
}

export function missingTaints(k: KubeNode, want: KubeTaint[]): KubeTaint[] {
  const have = ((k as unknown as { spec?: { taints?: KubeTaint[] } }).spec?.taints ?? [])
  return want.filter((t) => !have.some((h) => h.key === t.key && (h.value ?? '') === (t.value ?? '') && h.effect === t.effect))
}

const GI = 2 ** 30
export function quantityBytes(q: string | undefined): number {
  if (!q) return 0
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q)
  if (!m) return NaN
  const mult: Record<string, number> = { Ki: 1024, Mi: 2 ** 20, Gi: GI, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }
  return Number(m[1]) * (m[2] ? mult[m[2]]! : 1)
}

/** kubelet must hold back at least system+kube reserved + hard eviction from the node's memory. */
export function reservationProblems(k: KubeNode, reservedBytes: number): string[] {
  const st = (k as unknown as { status?: { capacity?: Record<string, string>; allocatable?: Record<string, string> } }).status ?? {}
  const cap = quantityBytes(st.capacity?.memory)
  const alloc = quantityBytes(st.allocatable?.memory)
  const huge = quantityBytes(st.capacity?.['hugepages-1Gi']) + quantityBytes(st.capacity?.['hugepages-2Mi'])
  const held = cap - huge - alloc
  if (!(held >= reservedBytes - 1024)) return [`kubelet holds back ${(held / GI).toFixed(2)} GiB of memory, the inventory reserves ${(reservedBytes / GI).toFixed(2)} GiB`]
  log.dim(`  kubelet holds back ${(held / GI).toFixed(2)} GiB (reserved + eviction: ${(reservedBytes / GI).toFixed(2)} GiB)`)
  return []
}
