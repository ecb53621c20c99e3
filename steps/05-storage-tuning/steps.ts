// The steps of 05-storage-tuning: every assertion is read back from the node (Talos API) or from
// Kubernetes, never assumed from the config we applied.
import { log } from '../../lib/runner/log.ts'
import type { Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { storageDataDir } from '../../config/volume-data-dir.ts'
import type { KubeNode, KubeObject, KubeTaint } from '../../lib/kube/kubectl.ts'
import { quantityValue } from '../../lib/kube/quantity.ts'

/** block.MountStatus (pkg/machinery/resources/block/mount_status.go MountStatusSpec): the filesystem is `filesystem`. */
interface MountSpec {
  source: string
  target: string
  filesystem: string
}

/**
 * The block subsystem's mounts, by full type name. `mountstatus` happens to resolve to it on v1.10.3, but only because
 * the runtime MountStatus (MountStatuses.runtime.talos.dev, spec field `filesystemType`) skips its automatic aliases
 * (resources/runtime/mount_status.go: SkipAutomaticAliases, alias `mounts`); the full name says which one we mean.
 */
const MOUNT_STATUS = 'MountStatuses.block.talos.dev'

interface StorageWant {
  name: string
  mountPoint: string
  filesystem: string
}

/** Each inventory volume must be mounted at its mount point with its filesystem. */
export function storageProblems(want: StorageWant[], mounts: MountSpec[]): string[] {
  return want.flatMap((w) => {
    const m = mounts.find((x) => x.target === w.mountPoint)
    if (!m)
      return [
        `${w.name}: nothing mounted at ${w.mountPoint} (Talos did not create the volume: the volume-disks step says why)`,
      ]
    return m.filesystem === w.filesystem
      ? []
      : [`${w.name}: ${w.mountPoint} is ${m.filesystem || 'of no filesystem'}, the inventory wants ${w.filesystem}`]
  })
}

export async function readMounts(c: Cluster, node: InventoryNode): Promise<MountSpec[]> {
  return (await c.talos.get<MountSpec>(MOUNT_STATUS, [node.address])).map((r) => r.spec)
}

export function missingLabels(k: KubeNode, want: Record<string, string>): Record<string, string> {
  const have = k.metadata.labels ?? {}
  return Object.fromEntries(Object.entries(want).filter(([key, v]) => have[key] !== v))
}

export function missingTaints(k: KubeNode, want: KubeTaint[]): KubeTaint[] {
  const have = (k as unknown as { spec?: { taints?: KubeTaint[] } }).spec?.taints ?? []
  return want.filter(
    (t) => !have.some((h) => h.key === t.key && (h.value ?? '') === (t.value ?? '') && h.effect === t.effect),
  )
}

const GI = 2 ** 30
/** A memory quantity in bytes: 0 when unset, NaN when it is not a Kubernetes quantity. */
export function quantityBytes(q: string | undefined): number {
  if (!q) return 0
  return quantityValue(q) ?? NaN
}

/** kubelet must hold back at least system+kube reserved + hard eviction from the node's memory. */
export function reservationProblems(k: KubeNode, reservedBytes: number): string[] {
  const st =
    (k as unknown as { status?: { capacity?: Record<string, string>; allocatable?: Record<string, string> } }).status ??
    {}
  const cap = quantityBytes(st.capacity?.memory)
  const alloc = quantityBytes(st.allocatable?.memory)
  const huge = quantityBytes(st.capacity?.['hugepages-1Gi']) + quantityBytes(st.capacity?.['hugepages-2Mi'])
  const held = cap - huge - alloc
  if (!(held >= reservedBytes - 1024))
    return [
      `kubelet holds back ${(held / GI).toFixed(2)} GiB of memory, the inventory reserves ${(reservedBytes / GI).toFixed(2)} GiB`,
    ]
  log.dim(
    `  kubelet holds back ${(held / GI).toFixed(2)} GiB (reserved + eviction: ${(reservedBytes / GI).toFixed(2)} GiB)`,
  )
  return []
}

export interface Ownership {
  uid: number
  gid: number
  mode: string
}

interface StorageOwnerWant {
  name: string
  mountPoint: string
  /** Where owner and mode apply (config/inventory.ts StorageSpec.dataDir); default <mountPoint>/data. */
  dataDir?: string
  owner?: { uid: number; gid: number }
  mode?: string
}

const normMode = (m: string) => m.replace(/^0o/, '').padStart(4, '0').slice(-4)

/** Talos prints `drwxr-x---`; the inventory uses octal. */
export function modeToOctal(mode: string): string {
  if (/^0?[0-7]{3,4}$/.test(mode)) return normMode(mode)
  const bits = mode.slice(-9)
  let n = 0
  for (const ch of bits) n = n * 2 + (ch === '-' ? 0 : 1)
  return n.toString(8).padStart(4, '0')
}

export function ownershipProblems(want: StorageOwnerWant, seen: Ownership | undefined): string | undefined {
  const dir = storageDataDir(want)
  if (!seen) return `${dir} does not exist yet`
  const wantMode = want.mode ? normMode(want.mode) : undefined
  const bad =
    (want.owner && (seen.uid !== want.owner.uid || seen.gid !== want.owner.gid)) ||
    (wantMode && modeToOctal(seen.mode) !== wantMode)
  return bad
    ? `${dir} is ${seen.uid}:${seen.gid} ${modeToOctal(seen.mode)}, wants ${want.owner?.uid}:${want.owner?.gid} ${wantMode}`
    : undefined
}

/**
 * Ownership of a directory as the node reports it (`talosctl ls -l`: the row of the directory itself); undefined when
 * the node cannot list it (a data directory 05 has not created yet: machined answers `lstat …: no such file or
 * directory`).
 */
async function readOwnership(c: Cluster, node: InventoryNode, dir: string): Promise<Ownership | undefined> {
  const { ownerFromLs } = await import('../../checks/engine/sources.ts')
  const r = await c.talos.run(['list', '-l', dir], { nodes: [node.address], nothrow: true })
  if (r.exitCode === 0) return ownerFromLs(r.stdout, node.address)
  if (/no such file or directory/i.test(r.stderr)) return undefined
  throw new Error(`talosctl list -l ${dir} on ${node.name}: ${r.stderr.trim() || `exited ${r.exitCode}`}`)
}

/**
 * Talos has no config field for a user volume's owner, and the mount root cannot keep one: Talos v1.10.3 resets it
 * to root:root 0755 at every mount (controllers/block/user_volume_config.go:160-167 MountSpec, mount.go:487 →
 * updateTargetSettings: chmod :406, chown :417-425, not recursive). So a one-shot privileged pod on the node, which
 * tolerates the validator's taints and has each mount point as a hostPath volume, creates the data directory inside
 * it (mkdir -p: safe to re-run) and sets owner and mode on that directory, which keeps them across mounts.
 */
export function permissionsPodManifest(
  node: string,
  want: StorageOwnerWant[],
  taints: KubeTaint[],
  name = 'validator-storage-permissions',
): KubeObject {
  const script = want
    .flatMap((w, i) => {
      const dir = `/vol${i}/${storageDataDir(w).slice(w.mountPoint.length + 1)}`
      return [
        `mkdir -p ${dir}`,
        ...(w.owner ? [`chown ${w.owner.uid}:${w.owner.gid} ${dir}`] : []),
        ...(w.mode ? [`chmod ${normMode(w.mode)} ${dir}`] : []),
      ]
    })
    .join(' && ')
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'kube-system', labels: { 'app.kubernetes.io/managed-by': 'talos-runbooks' } },
    spec: {
      nodeName: node,
      restartPolicy: 'Never',
      tolerations: taints.map((t) => ({ key: t.key, operator: 'Equal', value: t.value ?? '', effect: t.effect })),
      containers: [
        {
          name: 'chown',
          image: 'busybox:1.36',
          command: ['sh', '-c', script],
          securityContext: { privileged: true, runAsUser: 0 },
          volumeMounts: want.map((_, i) => ({ name: `vol${i}`, mountPath: `/vol${i}` })),
        },
      ],
      volumes: want.map((w, i) => ({ name: `vol${i}`, hostPath: { path: w.mountPoint, type: 'Directory' } })),
    },
  } as KubeObject
}

/** What is wrong with the owner/mode of each volume's data directory, read from the node. */
export async function ownershipNow(c: Cluster, node: InventoryNode, want: StorageOwnerWant[]): Promise<string[]> {
  const out: string[] = []
  for (const w of want) {
    const p = ownershipProblems(w, await readOwnership(c, node, storageDataDir(w)))
    if (p) out.push(p)
  }
  return out
}
