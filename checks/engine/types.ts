// The check suite's vocabulary. A check is data: which nodes it judges, which named data sources it
// needs, and a PURE evaluate over already-fetched data. All I/O lives in sources.ts; the runner
// fetches each source once for every target, so a check can be tested with fixtures alone.
import type { EthernetStatus } from '../../lib/talos/ethernet-status.ts'
import type { CheckInventory } from './inventory.ts'
import type { KubeCsr, KubeNode, KubePod } from '../../lib/kube/kubectl.ts'
import type { EtcdMemberRow, HealthReport } from '../../lib/talos/parse.ts'
import type { BackupEntry } from '../../lib/talos/etcd-backups.ts'

export type Status = 'pass' | 'warn' | 'fail'

export interface Evidence {
  seen: unknown
  wanted: unknown
}

export interface Result {
  /** The check id, e.g. 'etcd.leader'. */
  check: string
  /** A node name from the inventory, 'cluster', or '<node>/<item>' for per-item results. */
  target: string
  status: Status
  /** What was judged, whole: --json and --wide show it. */
  evidence: Evidence
  /** The same evidence in a person's words (`Running`, `3/3 members`): the table's SEEN and WANTED (results.ts). */
  text: { seen: string; wanted: string }
  message: string
}

/** Data a source could fetch for some nodes and not for others: one node's failure fails only its checks. */
export interface PerNode<T> {
  values: Record<string, T>
  errors: Record<string, string>
}

// ---- source payloads -------------------------------------------------------------------------

export interface EtcdStatusRow {
  /** Inventory node name (the source maps talosctl's address column back to names). */
  node: string
  memberId: string
  /** Bytes. */
  dbSize: number
  dbSizeInUse: number
  raftIndex: number
  raftTerm: number
  raftAppliedIndex: number
  leader: string
  learner: boolean
  errors: string[]
}

export interface EtcdAlarmRow {
  node: string
  memberId: string
  alarm: string
}

export interface ServiceRow {
  node: string
  id: string
  state: string
  health: string
}

interface NumaNodeView {
  id: number
  cpus: number[]
  memTotalMiB: number
}

export interface NumaView {
  nodes: NumaNodeView[]
  /** distances[i][j] between the i-th and j-th entry of nodes. */
  distances: number[][]
  /** The topology rendered as `numactl --hardware` prints it. */
  numactl: string
}

export interface StorageMount {
  name: string
  mountPoint: string
  /** From /proc/mounts; undefined when nothing is mounted there. */
  filesystem?: string
  source?: string
  /** The validator's directory in the volume (config/inventory.ts storageDataDir), which owner and mode are of. */
  dataDir?: string
  /** The data directory's, from the node's API (`talosctl ls -l`); undefined when unknown. */
  owner?: { uid: number; gid: number; mode: string }
  /** The node said the data directory does not exist (05-storage-tuning creates it). */
  dataDirMissing?: boolean
  /** Bytes, from `talosctl mounts`; undefined when the API did not report it. */
  sizeBytes?: number
  availableBytes?: number
}

/** One device IRQ of /proc/interrupts and its /proc/irq/<n>/ affinity files, as read (kernel list format). */
export interface IrqAffinityRow {
  irq: number
  /** The action names /proc/interrupts prints for it (`nvme0q1`); [] when no handler is attached. */
  actions: string[]
  /** /proc/irq/<n>/effective_affinity_list: where the interrupt controller sends it; undefined without the file. */
  effectiveAffinity?: string
  /** /proc/irq/<n>/smp_affinity_list (where it may go), read only when there is no effective_affinity_list. */
  smpAffinity?: string
}

/** Two reads of /proc/interrupts and the time between them. */
export interface InterruptSample {
  before: string
  after: string
  windowMs: number
}

/** Every named source and what it yields. A check's evaluate sees exactly the ones it needs. */
export interface SourceData {
  /** `kubectl get nodes -o json` and how long the API took to answer it. */
  k8sNodes: { items: KubeNode[]; latencyMs: number }
  /** `kubectl get pods -A -o json`. */
  k8sPods: { items: KubePod[] }
  /** `kubectl get csr -o json`; readAt is Date.now() when read (a pending request's age). */
  k8sCsrs: { items: KubeCsr[]; readAt: number }
  /** One `talosctl -n <all CPs> etcd status`; nodes that did not answer are in nodeErrors. */
  etcdStatus: { rows: EtcdStatusRow[]; nodeErrors: Record<string, string> }
  /** `talosctl -n <one CP> etcd members`, from the node named in `from`. */
  etcdMembers: { members: EtcdMemberRow[]; from: string }
  etcdAlarms: { alarms: EtcdAlarmRow[] }
  /** <outputDir>/backups/index.json (10-etcd-backup), read on this machine; readAt is Date.now() when read. */
  etcdBackups: { dir: string; entries: BackupEntry[]; readAt: number }
  /** One `talosctl -n <all> service`. */
  services: { rows: ServiceRow[]; nodeErrors: Record<string, string> }
  /** `talosctl -n <a control plane> health` (server-side): each condition's last state, as talosctl printed it. */
  talosHealth: { from: string; command: string; exitCode: number; report: HealthReport }
  /** /proc/cmdline text. */
  cmdline: PerNode<string>
  /** /proc/meminfo text. */
  meminfo: PerNode<string>
  /** /proc/modules text. */
  modules: PerNode<string>
  /** /usr/lib/modules/<release>/modules.builtin text: what the kernel has built in (never in /proc/modules). */
  modulesBuiltin: PerNode<string>
  /** /proc/sys/net/ipv4/tcp_available_congestion_control text. */
  tcpCongestion: PerNode<string>
  /** sysctl key → current value (KernelParamStatus resources, one batched `get`). */
  sysctls: PerNode<Record<string, string>>
  /** /etc/cri/conf.d/base-spec.json: the OCI base spec containerd gives the node's CRI containers. */
  criBaseSpec: PerNode<string>
  /** fdctl's host limits (checks/defs/solana.ts HOST_LIMITS): sysctl key → /proc/sys value; absent keys have no file. */
  hostLimits: PerNode<Record<string, string>>
  /** link name → its EthernetStatus (one batched `talosctl get ethernetstatus -o json`). */
  ethernetStatus: PerNode<Record<string, EthernetStatus>>
  /** NUMA topology read through the Talos API from /sys/devices/system/node. */
  numa: PerNode<NumaView>
  /** Page size (kB) → NUMA node id → nr_hugepages, for each of the inventory's page sizes. */
  hugepagesSysfs: PerNode<Record<number, Record<number, number>>>
  /** Reserved CPU → its /sys/devices/system/cpu/cpuN/topology/thread_siblings_list (the CPUs of its core). */
  threadSiblings: PerNode<Record<number, string>>
  /** /sys/devices/system/cpu/online */
  cpuOnline: PerNode<string>
  /** Every device IRQ (numeric row of /proc/interrupts) with its affinity lists. */
  irqAffinity: PerNode<IrqAffinityRow[]>
  /** Online CPU → /sys/devices/system/cpu/cpuN/cpufreq/scaling_governor, null when the CPU has no cpufreq. */
  cpuGovernors: PerNode<Record<number, string | null>>
  /** /proc/interrupts read twice, about a second apart. */
  interruptSample: PerNode<InterruptSample>
  /** /sys/devices/system/cpu/isolated and nohz_full as read, null when there is no such file. */
  cpuIsolationSysfs: PerNode<{ isolated: string | null; nohzFull: string | null }>
  /** The kubelet configuration the node runs (machine config machine.kubelet.extraConfig). */
  kubeletConfig: PerNode<Record<string, unknown>>
  /** The validator's storage volumes as seen on the node. */
  storage: PerNode<StorageMount[]>
}

export type SourceName = keyof SourceData

export interface Check<N extends SourceName = SourceName> {
  id: string
  group: string
  title: string
  /** The targets this check reports on (node names, or ['cluster']). */
  targets: (inv: CheckInventory) => string[]
  needs: readonly N[]
  evaluate: (data: Pick<SourceData, N>, inv: CheckInventory) => Result[]
}

/** Keeps `needs` and `evaluate`'s data type in step. */
export function defineCheck<N extends SourceName>(c: Check<N>): Check<N> {
  return c
}

/** Erased for collections; the runner hands every check exactly the sources it declared. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a list of checks each with its own fact type
export type AnyCheck = Check<any>

export interface Summary {
  pass: number
  warn: number
  fail: number
}

export interface Report {
  cluster: string
  target: string
  startedAt: string
  durationMs: number
  results: Result[]
  summary: Summary
}
