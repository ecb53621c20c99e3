// What the lab's machines look like to Kubernetes: the applied machine config (nodes/<n>/config.yaml)
// and the sysroot (meminfo, hugepages) turned into a Node's labels, taints, capacity and allocatable,
// as Talos' kubelet would register it. nodeShape() is pure; readSysroot() does the file reads.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import type { LabNode } from './state.ts'
import type { Obj } from './manifest-objects.ts'
import { formatBinary, formatCpu, milli, parseQuantity } from './quantity.ts'

const DEFAULT_K8S_VERSION = 'v1.33.1'
export const CONTAINER_RUNTIME = 'containerd://2.0.5'
export const DEFAULT_KERNEL = '6.12.31-talos'

/** The v1alpha1 document of a multi-document machine config. */
export function parseMachineConfig(text: string, file = 'config.yaml'): Obj {
  const docs = parseAllDocuments(text)
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`)
    const o = d.toJS() as Obj | null
    if (o && (o.machine || o.cluster)) return o
  }
  throw new Error(`${file}: no v1alpha1 machine config document (machine:/cluster:)`)
}

/**
 * The kubelet's version, which it reports as nodeInfo.kubeletVersion: its image's tag (machine.kubelet.image, which
 * `talosctl upgrade-k8s` moves after the control plane's images: pkg/cluster/kubernetes/kubelet.go).
 */
export function kubeletVersion(cfg: Obj | undefined): string {
  const img = cfg?.machine?.kubelet?.image
  return (typeof img === 'string' ? /:(v\d+\.\d+\.\d+[^@]*)/.exec(img)?.[1] : undefined) ?? DEFAULT_K8S_VERSION
}

export const hostnameOf = (n: Pick<LabNode, 'name'>, cfg: Obj | undefined): string =>
  cfg?.machine?.network?.hostname || n.name

/** What nodeShape reads of a lab machine (lab/kubelet-agent/ passes a machine that has no lab state dir). */
export type ShapeMachine = Pick<LabNode, 'name' | 'address' | 'role' | 'hardware' | 'installDisk' | 'talosVersion'>

export interface SysFacts {
  memTotalBytes?: number
  /** page size in bytes → total pages */
  hugepages: Record<number, number>
  kernel?: string
}

/** Reads the lab sysroot: root/proc/meminfo and root/sys/devices/system/node/node* /hugepages. */
export function readSysroot(root: string): SysFacts {
  const facts: SysFacts = { hugepages: {} }
  const read = (p: string) => (existsSync(join(root, p)) ? readFileSync(join(root, p), 'utf8') : undefined)
  const meminfo = read('proc/meminfo')
  const kv = (k: string) => {
    const m = meminfo ? new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(meminfo) : null
    return m ? Number(m[1]) : undefined
  }
  const mt = kv('MemTotal')
  if (mt !== undefined) facts.memTotalBytes = mt * 1024
  const nodeDir = join(root, 'sys/devices/system/node')
  const numaNodes = existsSync(nodeDir) ? readdirSync(nodeDir).filter((d) => /^node\d+$/.test(d)) : []
  for (const nd of numaNodes) {
    const hp = join(nodeDir, nd, 'hugepages')
    if (!existsSync(hp)) continue
    for (const d of readdirSync(hp)) {
      const m = /^hugepages-(\d+)kB$/.exec(d)
      const f = join(hp, d, 'nr_hugepages')
      if (!m || !existsSync(f)) continue
      const size = Number(m[1]) * 1024
      facts.hugepages[size] = (facts.hugepages[size] ?? 0) + Number(readFileSync(f, 'utf8').trim() || 0)
    }
  }
  if (!Object.keys(facts.hugepages).length) {
    const total = kv('HugePages_Total')
    const size = kv('Hugepagesize')
    if (total && size) facts.hugepages[size * 1024] = total
  }
  facts.kernel = read('proc/sys/kernel/osrelease')?.trim() || undefined
  return facts
}

export interface Taint {
  key: string
  value?: string
  effect: string
  timeAdded?: string
}

/** machine.nodeTaints: `key: value:Effect` (Talos) — lists of {key,value,effect} accepted too. */
export function configTaints(cfg: Obj | undefined): Taint[] {
  const t = cfg?.machine?.nodeTaints
  if (!t) return []
  if (Array.isArray(t))
    return t.map((x: Obj) => ({ key: x.key, ...(x.value ? { value: String(x.value) } : {}), effect: x.effect }))
  return Object.entries<string>(t).map(([key, v]) => {
    const s = String(v)
    const i = s.lastIndexOf(':')
    const value = i >= 0 ? s.slice(0, i) : s
    const effect = i >= 0 ? s.slice(i + 1) : 'NoSchedule'
    return { key, ...(value ? { value } : {}), effect }
  })
}

/** machine.kubelet.extraConfig.registerWithTaints (core/v1 Taint list), as kubelet registers the Node with them. */
function kubeletRegisterTaints(cfg: Obj | undefined): Taint[] {
  const t = cfg?.machine?.kubelet?.extraConfig?.registerWithTaints
  return Array.isArray(t)
    ? t.map((x: Obj) => ({
        key: String(x.key),
        ...(x.value ? { value: String(x.value) } : {}),
        effect: String(x.effect),
      }))
    : []
}

const HUGE_NAMES: Record<number, string> = { [2 ** 30]: 'hugepages-1Gi', [2 ** 21]: 'hugepages-2Mi' }

export interface NodeShape {
  name: string
  role: 'controlplane' | 'worker'
  /** What the kubelet sets on its own Node (with the node's credentials). */
  kubeletLabels: Record<string, string>
  /** Labels Talos' NodeApplyController keeps on the node: machine.nodeLabels, plus the control-plane role label. */
  configLabels: Record<string, string>
  /** Annotations Talos' NodeApplyController keeps on the node: machine.nodeAnnotations. */
  configAnnotations: Record<string, string>
  /** KubeletConfiguration.registerWithTaints: the taints the Node is created with. */
  registerTaints: Taint[]
  /** Taints Talos' NodeApplyController keeps on the node: machine.nodeTaints, plus the control-plane taint. */
  configTaints: Taint[]
  /** Whose credentials Talos' NodeApplyController writes with: admin on control planes, the kubelet's on workers. */
  talosUser: { name: string; groups: string[] }
  capacity: Record<string, string>
  allocatable: Record<string, string>
  addresses: { type: string; address: string }[]
  nodeInfo: Obj
}

/** The Node a Talos kubelet registers for this machine. */
export function nodeShape(n: ShapeMachine, cfg: Obj | undefined, sys: SysFacts): NodeShape {
  const name = hostnameOf(n, cfg)
  const role = (
    cfg?.machine?.type === 'controlplane' || cfg?.machine?.type === 'init'
      ? 'controlplane'
      : cfg?.machine?.type === 'worker'
        ? 'worker'
        : n.role
  ) as NodeShape['role']
  const kubeletLabels = {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
  }
  // Talos v1.10.3: node_label_spec.go adds the control-plane role label to machine.nodeLabels on control planes;
  // node_taint_spec.go and kubelet_spec.go (registerWithTaints) add the control-plane taint unless scheduling is allowed.
  const configLabels: Record<string, string> = Object.fromEntries(
    Object.entries(cfg?.machine?.nodeLabels ?? {}).map(([k, v]) => [k, String(v ?? '')]),
  )
  if (role === 'controlplane') configLabels['node-role.kubernetes.io/control-plane'] = ''
  const cpTaint: Taint[] =
    role === 'controlplane' && !cfg?.cluster?.allowSchedulingOnControlPlanes
      ? [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }]
      : []
  const registerTaints: Taint[] = [
    ...cpTaint,
    ...kubeletRegisterTaints(cfg).filter((t) => !cpTaint.some((c) => c.key === t.key)),
  ]
  const talosUser =
    role === 'controlplane'
      ? { name: 'admin', groups: ['system:masters'] }
      : { name: `system:node:${name}`, groups: ['system:nodes'] }

  const extra: Obj = cfg?.machine?.kubelet?.extraConfig ?? {}
  const cpus = n.hardware.numaCpus.flat().length
  const memBytes = sys.memTotalBytes ?? n.hardware.numaMemoryMiB.reduce((a, b) => a + b, 0) * 2 ** 20
  const memKi = Math.floor(memBytes / 1024)
  const disk = n.hardware.disks.find((d) => d.dev === n.installDisk) ?? n.hardware.disks[0]
  // EPHEMERAL is what is left of the system disk after BOOT, META and STATE.
  const ephemeralKi = disk ? Math.max(0, Math.floor((disk.sizeBytes - 1.2 * 2 ** 30) / 1024)) : 0
  const huge: Record<string, number> = { 'hugepages-1Gi': 0, 'hugepages-2Mi': 0 }
  for (const [size, pages] of Object.entries(sys.hugepages)) {
    const nm = HUGE_NAMES[Number(size)] ?? `hugepages-${formatBinary(Number(size))}`
    huge[nm] = (huge[nm] ?? 0) + pages * Number(size)
  }
  const hugeTotal = Object.values(huge).reduce((a, b) => a + b, 0)
  const capacity: Record<string, string> = {
    cpu: String(cpus),
    'ephemeral-storage': `${ephemeralKi}Ki`,
    ...Object.fromEntries(Object.entries(huge).map(([k, v]) => [k, formatBinary(v)])),
    memory: `${memKi}Ki`,
    pods: String(extra.maxPods ?? 110),
  }
  const reserved = (k: string) => parseQuantity(extra.systemReserved?.[k]) + parseQuantity(extra.kubeReserved?.[k])
  const evictMem = extra.evictionHard?.['memory.available'] ?? '100Mi'
  const evictFs = String(extra.evictionHard?.['nodefs.available'] ?? '10%')
  // With reservedSystemCPUs kubelet sets systemReserved cpu to their count and deletes kubeReserved cpu (kubernetes
  // v1.33.1 cmd/kubelet/app/server.go:794-804): any cpu in those maps is ignored.
  const cpuReservedMilli = extra.reservedSystemCPUs
    ? expandCpuList(String(extra.reservedSystemCPUs)).length * 1000
    : milli(extra.systemReserved?.cpu) + milli(extra.kubeReserved?.cpu)
  const memAlloc = Math.max(0, memKi * 1024 - reserved('memory') - parseQuantity(evictMem) - hugeTotal)
  const fsBytes = ephemeralKi * 1024
  const fsEvict = evictFs.endsWith('%') ? (fsBytes * Number(evictFs.slice(0, -1))) / 100 : parseQuantity(evictFs)
  const allocatable: Record<string, string> = {
    cpu: formatCpu(Math.max(0, cpus * 1000 - cpuReservedMilli)),
    'ephemeral-storage': String(Math.max(0, Math.floor(fsBytes - reserved('ephemeral-storage') - fsEvict))),
    ...Object.fromEntries(Object.entries(huge).map(([k, v]) => [k, formatBinary(v)])),
    memory: memAlloc % 1024 === 0 ? `${memAlloc / 1024}Ki` : String(memAlloc),
    pods: capacity.pods,
  }
  return {
    name,
    role,
    kubeletLabels,
    configLabels,
    configAnnotations: Object.fromEntries(
      Object.entries(cfg?.machine?.nodeAnnotations ?? {}).map(([k, v]) => [k, String(v ?? '')]),
    ),
    registerTaints,
    configTaints: [...cpTaint, ...configTaints(cfg).filter((t) => !cpTaint.some((c) => c.key === t.key))],
    talosUser,
    capacity,
    allocatable,
    addresses: [
      { type: 'InternalIP', address: n.address },
      { type: 'Hostname', address: name },
    ],
    nodeInfo: {
      architecture: 'amd64',
      bootID: '',
      containerRuntimeVersion: CONTAINER_RUNTIME,
      kernelVersion: sys.kernel ?? DEFAULT_KERNEL,
      kubeProxyVersion: '',
      kubeletVersion: kubeletVersion(cfg),
      machineID: '',
      operatingSystem: 'linux',
      osImage: `Talos (${n.talosVersion})`,
      systemUUID: '',
    },
  }
}

/** "0-3,8" → [0,1,2,3,8] */
function expandCpuList(s: string): number[] {
  const out: number[] = []
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const [a, b] = part.split('-').map(Number)
    for (let i = a; i <= (b ?? a); i++) out.push(i)
  }
  return out
}
