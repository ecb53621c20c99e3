// A lab node's sysroot: the procfs/sysfs files `talosctl read`/`ls` serve for the node and that real numactl reads
// (bind-mounted over /sys/devices/system/node). Formats are the kernel's (Linux 6.12, what Talos v1.10.3 runs):
// drivers/base/node.c (node meminfo, cpumap/cpulist, distance), fs/proc/meminfo.c, mm/hugetlb.c.
//
// The memory model is deterministic: each node with memory loses ~2% of its RAM to the kernel (MemTotal), the
// running system uses a fixed share of what remains, and huge pages allocated at boot come out of MemFree. Like real
// two-socket machines, each boot places a few dozen MiB of MemTotal on another NUMA node while the machine's total
// stays (bootShiftKiB).
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { writeCpuIsolation } from './interrupts.ts'
import type { Hardware } from './state.ts'
import { coresOf, validateHardware } from './hardware.ts'
import { onlineCpus } from './cpu-manager.ts'
import type { RuntimeConfig, RuntimeMount } from './machine-config.ts'
import { formatCpuList, formatCpumap } from '../lib/host/numa.ts'
import {
  escapeMountField,
  hugepagesFromCmdline,
  parseMounts,
  parseModules,
  sysctlPath,
  SUPPORTED_HUGEPAGE_KIB,
  type HugepageCmdline,
} from '../lib/host/procfs.ts'
import { partitionPath } from '../lib/host/block-device.ts'
import { ownerOf, setOwner } from './file-owners.ts'

export const KERNEL_RELEASE = '6.12.28-talos'
export const TALOS_VERSION = 'v1.10.3'
/** kB, largest first: the kernel places gigantic pages while parsing the command line, the others later. */
const HUGEPAGE_SIZES = [...SUPPORTED_HUGEPAGE_KIB].sort((a, b) => b - a)
/** What a node keeps free when the kernel places boot-time huge pages (watermarks, early allocations). */
const MIN_FREE_KIB = 64 * 1024

// ---------------------------------------------------------------- memory model (pure)

export interface NodeMemory {
  totalKiB: number
  /** Used by the running system, excluding huge pages. */
  usedKiB: number
  /** Huge pages per size (kB) on this node. */
  hugepages: Record<number, number>
  freeKiB: number
}

export interface HugepageAllocation {
  defaultSize: number
  /** size kB → pages per node (index = node). */
  perSize: Record<number, number[]>
  /** Kernel-style messages for what was asked but not (fully) allocated or was rejected. */
  warnings: string[]
}

const align4 = (kib: number) => Math.floor(kib / 4) * 4

/**
 * How much MemTotal the first NUMA node with memory gains (negative: loses) at boot number `boot`, in KiB; the last
 * one gives (takes) it, so the machine's MemTotal never changes. Real machines do this between boots (KASLR places
 * the kernel image on either node, early boot frees a varying amount): kubernetes issue 131253 shows node 2 of a
 * server at 135233794048 bytes before a reboot and 135277490176 after, 42672 KiB apart, with the nodes' sum
 * unchanged (openshift-kni/numaresources-operator #684/#694 saw 52500 KiB). Boot 0 (a new sysroot) shifts nothing;
 * every later boot shifts a different whole number of 4 KiB pages, at most 42672 KiB either way.
 */
export function bootShiftKiB(boot: number): number {
  if (boot <= 0) return 0
  return 4 * (((boot * 7919) % 21337) - 10668)
}

/** MemTotal and the baseline usage of each node before huge pages, at boot number `boot`. */
export function baseNodeMemory(hw: Hardware, boot = 0): NodeMemory[] {
  const withMemory = hw.numaMemoryMiB.flatMap((m, i) => (m > 0 ? [i] : []))
  const shift = withMemory.length > 1 ? bootShiftKiB(boot) : 0
  const moved = (node: number) =>
    node === withMemory[0] ? shift : node === withMemory[withMemory.length - 1] ? -shift : 0
  return hw.numaMemoryMiB.map((mib, node) => {
    if (mib <= 0) return { totalKiB: 0, usedKiB: 0, hugepages: {}, freeKiB: 0 }
    const totalKiB = align4(mib * 1024 - mib * 1024 * 0.02) + moved(node)
    // node 0 carries the kernel image, early allocations and most of the system services
    const usedKiB = align4(totalKiB * (node === 0 ? 0.04 : 0.01))
    return { totalKiB, usedKiB, hugepages: {}, freeKiB: totalKiB - usedKiB }
  })
}

/**
 * Place the huge pages a command line asks for, as the kernel does at boot: a per-node request (hugepages=0:4,1:4)
 * goes to those nodes, and is ignored as a whole if it names a node that is not online; a plain count is spread
 * round-robin over the nodes with memory. A page that does not fit (leaving MIN_FREE_KIB) is not allocated.
 */
export function allocateHugepages(
  hw: Hardware,
  req: HugepageCmdline,
  boot = 0,
): { allocation: HugepageAllocation; memory: NodeMemory[] } {
  const memory = baseNodeMemory(hw, boot)
  const nodes = hw.numaCpus.length
  const warnings = [...req.warnings.map((w) => `HugeTLB: ${w}`)]
  const perSize: Record<number, number[]> = {}
  for (const size of HUGEPAGE_SIZES) perSize[size] = new Array<number>(nodes).fill(0)
  const fits = (node: number, size: number) =>
    hw.numaMemoryMiB[node]! > 0 && memory[node]!.freeKiB - size >= MIN_FREE_KIB
  const take = (node: number, size: number) => {
    memory[node]!.freeKiB -= size
    memory[node]!.hugepages[size] = (memory[node]!.hugepages[size] ?? 0) + 1
    perSize[size]![node]!++
  }
  const human = (size: number) => (size >= 1048576 ? `${size / 1048576}.00 GiB` : `${size / 1024}.00 MiB`)
  for (const size of HUGEPAGE_SIZES) {
    const r = req.sizes.find((s) => s.sizeKiB === size)
    if (!r) continue
    if (r.perNode) {
      const entries = Object.entries(r.perNode).map(([n, c]) => [Number(n), c] as const)
      const bad = entries.findIndex(([n]) => n >= nodes)
      if (bad >= 0) {
        // mm/hugetlb.c hugepages_setup(): a node >= nr_online_nodes jumps to `invalid`, which prints the parameter from
        // where parsing stopped (just past "<node>:") and clears every per-node count already parsed
        // (hugepages_clear_pages_in_node): nothing of this size is reserved.
        const rest = [String(entries[bad]![1]), ...entries.slice(bad + 1).map(([n, c]) => `${n}:${c}`)].join(',')
        warnings.push(`HugeTLB: Invalid hugepages parameter ${rest}`)
        continue
      }
      for (const [n, want] of Object.entries(r.perNode).map(([n, c]) => [Number(n), c] as const)) {
        let got = 0
        while (got < want && fits(n, size)) {
          take(n, size)
          got++
        }
        if (got < want)
          warnings.push(
            `HugeTLB: allocating ${want} of page size ${human(size)} failed node${n}.  Only allocated ${got} hugepages.`,
          )
      }
    } else if (r.count !== undefined) {
      const withMemory = hw.numaMemoryMiB.map((m, i) => (m > 0 ? i : -1)).filter((i) => i >= 0)
      let next = 0
      let got = 0
      while (got < r.count) {
        let placed = false
        for (let k = 0; k < withMemory.length; k++) {
          const node = withMemory[(next + k) % withMemory.length]!
          if (fits(node, size)) {
            take(node, size)
            next = (next + k + 1) % withMemory.length
            placed = true
            break
          }
        }
        if (!placed) break
        got++
      }
      if (got < r.count)
        warnings.push(
          `HugeTLB: allocating ${r.count} of page size ${human(size)} failed.  Only allocated ${got} hugepages.`,
        )
    }
  }
  return { allocation: { defaultSize: req.defaultSize, perSize, warnings }, memory }
}

// ---------------------------------------------------------------- file formats (pure)

/** How a node's (or the machine's) used memory splits into page cache, anonymous memory and slab. */
function usage(used: number) {
  const file = align4(used * 0.45)
  const anon = align4(used * 0.2)
  const slab = align4(used * 0.12)
  return { file, anon, slab, sreclaim: align4(slab * 0.6) }
}

const kb = (label: string, v: number, width = 16) => `${`${label}:`.padEnd(width)}${String(v).padStart(8)} kB`

/** The LRU lists, SwapCached through Mlocked: the same rows, in the same order, in both meminfo files. */
function lruRows(file: number, anon: number): [string, number][] {
  return [
    ['SwapCached', 0],
    ['Active', align4(file * 0.6 + anon * 0.1)],
    ['Inactive', align4(file * 0.4 + anon * 0.9)],
    ['Active(anon)', align4(anon * 0.1)],
    ['Inactive(anon)', align4(anon * 0.9)],
    ['Active(file)', align4(file * 0.6)],
    ['Inactive(file)', align4(file * 0.4)],
    ['Unevictable', 0],
    ['Mlocked', 0],
  ]
}

/** KernelStack through WritebackTmp: the same rows, in the same order, in both meminfo files. */
function kernelRows(used: number): [string, number][] {
  return [
    ['KernelStack', align4(used * 0.01)],
    ['PageTables', align4(used * 0.015)],
    ['SecPageTables', 0],
    ['NFS_Unstable', 0],
    ['Bounce', 0],
    ['WritebackTmp', 0],
  ]
}

/** drivers/base/node.c node_read_meminfo() + hugetlb_report_node_meminfo() for the default page size. */
export function formatNodeMeminfo(node: number, m: NodeMemory, defaultSize: number): string {
  const used = m.usedKiB
  const { file, anon, slab, sreclaim } = usage(used)
  const rows: [string, number][] = [
    ['MemTotal', m.totalKiB],
    ['MemFree', m.freeKiB],
    ['MemUsed', m.totalKiB - m.freeKiB],
    ...lruRows(file, anon),
    ['Dirty', used > 0 ? 128 : 0],
    ['Writeback', 0],
    ['FilePages', file],
    ['Mapped', align4(file * 0.25)],
    ['AnonPages', anon],
    ['Shmem', align4(file * 0.05)],
    ...kernelRows(used),
    ['KReclaimable', sreclaim],
    ['Slab', slab],
    ['SReclaimable', sreclaim],
    ['SUnreclaim', slab - sreclaim],
    ['AnonHugePages', 0],
    ['ShmemHugePages', 0],
    ['ShmemPmdMapped', 0],
    ['FileHugePages', 0],
    ['FilePmdMapped', 0],
  ]
  const lines = rows.map(([k, v]) => `Node ${node} ${kb(k, v)}`)
  const def = m.hugepages[defaultSize] ?? 0
  lines.push(`Node ${node} HugePages_Total: ${String(def).padStart(5)}`)
  lines.push(`Node ${node} HugePages_Free:  ${String(def).padStart(5)}`)
  lines.push(`Node ${node} HugePages_Surp:  ${String(0).padStart(5)}`)
  return lines.join('\n') + '\n'
}

/** fs/proc/meminfo.c meminfo_proc_show() + hugetlb_report_meminfo(), summed over nodes. */
export function formatProcMeminfo(mem: NodeMemory[], defaultSize: number): string {
  const sum = (f: (m: NodeMemory) => number) => mem.reduce((s, m) => s + f(m), 0)
  const total = sum((m) => m.totalKiB)
  const free = sum((m) => m.freeKiB)
  const used = sum((m) => m.usedKiB)
  const { file, anon, slab, sreclaim } = usage(used)
  const buffers = align4(used * 0.02)
  const cached = file - buffers
  const hugeDefault = sum((m) => m.hugepages[defaultSize] ?? 0)
  const hugetlb = sum((m) => Object.entries(m.hugepages).reduce((s, [size, n]) => s + Number(size) * n, 0))
  const rows: [string, number][] = [
    ['MemTotal', total],
    ['MemFree', free],
    ['MemAvailable', free + align4(file * 0.8) + sreclaim],
    ['Buffers', buffers],
    ['Cached', cached],
    ...lruRows(file, anon),
    ['SwapTotal', 0],
    ['SwapFree', 0],
    ['Zswap', 0],
    ['Zswapped', 0],
    ['Dirty', 128],
    ['Writeback', 0],
    ['AnonPages', anon],
    ['Mapped', align4(file * 0.25)],
    ['Shmem', align4(file * 0.05)],
    ['KReclaimable', sreclaim],
    ['Slab', slab],
    ['SReclaimable', sreclaim],
    ['SUnreclaim', slab - sreclaim],
    ...kernelRows(used),
    // overcommit_ratio 50, no swap; huge pages are not overcommittable
    ['CommitLimit', align4((total - hugetlb) / 2)],
    ['Committed_AS', align4(anon * 2.5)],
    ['VmallocTotal', 34359738367],
    ['VmallocUsed', align4(used * 0.02)],
    ['VmallocChunk', 0],
    ['Percpu', 2048],
    ['HardwareCorrupted', 0],
    ['AnonHugePages', 0],
    ['ShmemHugePages', 0],
    ['ShmemPmdMapped', 0],
    ['FileHugePages', 0],
    ['FilePmdMapped', 0],
  ]
  const lines = rows.map(([k, v]) => kb(k, v))
  const count = (k: string, v: number) => `${`${k}:`.padEnd(16)}${String(v).padStart(8)}`
  lines.push(count('HugePages_Total', hugeDefault))
  lines.push(count('HugePages_Free', hugeDefault))
  lines.push(count('HugePages_Rsvd', 0))
  lines.push(count('HugePages_Surp', 0))
  lines.push(kb('Hugepagesize', defaultSize))
  lines.push(kb('Hugetlb', hugetlb))
  // the direct map covers all RAM: a little with 4k pages, the rest with 2M and 1G pages
  const ram = sum((m) => m.totalKiB)
  const d4k = 30720
  const d1g = Math.max(0, Math.floor((ram - d4k) / 1048576) - 1) * 1048576
  lines.push(kb('DirectMap4k', d4k))
  lines.push(kb('DirectMap2M', Math.max(0, Math.floor((ram - d4k - d1g) / 2048) * 2048)))
  lines.push(kb('DirectMap1G', d1g))
  return lines.join('\n') + '\n'
}

function formatCpuinfo(hw: Hardware): string {
  const sockets = hw.numaCpus.length
  const out: string[] = []
  const all = hw.numaCpus.flatMap((cpus, node) => cpus.map((c) => ({ c, node }))).sort((a, b) => a.c - b.c)
  for (const { c, node } of all) {
    const siblings = hw.numaCpus[node]!.length
    out.push(
      [
        `processor\t: ${c}`,
        'vendor_id\t: AuthenticAMD',
        'cpu family\t: 25',
        'model\t\t: 1',
        'model name\t: AMD EPYC 7313 16-Core Processor',
        'stepping\t: 1',
        'cpu MHz\t\t: 3000.000',
        'cache size\t: 512 KB',
        `physical id\t: ${sockets > 1 ? node : 0}`,
        `siblings\t: ${siblings}`,
        `core id\t\t: ${hw.numaCpus[node]!.indexOf(c)}`,
        `cpu cores\t: ${siblings}`,
        `apicid\t\t: ${c}`,
        'fpu\t\t: yes',
        'flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl cpuid pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw perfctr_core bmi1 avx2 smep bmi2 erms invpcid rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves',
        'address sizes\t: 48 bits physical, 48 bits virtual',
        '',
      ].join('\n'),
    )
  }
  return out.join('\n') + '\n'
}

/** Talos' kernel parameter defaults (KernelParamDefaultsController + KSPP) and kernel defaults we report. */
export const SYSCTL_DEFAULTS: Record<string, string> = {
  'vm/max_map_count': '65530',
  'vm/swappiness': '60',
  'vm/overcommit_memory': '1',
  'vm/nr_hugepages': '0',
  'vm/nr_overcommit_hugepages': '0',
  'net/core/rmem_max': '212992',
  'net/core/rmem_default': '212992',
  'net/core/wmem_max': '212992',
  'net/core/wmem_default': '212992',
  'net/core/default_qdisc': 'fq_codel',
  'net/core/somaxconn': '4096',
  'net/core/netdev_max_backlog': '1000',
  'net/core/bpf_jit_harden': '2',
  // CONFIG_BPF_JIT_ALWAYS_ON=y (siderolabs/pkgs kernel/build/config-amd64 at v1.10.0:121): the JIT is always on
  'net/core/bpf_jit_enable': '1',
  // lo's IPv4 settings: the kernel's defaults (net/ipv4/devinet.c ipv4_devconf_dflt: rp_filter, accept_local and
  // route_localnet 0); Talos sets none of them
  'net/ipv4/conf/lo/rp_filter': '0',
  'net/ipv4/conf/lo/accept_local': '0',
  'net/ipv4/conf/lo/route_localnet': '0',
  'net/ipv4/tcp_congestion_control': 'cubic',
  // bbr is built in (CONFIG_TCP_CONG_BBR=y): available from boot, no module to load
  'net/ipv4/tcp_available_congestion_control': 'reno cubic bbr',
  'net/ipv4/tcp_rmem': '4096\t131072\t6291456',
  'net/ipv4/tcp_wmem': '4096\t16384\t4194304',
  'net/ipv4/ip_forward': '1',
  'net/ipv4/tcp_keepalive_time': '600',
  'net/ipv4/tcp_keepalive_intvl': '60',
  'net/ipv6/conf/default/forwarding': '1',
  'net/ipv6/conf/default/accept_ra': '2',
  'net/bridge/bridge-nf-call-iptables': '1',
  'net/bridge/bridge-nf-call-ip6tables': '1',
  'kernel/panic': '10',
  'kernel/pid_max': '262144',
  'kernel/kptr_restrict': '1',
  'kernel/dmesg_restrict': '1',
  'kernel/perf_event_paranoid': '3',
  'kernel/yama/ptrace_scope': '1',
  'kernel/unprivileged_bpf_disabled': '1',
  'kernel/osrelease': KERNEL_RELEASE,
  'kernel/ostype': 'Linux',
  'user/max_user_namespaces': '0',
  'fs/inotify/max_user_instances': '8192',
  'fs/inotify/max_user_watches': '1048576',
  'fs/aio-max-nr': '1048576',
  'fs/file-max': '9223372036854775807',
  // linux fs/file.c: unsigned int sysctl_nr_open __read_mostly = 1024*1024; (no kernel/numa_balancing: Talos's
  // kernel is built without CONFIG_NUMA_BALANCING, siderolabs/pkgs kernel/build/config-amd64 at v1.10.0-16-g39b9c9f)
  'fs/nr_open': '1048576',
}

/**
 * Built into the Talos v1.10.3 kernel (siderolabs/pkgs kernel/build/config-amd64 at v1.10.0-16-g39b9c9f, the PKGS of
 * Talos v1.10.3's Makefile): CONFIG_TCP_CONG_BBR=y, CONFIG_TCP_CONG_CUBIC=y, CONFIG_NET_SCH_FQ=y,
 * CONFIG_NET_SCH_FQ_CODEL=y, CONFIG_NET_SCH_HTB=y, CONFIG_BRIDGE_NETFILTER=y, CONFIG_XFS_FS=y, CONFIG_OVERLAY_FS=y,
 * CONFIG_WIREGUARD=y, CONFIG_BONDING=y. They are in modules.builtin and never in /proc/modules.
 */
const BUILTIN_MODULES: Record<string, string> = {
  tcp_bbr: 'kernel/net/ipv4/tcp_bbr.ko',
  tcp_cubic: 'kernel/net/ipv4/tcp_cubic.ko',
  sch_fq: 'kernel/net/sched/sch_fq.ko',
  sch_fq_codel: 'kernel/net/sched/sch_fq_codel.ko',
  sch_htb: 'kernel/net/sched/sch_htb.ko',
  br_netfilter: 'kernel/net/bridge/br_netfilter.ko',
  xfs: 'kernel/fs/xfs/xfs.ko',
  overlay: 'kernel/fs/overlayfs/overlay.ko',
  wireguard: 'kernel/drivers/net/wireguard/wireguard.ko',
  bonding: 'kernel/drivers/net/bonding/bonding.ko',
}
/** Loadable modules Talos ships (hack/modules-amd64.txt at v1.10.3; CONFIG_VFIO_PCI=m), with /proc/modules sizes. */
const LOADABLE_MODULES: Record<string, { path: string; size: number }> = {
  vfio: { path: 'kernel/drivers/vfio/vfio.ko', size: 69632 },
  vfio_iommu_type1: { path: 'kernel/drivers/vfio/vfio_iommu_type1.ko', size: 45056 },
  vfio_pci_core: { path: 'kernel/drivers/vfio/pci/vfio-pci-core.ko', size: 90112 },
  vfio_pci: { path: 'kernel/drivers/vfio/pci/vfio-pci.ko', size: 16384 },
}
const MODULES_DIR = `usr/lib/modules/${KERNEL_RELEASE}`

/** The install disk's partition n as Linux names it: /dev/sda6, /dev/nvme0n1p6. */
function baseMounts(installDisk?: string): string {
  const m: string[] = [
    '/dev/loop0 / squashfs ro,relatime,errors=continue 0 0',
    'devtmpfs /dev devtmpfs rw,nosuid,noexec,relatime,size=4096k,nr_inodes=1048576,mode=755 0 0',
    'proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0',
    'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0',
    'tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,mode=755 0 0',
    'tmpfs /system tmpfs rw,nosuid,nodev,noexec,relatime,size=1048576k,mode=755 0 0',
    'tmpfs /tmp tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k,mode=755 0 0',
    'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0',
    'hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0',
  ]
  if (installDisk) {
    const xfs = 'rw,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota'
    m.push(`${partitionPath(installDisk, 5)} /system/state xfs ${xfs} 0 0`)
    m.push(`${partitionPath(installDisk, 6)} /var xfs ${xfs} 0 0`)
  }
  return m.join('\n') + '\n'
}

// ---------------------------------------------------------------- writers

/** A writer for files under root that creates each directory once (mkdir is most of a sysroot's cost). */
function writer(root: string): (rel: string, content: string) => void {
  const made = new Set<string>()
  return (rel, content) => {
    const f = join(root, rel)
    const d = dirname(f)
    if (!made.has(d)) {
      mkdirSync(d, { recursive: true })
      made.add(d)
    }
    writeFileSync(f, content)
  }
}

const NODE = 'sys/devices/system/node'

/** Writes everything that depends on memory and huge pages (rewritten at every boot). */
function writeMemory(root: string, allocation: HugepageAllocation, memory: NodeMemory[]): void {
  const put = writer(root)
  for (let n = 0; n < memory.length; n++) {
    const dir = `${NODE}/node${n}`
    put(`${dir}/meminfo`, formatNodeMeminfo(n, memory[n]!, allocation.defaultSize))
    for (const size of HUGEPAGE_SIZES) {
      const count = String(allocation.perSize[size]![n] ?? 0) + '\n'
      put(`${dir}/hugepages/hugepages-${size}kB/nr_hugepages`, count)
      put(`${dir}/hugepages/hugepages-${size}kB/free_hugepages`, count)
      put(`${dir}/hugepages/hugepages-${size}kB/surplus_hugepages`, '0\n')
    }
  }
  for (const size of HUGEPAGE_SIZES) {
    const total = allocation.perSize[size]!.reduce((a, b) => a + b, 0)
    const d = `sys/kernel/mm/hugepages/hugepages-${size}kB`
    put(`${d}/nr_hugepages`, `${total}\n`)
    put(`${d}/free_hugepages`, `${total}\n`)
    put(`${d}/resv_hugepages`, '0\n')
    put(`${d}/surplus_hugepages`, '0\n')
    put(`${d}/nr_overcommit_hugepages`, '0\n')
  }
  const def = allocation.perSize[allocation.defaultSize]?.reduce((a, b) => a + b, 0) ?? 0
  put('proc/sys/vm/nr_hugepages', `${def}\n`)
  put('proc/meminfo', formatProcMeminfo(memory, allocation.defaultSize))
}

export interface SysrootOptions {
  cmdline: string
  hostname: string
  /** When Talos is installed: its STATE and EPHEMERAL partitions appear in /proc/mounts. */
  installDisk?: string
}

/** Create (or overwrite) a node's sysroot under root for this hardware, booted with opts.cmdline. */
export function createSysroot(root: string, hw: Hardware, opts: SysrootOptions): HugepageAllocation {
  validateHardware(hw, `sysroot ${root}`)
  const nodes = hw.numaCpus.length
  const nodeIds = Array.from({ length: nodes }, (_, i) => i)
  const allCpus = hw.numaCpus.flat()
  const nrCpuIds = Math.max(...allCpus) + 1
  const withMemory = nodeIds.filter((n) => hw.numaMemoryMiB[n]! > 0)
  const withCpu = nodeIds.filter((n) => hw.numaCpus[n]!.length > 0)
  const put = writer(root)

  put(`${NODE}/online`, formatCpuList(nodeIds) + '\n')
  put(`${NODE}/possible`, formatCpuList(nodeIds) + '\n')
  put(`${NODE}/has_memory`, formatCpuList(withMemory) + '\n')
  put(`${NODE}/has_normal_memory`, formatCpuList(withMemory) + '\n')
  put(`${NODE}/has_cpu`, formatCpuList(withCpu) + '\n')
  for (const n of nodeIds) {
    const dir = `${NODE}/node${n}`
    put(`${dir}/cpumap`, formatCpumap(hw.numaCpus[n]!, nrCpuIds) + '\n')
    put(`${dir}/cpulist`, formatCpuList(hw.numaCpus[n]!) + '\n')
    put(`${dir}/distance`, hw.distances[n]!.join(' ') + '\n')
  }
  const cpus = formatCpuList(Array.from({ length: nrCpuIds }, (_, i) => i)) + '\n'
  put('sys/devices/system/cpu/online', formatCpuList(allCpus) + '\n')
  put('sys/devices/system/cpu/possible', cpus)
  put('sys/devices/system/cpu/present', cpus)
  put('sys/devices/system/cpu/kernel_max', '8191\n')
  // Per-CPU topology (kernel Documentation/admin-guide/cputopology.rst): thread_siblings_list and its newer name
  // core_cpus_list list the CPUs of the same core; kubelet's CPU manager (cadvisor) reads the same files.
  for (const [coreIndex, core] of coresOf(hw).entries()) {
    const list = formatCpuList([...core].sort((a, b) => a - b)) + '\n'
    for (const c of core) {
      put(`sys/devices/system/cpu/cpu${c}/topology/thread_siblings_list`, list)
      put(`sys/devices/system/cpu/cpu${c}/topology/core_cpus_list`, list)
      put(`sys/devices/system/cpu/cpu${c}/topology/core_id`, `${coreIndex}\n`)
    }
  }

  put('proc/cpuinfo', formatCpuinfo(hw))
  put('proc/modules', '')
  // Talos ships the kernel's module index under /usr/lib/modules/<release>/ (Dockerfile at v1.10.3)
  put(`${MODULES_DIR}/modules.builtin`, Object.values(BUILTIN_MODULES).join('\n') + '\n')
  put(
    `${MODULES_DIR}/modules.dep`,
    Object.values(LOADABLE_MODULES)
      .map((m) => `${m.path}:`)
      .join('\n') + '\n',
  )
  put('proc/mounts', baseMounts(opts.installDisk))
  put(
    'proc/version',
    `Linux version ${KERNEL_RELEASE} (@buildkitsandbox) (gcc (GCC) 14.2.0, GNU ld (GNU Binutils) 2.44) #1 SMP PREEMPT_DYNAMIC\n`,
  )
  for (const [k, v] of Object.entries(SYSCTL_DEFAULTS)) put(`proc/sys/${k}`, v + '\n')
  put('proc/sys/kernel/hostname', opts.hostname + '\n')
  put('etc/os-release', osRelease())
  return applyBootParams(root, hw, opts.cmdline, 0).allocation
}

export function osRelease(version = TALOS_VERSION): string {
  return [
    'NAME="Talos"',
    'ID=talos',
    `VERSION_ID=${version}`,
    `PRETTY_NAME="Talos (${version})"`,
    'HOME_URL="https://www.talos.dev/"',
    'BUG_REPORT_URL="https://github.com/siderolabs/talos/issues"',
    'VENDOR_NAME="Sidero Labs"',
    'VENDOR_URL="https://www.siderolabs.com/"',
    '',
  ].join('\n')
}

const BOOT_ID = 'proc/sys/kernel/random/boot_id'

/**
 * /proc/sys/kernel/random/boot_id changes at every boot (a random UUID on Linux); the lab's carries the boot's number
 * in its last group, so a machine's boots are counted in its sysroot and each boot's memory layout is reproducible.
 */
export const bootId = (boot: number) => `00000000-0000-4000-8000-${boot.toString(16).padStart(12, '0')}`

/** Which boot the machine is in: 0 for a new sysroot, then one more at every applyBootParams. */
export function currentBoot(root: string): number {
  const f = join(root, BOOT_ID)
  const m = existsSync(f) ? /-([0-9a-f]{12})\s*$/.exec(readFileSync(f, 'utf8')) : null
  return m ? Number.parseInt(m[1]!, 16) : 0
}

/**
 * A boot with this kernel command line: /proc/cmdline, each NUMA node's MemTotal for this boot (bootShiftKiB), and
 * the boot-time huge pages it asks for (per-node counts, meminfo HugePages_* and Hugepagesize, each node's MemFree).
 * `boot` defaults to the machine's next boot (boot_id counts it). Returns what was allocated and the kernel's
 * warnings.
 */
export function applyBootParams(
  root: string,
  hw: Hardware,
  cmdline: string,
  boot?: number,
): { allocation: HugepageAllocation; memory: NodeMemory[] } {
  boot ??= currentBoot(root) + 1
  const res = allocateHugepages(hw, hugepagesFromCmdline(cmdline), boot)
  const put = writer(root)
  // a new id per boot (drivers/char/random.c proc_do_uuid); talosctl's --wait compares it before and after
  // (cmd/talosctl/pkg/talos/action/tracker.go at v1.10.3 getBootID)
  put(BOOT_ID, bootId(boot) + '\n')
  put('proc/cmdline', cmdline.trim() + '\n')
  writeMemory(root, res.allocation, res.memory)
  // device IRQ affinity, cpufreq governor, isolated CPUs: what irqaffinity=, cpufreq.default_governor=, isolcpus= did
  writeCpuIsolation(put, hw, cmdline)
  writeCpuOnline(root, put, hw, cmdline)
  return res
}

/**
 * Which CPUs this boot brought up, as sysfs shows it (Documentation/ABI/stable/sysfs-devices-system-cpu, testing/
 * sysfs-devices-system-cpu): `online` and `offline`, `cpuN/online` (N ≥ 1; the boot CPU has none), `smt/control`
 * ("off" with nosmt, "forceoff" with nosmt=force: kernel/cpu.c smt_cmdline_disable) and `smt/active`. An offline CPU
 * has no topology directory (drivers/base/topology.c removes it at CPUHP_TOPOLOGY_PREPARE's teardown) and leaves
 * its siblings' thread_siblings_list (x86 remove_siblinginfo). A NUMA node's cpulist and cpumap list its online CPUs
 * (drivers/base/node.c node_read_cpumap: cpumask_of_node & cpu_online_mask), so numactl --hardware shows them too.
 */
function writeCpuOnline(root: string, put: (rel: string, content: string) => void, hw: Hardware, cmdline: string) {
  const cpu = 'sys/devices/system/cpu'
  const online = new Set(onlineCpus(hw, cmdline))
  const all = hw.numaCpus.flat().sort((a, b) => a - b)
  put(`${cpu}/online`, formatCpuList(online) + '\n')
  put(`${cpu}/offline`, formatCpuList(all.filter((c) => !online.has(c))) + '\n')
  const smt = /(^|\s)nosmt=force(\s|$)/.test(cmdline) ? 'forceoff' : /(^|\s)nosmt(\s|$)/.test(cmdline) ? 'off' : 'on'
  const hasSmt = coresOf(hw).some((core) => core.length > 1)
  put(`${cpu}/smt/control`, (hasSmt ? smt : 'notsupported') + '\n')
  put(`${cpu}/smt/active`, (hasSmt && smt === 'on' ? '1' : '0') + '\n')
  const nrCpuIds = Math.max(...all) + 1
  hw.numaCpus.forEach((cpus, n) => {
    const up = cpus.filter((c) => online.has(c))
    put(`${NODE}/node${n}/cpulist`, formatCpuList(up) + '\n')
    put(`${NODE}/node${n}/cpumap`, formatCpumap(up, nrCpuIds) + '\n')
  })
  for (const [coreIndex, core] of coresOf(hw).entries()) {
    const up = [...core].filter((c) => online.has(c)).sort((a, b) => a - b)
    for (const c of core) {
      if (c !== 0) put(`${cpu}/cpu${c}/online`, online.has(c) ? '1\n' : '0\n')
      const topo = `${cpu}/cpu${c}/topology`
      if (!online.has(c)) {
        rmSync(join(root, topo), { recursive: true, force: true })
        continue
      }
      put(`${topo}/thread_siblings_list`, formatCpuList(up) + '\n')
      put(`${topo}/core_cpus_list`, formatCpuList(up) + '\n')
      put(`${topo}/core_id`, `${coreIndex}\n`)
    }
  }
}

// Defined next to runtimeConfigFor in machine-config.ts, which builds them.
export type { RuntimeConfig, RuntimeMount }

const MOUNT_OPTIONS: Record<string, string> = {
  xfs: 'rw,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota',
  ext4: 'rw,relatime',
}

/**
 * An integer sysctl (its file holds integers) refuses anything else: kernel/sysctl.c's proc_dointvec family reads
 * each value with proc_get_long, which returns -EINVAL unless it starts with a digit (after an optional "-"; base 0,
 * so 0x.. and 0.. are read too), and the old value stays. Range checks (proc_dointvec_minmax) are not modelled.
 */
function integerSysctlRefuses(file: string, value: string): boolean {
  const ints = /^\s*-?(0x[0-9a-f]+|[0-9]+)(\s+-?(0x[0-9a-f]+|[0-9]+))*\s*$/i
  return existsSync(file) && ints.test(readFileSync(file, 'utf8')) && !ints.test(value)
}

/**
 * What machined does with a config at runtime: sysctls written under proc/sys (a key whose parent directory does
 * not exist is an error, as on a kernel without that subsystem), modules added to proc/modules, volumes added to
 * proc/mounts with their mount point created; the mount root gets the owner/mode given (lab/file-owners.ts, since the
 * lab cannot chown) at every mount: each boot (opts.boot) and each apply that mounts a volume not yet mounted, as
 * Talos does (see below), while what a chown set below the root stays. Additive and idempotent. Returns errors naming
 * each rejected item.
 */
export function applyRuntimeConfig(
  root: string,
  cfg: RuntimeConfig,
  opts: { boot?: boolean } = {},
): { errors: string[] } {
  const errors: string[] = []
  const modulesFile = join(root, 'proc/modules')
  const loaded = new Set(
    existsSync(modulesFile) ? parseModules(readFileSync(modulesFile, 'utf8')).map((m) => m.name) : [],
  )
  for (const name of cfg.kernelModules) {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) {
      errors.push(`kernel module ${JSON.stringify(name)}: invalid name`)
      continue
    }
    const norm = name.replace(/-/g, '_')
    if (loaded.has(norm)) continue
    // machined's KernelModuleSpecController loads each machine.kernel.modules entry with github.com/pmorjan/kmod
    // (internal/app/machined/pkg/controllers/runtime/kernel_module_spec.go); kmod v1.1.1 Load() returns nil for a
    // module listed in modules.builtin ("is builtin": nothing to load, nothing in /proc/modules) and
    // ErrModuleNotFound ("module not found") for one the kernel does not ship; the controller reports
    // `error loading module %q: %w`.
    if (BUILTIN_MODULES[norm]) continue
    const mod = LOADABLE_MODULES[norm]
    if (!mod) {
      errors.push(`error loading module ${JSON.stringify(name)}: module not found`)
      continue
    }
    appendFileSync(modulesFile, `${norm} ${mod.size} 0 - Live 0x0000000000000000\n`)
    loaded.add(norm)
  }

  for (const [key, value] of Object.entries(cfg.sysctls)) {
    let rel: string
    try {
      rel = sysctlPath(key).slice(1)
    } catch (e) {
      errors.push(`sysctl ${key}: ${(e as Error).message}`)
      continue
    }
    const file = join(root, rel)
    if (!existsSync(dirname(file)) || !statSync(dirname(file)).isDirectory()) {
      errors.push(`sysctl ${key}: /${rel} does not exist on this kernel`)
      continue
    }
    if (integerSysctlRefuses(file, String(value))) {
      errors.push(`sysctl ${key}: write /${rel}: invalid argument`)
      continue
    }
    writeFileSync(file, String(value) + '\n')
  }

  const mountsFile = join(root, 'proc/mounts')
  let mounts = existsSync(mountsFile)
    ? readFileSync(mountsFile, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : []
  for (const m of cfg.mounts) {
    if (!m.mountPoint.startsWith('/') || m.mountPoint.split('/').includes('..')) {
      errors.push(`mount ${m.device} on ${JSON.stringify(m.mountPoint)}: mount point must be an absolute path`)
      continue
    }
    const mode = m.mode ?? '0755'
    if (!/^0?[0-7]{3,4}$/.test(mode)) {
      errors.push(`mount ${m.mountPoint}: bad mode ${JSON.stringify(mode)}`)
      continue
    }
    const wasMounted = mounts.some((l) => parseMounts(l)[0]?.mountPoint === m.mountPoint)
    mounts = mounts.filter((l) => parseMounts(l)[0]?.mountPoint !== m.mountPoint)
    mounts.push(
      `${escapeMountField(m.device)} ${escapeMountField(m.mountPoint)} ${m.fsType} ${MOUNT_OPTIONS[m.fsType] ?? 'rw,relatime'} 0 0`,
    )
    const dir = join(root, m.mountPoint)
    mkdirSync(dir, { recursive: true })
    // Talos v1.10.3 sets a user volume's mount root to its MountSpec (FileMode 0o755, UID 0, GID 0:
    // internal/app/machined/pkg/controllers/block/user_volume_config.go:160-167) after EVERY mount: mount.go:487
    // calls updateTargetSettings, which always chmods the target (:406) and chowns it when the owner differs
    // (:417-425), not recursively. So each boot (every volume is mounted afresh) and each apply that mounts a volume
    // not mounted yet resets the root, whatever a chown on the node set; an apply that finds it mounted leaves it
    // (the controller skips an active mount). Directories below the root keep their owner (file-owners.ts records
    // each path on its own).
    if (opts.boot || !wasMounted || !ownerOf(root, m.mountPoint))
      setOwner(root, m.mountPoint, { uid: m.uid ?? 0, gid: m.gid ?? 0, mode })
  }
  writeFileSync(mountsFile, mounts.join('\n') + (mounts.length ? '\n' : ''))
  return { errors }
}
