// Simulated machines for the lab, by profile name (`lab: { hardware: NAME }` in inventory/lab.yaml). A profile
// drives the node's sysroot (NUMA sysfs, meminfo), what `talosctl get disks` lists, and kubelet capacity.
// Besides the inventory's profiles there are layouts for tests of NUMA handling (real numactl is the oracle).
import type { LabEthtool } from './ethtool.ts'
import type { Hardware, LabDisk } from './state.ts'

const GiB = 1024 // numaMemoryMiB is in MiB

const range = (from: number, count: number, step = 1) => Array.from({ length: count }, (_, i) => from + i * step)

/** Contiguous numbering: node0 0..n-1, node1 n..2n-1, ... */
const contiguous = (nodes: number, perNode: number) => range(0, nodes).map((n) => range(n * perNode, perNode))
/** Interleaved numbering as many 2-socket BIOSes enumerate: node0 0,2,4..., node1 1,3,5... */
const interleaved = (perNode: number) => [range(0, perNode, 2), range(1, perNode, 2)]

/** Same distance to every remote node (10 local, as ACPI SLIT normalises). */
const uniformDistances = (nodes: number, remote: number) =>
  range(0, nodes).map((i) => range(0, nodes).map((j) => (i === j ? 10 : remote)))

/** go-style "nvme.<vid>-<serial hex>-<model hex>-<nsid>" wwid, as Linux builds it for NVMe without EUI/NGUID. */
const nvmeWwid = (serial: string, model: string) =>
  `nvme.1b36-${Buffer.from(serial).toString('hex')}-${Buffer.from(model).toString('hex')}-00000001`

const virtioDisk = (dev: string, sizeBytes: number): LabDisk => ({
  dev,
  sizeBytes,
  model: 'QEMU HARDDISK',
  serial: '',
  transport: 'virtio',
  rotational: true,
})

const nvmeDisk = (dev: string, sizeBytes: number, model: string, serial: string): LabDisk => ({
  dev,
  sizeBytes,
  model,
  serial,
  wwid: nvmeWwid(serial, model),
  transport: 'nvme',
  rotational: false,
})

const GB = 1e9

/** The validator's NVMe drives: system, then accounts (3.84 TB), then ledger (1.92 TB). */
const validatorDisks = (): LabDisk[] => [
  nvmeDisk('/dev/nvme0n1', 512 * GB, 'LAB NVMe 512GB', 'LABSYS00000001'),
  nvmeDisk('/dev/nvme1n1', 3_840_000_000_000, 'LAB NVMe 3.84TB', 'LABACC00000001'),
  nvmeDisk('/dev/nvme2n1', 1_920_000_000_000, 'LAB NVMe 1.92TB', 'LABLDG00000001'),
]

/**
 * One port of a 25 GbE ConnectX NIC as ethtool shows it (lab values in mlx5's shape): up to one combined channel per
 * CPU, rings up to 8192 starting at 1024, and the offloads Firedancer turns off (ethtool-offloads.c) changeable.
 */
const mlx5Port = (cpus: number): LabEthtool => ({
  channels: { combinedMax: cpus, combined: Math.min(cpus, 8) },
  rings: { rxMax: 8192, txMax: 8192, rx: 1024, tx: 1024 },
  features: [
    { name: 'tx-checksum-ip-generic', on: true },
    { name: 'highdma', on: true, fixed: true },
    { name: 'rx-vlan-filter', on: true },
    { name: 'tx-generic-segmentation', on: true },
    { name: 'rx-gro', on: true },
    { name: 'rx-lro', on: false },
    { name: 'tx-tcp-segmentation', on: true },
    { name: 'tx-gre-segmentation', on: true },
    { name: 'tx-gre-csum-segmentation', on: true },
    { name: 'tx-udp-segmentation', on: true },
    { name: 'rx-ntuple-filter', on: false },
    { name: 'rx-checksum', on: true },
    { name: 'loopback', on: false, fixed: true },
    { name: 'rx-gro-hw', on: false, fixed: true },
    { name: 'rx-udp-gro-forwarding', on: false },
  ],
})

const PROFILES: Record<string, () => Hardware> = {
  controlplane: () => ({
    numaCpus: contiguous(1, 4),
    numaMemoryMiB: [8 * GiB],
    distances: [[10]],
    disks: [virtioDisk('/dev/sda', 64 * GB)],
  }),
  worker: () => ({
    numaCpus: contiguous(1, 8),
    numaMemoryMiB: [16 * GiB],
    distances: [[10]],
    disks: [virtioDisk('/dev/sda', 128 * GB)],
  }),
  'validator-2socket': () => ({
    numaCpus: interleaved(16),
    // 16 cores with 2 threads each, numbered as Linux does on AMD/Intel SMT: the second thread of core c is CPU c+16
    // (both on the same socket, since c and c+16 share parity under interleaved numbering).
    threadSiblings: range(0, 16).map((c) => [c, c + 16]),
    numaMemoryMiB: [32 * GiB, 32 * GiB],
    distances: uniformDistances(2, 21),
    // Two ports of one 25 GbE NIC, both cabled: the first to the node network, the second to a storage/backup switch
    // that runs its own DHCP server. Talos runs DHCP on the second too unless the config names it (lab/network.ts).
    links: [
      {
        name: 'enp65s0f0np0',
        mac: '0c:42:a1:21:00:00',
        busPath: '0000:41:00.0',
        driver: 'mlx5_core',
        carrier: true,
        ethtool: mlx5Port(32),
      },
      {
        name: 'enp65s0f1np1',
        mac: '0c:42:a1:21:00:01',
        busPath: '0000:41:00.1',
        driver: 'mlx5_core',
        carrier: true,
        ethtool: mlx5Port(32),
        segment: { cidr: '192.168.100.0/24', router: '192.168.100.1' },
      },
    ],
    // The accounts drive is the larger one and sorts before the ledger drive (Talos lists disks by ID: nvme1n1 <
    // nvme2n1), so a ledger selector that also matches it puts the ledger there (lab/volumes.ts).
    disks: validatorDisks(),
  }),
  // The same machine reused from an earlier life: its ledger drive still carries the xfs filesystem it had, written
  // straight onto the disk. Talos v1.10 never partitions it (lab/volumes.ts) until `talosctl wipe disk nvme2n1`.
  'validator-2socket-reused': () => ({
    ...PROFILES['validator-2socket']!(),
    disks: validatorDisks().map((d) => (d.dev === '/dev/nvme2n1' ? { ...d, signature: 'xfs' } : d)),
  }),

  // ---- test layouts
  '1node': () => ({
    numaCpus: contiguous(1, 2),
    numaMemoryMiB: [4 * GiB],
    distances: [[10]],
    disks: [virtioDisk('/dev/sda', 32 * GB)],
  }),
  '2socket': () => ({
    numaCpus: contiguous(2, 8),
    numaMemoryMiB: [16 * GiB, 16 * GiB],
    distances: uniformDistances(2, 21),
    disks: [virtioDisk('/dev/sda', 64 * GB)],
  }),
  '4node': () => ({
    numaCpus: contiguous(4, 4),
    numaMemoryMiB: [8 * GiB, 8 * GiB, 8 * GiB, 6 * GiB],
    // two sockets of two dies: 16 to the sibling die, 22 across sockets. Row 3 is deliberately not the
    // transpose of column 3 (firmware SLITs can be asymmetric): a report that swaps rows and columns shows it.
    distances: [
      [10, 16, 22, 22],
      [16, 10, 22, 22],
      [22, 22, 10, 16],
      [28, 22, 16, 10],
    ],
    disks: [virtioDisk('/dev/sda', 64 * GB)],
  }),
  memoryless: () => ({
    // node1 has CPUs and no memory; node2 is memory without CPUs (CXL-style)
    numaCpus: [range(0, 4), range(4, 4), []],
    numaMemoryMiB: [8 * GiB, 0, 4 * GiB],
    distances: [
      [10, 21, 31],
      [21, 10, 31],
      [31, 31, 10],
    ],
    disks: [virtioDisk('/dev/sda', 64 * GB)],
  }),
  interleaved: () => ({
    // 48 CPUs: the cpumap needs two 32-bit groups, the first one short ("5555,55555555")
    numaCpus: interleaved(24),
    numaMemoryMiB: [12 * GiB, 12 * GiB],
    distances: uniformDistances(2, 32),
    disks: [virtioDisk('/dev/sda', 64 * GB)],
  }),
}

export const HARDWARE_PROFILES = Object.keys(PROFILES)

/** The cores of a machine: its SMT sibling groups, or one core per CPU without SMT. */
export const coresOf = (hw: Pick<Hardware, 'numaCpus' | 'threadSiblings'>): number[][] =>
  hw.threadSiblings ??
  hw.numaCpus
    .flat()
    .sort((a, b) => a - b)
    .map((c) => [c])

/** A fresh copy of the named profile (callers may mutate it). */
export function hardwareProfile(name: string): Hardware {
  const make = PROFILES[name]
  if (!make)
    throw new Error(`unknown lab hardware profile ${JSON.stringify(name)}; valid: ${HARDWARE_PROFILES.join(', ')}`)
  const hw = make()
  validateHardware(hw, name)
  return hw
}

/** Consistency of a Hardware value: one cpu/memory entry per node, square distances, each CPU on one node. */
export function validateHardware(hw: Hardware, what = 'hardware'): void {
  const n = hw.numaCpus.length
  if (n === 0) throw new Error(`${what}: no NUMA nodes`)
  if (hw.numaMemoryMiB.length !== n)
    throw new Error(`${what}: ${n} nodes in numaCpus but ${hw.numaMemoryMiB.length} in numaMemoryMiB`)
  if (hw.distances.length !== n || hw.distances.some((r) => r.length !== n))
    throw new Error(`${what}: distances must be ${n}x${n}`)
  const seen = new Set<number>()
  for (const [node, cpus] of hw.numaCpus.entries()) {
    for (const c of cpus) {
      if (!Number.isInteger(c) || c < 0) throw new Error(`${what}: node ${node} has bad cpu id ${c}`)
      if (seen.has(c)) throw new Error(`${what}: cpu ${c} is on more than one node`)
      seen.add(c)
    }
  }
  if (seen.size === 0) throw new Error(`${what}: no CPUs`)
  if (hw.threadSiblings) {
    const nodeOf = new Map(hw.numaCpus.flatMap((cpus, node) => cpus.map((c) => [c, node] as const)))
    const inCore = new Set<number>()
    for (const core of hw.threadSiblings) {
      for (const c of core) {
        if (!nodeOf.has(c)) throw new Error(`${what}: threadSiblings names cpu ${c}, which is on no node`)
        if (inCore.has(c)) throw new Error(`${what}: cpu ${c} is in more than one core`)
        inCore.add(c)
      }
      if (new Set(core.map((c) => nodeOf.get(c))).size > 1)
        throw new Error(`${what}: core ${core.join(',')} spans NUMA nodes`)
    }
    if (inCore.size !== seen.size) throw new Error(`${what}: threadSiblings must cover every cpu`)
  }
  if (hw.numaMemoryMiB.every((m) => m <= 0)) throw new Error(`${what}: no node has memory`)
}
