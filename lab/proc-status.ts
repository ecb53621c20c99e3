// What the kernel prints for a container's process in /proc/<pid>/limits and /proc/<pid>/status, and the capability
// sets and resource limits containerd's CRI plugin gives that process on Talos v1.10.3. Pure: lab/containers.ts keeps
// each container's values, lab/machine-api/files.ts Read renders them when talosctl reads the files.
// Sources:
//   kernel 6.12 fs/proc/base.c proc_pid_limits (lnames[], "%-25s %-20s %-20s %-10s"); fs/proc/array.c proc_pid_status
//     (task_name, Umask, task_state incl. Kthread, task_sig, task_cap/render_cap_t "%016llx", task_seccomp,
//     task_cpus_allowed "%*pb"/"%*pbl"), kernel/cgroup/cpuset.c cpuset_task_status_allowed (Mems_allowed over
//     MAX_NUMNODES bits: Talos's kernel has CONFIG_NODES_SHIFT=10, siderolabs/pkgs kernel/build/config-amd64:467);
//     include/uapi/linux/capability.h (CAP_LAST_CAP = CAP_CHECKPOINT_RESTORE = 40); include/asm-generic/resource.h
//     INIT_RLIMITS, include/uapi/linux/resource.h MLOCK_LIMIT (8 MiB), kernel/fork.c set_max_threads/fork_init
//     (RLIMIT_NPROC and RLIMIT_SIGPENDING = max_threads/2, max_threads = RAM / (8 × THREAD_SIZE 16 KiB)).
//   Talos v1.10.3 internal/app/machined/pkg/startup/tasks.go:121 (machined, PID 1, sets RLIMIT_NOFILE 1048576 for
//     everything it starts); internal/app/machined/pkg/system/services/cri.go:132 (CRI containerd runs with
//     constants.DefaultDroppedCapabilities, cap_sys_boot and cap_sys_module, dropped from its bounding set:
//     pkg/machinery/constants/constants.go:1291, runner/process/process.go:104-122 dropCaps).
//   containerd v2.0.5 pkg/oci/spec.go:118-135 defaultUnixCaps (the base spec's bounding/permitted/effective);
//     internal/cri/server/container_create.go:648-651 (with a base runtime spec, as Talos configures, the spec's
//     rlimits are kept: WithoutDefaultSecuritySettings only runs without one), :736-757 (WithCapabilities from the
//     security context, then WithPrivileged, then WithoutAmbientCaps); internal/cri/opts/spec_opts.go:169-206
//     (ALL, then add, then drop, each name prefixed CAP_); pkg/oci/spec_opts.go:966-1047 (added capabilities go to
//     bounding/effective/permitted, dropped ones leave inheritable too); pkg/oci/spec_opts_linux.go:65
//     WithAllCurrentCapabilities (containerd's own CapEff, pkg/cap/cap_linux.go:118 Current).
//   runc applies the spec's rlimits in order (setrlimit per entry: the last of a type wins) and its bounding set; then
//   execve recomputes the sets (capabilities(7) "Transformation of capabilities during execve()"): for UID 0
//   P'(permitted) = P(inheritable) | P(bounding) and effective = permitted; for any other UID without file
//   capabilities or ambient ones, permitted and effective are empty (kubernetes issue 56374).
import { formatCpuList, formatCpumap } from '../lib/host/numa.ts'

/** include/uapi/linux/capability.h, bit by bit (0 … CAP_LAST_CAP). */
export const CAP_NAMES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const

export const CAP_LAST_CAP = CAP_NAMES.length - 1

/** containerd v2.0.5 pkg/oci/spec.go:118-135 defaultUnixCaps. */
export const CONTAINERD_DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]

/** What Talos's CRI containerd holds (its CapEff and bounding set): every capability but cap_sys_boot, cap_sys_module. */
export const TALOS_CRI_CAPS: string[] = CAP_NAMES.filter((c) => c !== 'CAP_SYS_BOOT' && c !== 'CAP_SYS_MODULE')

/** A capability set as the kernel's bitmask; names the kernel does not know are left out. */
export function capMask(names: Iterable<string>): bigint {
  let m = 0n
  for (const n of names) {
    const bit = (CAP_NAMES as readonly string[]).indexOf(n.toUpperCase())
    if (bit >= 0) m |= 1n << BigInt(bit)
  }
  return m
}

/** render_cap_t: 16 hex digits. */
export const renderCap = (m: bigint) => m.toString(16).padStart(16, '0')

export interface CapSets {
  inh: bigint
  prm: bigint
  eff: bigint
  bnd: bigint
  amb: bigint
}

/** An OCI spec's process.capabilities (the CRI base runtime spec's). */
export interface OciCaps {
  bounding?: string[]
  effective?: string[]
  permitted?: string[]
  inheritable?: string[]
  ambient?: string[]
}

export interface SecurityContextCaps {
  add?: string[]
  drop?: string[]
}

/**
 * The capability sets of a container's process: the base spec's, then CRI's WithCapabilities (ALL, add, drop),
 * privileged (containerd's own capabilities), no ambient ones; runc's bounding set can only shrink containerd's;
 * then execve as `uid`.
 */
export function containerCaps(o: {
  base?: OciCaps
  capabilities?: SecurityContextCaps
  privileged?: boolean
  uid: number
}): CapSets {
  const all = TALOS_CRI_CAPS
  let bnd = [...(o.base?.bounding ?? [])]
  let eff = [...(o.base?.effective ?? [])]
  let prm = [...(o.base?.permitted ?? [])]
  let inh = [...(o.base?.inheritable ?? [])]
  const withCaps = (caps: string[]) => {
    bnd = [...caps]
    eff = [...caps]
    prm = [...caps]
    inh = caps.length === 0 ? [] : inh.filter((c) => caps.includes(c))
  }
  const upper = (xs: string[] | undefined) => (xs ?? []).map((c) => c.toUpperCase())
  const add = upper(o.capabilities?.add)
  const drop = upper(o.capabilities?.drop)
  if (add.includes('ALL')) withCaps(all)
  if (drop.includes('ALL')) withCaps([])
  for (const c of add.filter((c) => c !== 'ALL').map((c) => `CAP_${c}`))
    for (const l of [bnd, eff, prm]) if (!l.includes(c)) l.push(c)
  for (const c of drop.filter((c) => c !== 'ALL').map((c) => `CAP_${c}`)) {
    bnd = bnd.filter((x) => x !== c)
    eff = eff.filter((x) => x !== c)
    prm = prm.filter((x) => x !== c)
    inh = inh.filter((x) => x !== c)
  }
  if (o.privileged) withCaps(all)
  const bound = capMask(bnd) & capMask(all)
  const inhM = capMask(inh) & bound
  const prmM = o.uid === 0 ? inhM | bound : 0n
  return { inh: inhM, prm: prmM, eff: prmM, bnd: bound, amb: 0n }
}

// ---------------------------------------------------------------- rlimits

export const RLIM_INFINITY = 'unlimited'
export type RlimValue = number | typeof RLIM_INFINITY

export interface Rlimit {
  type: string
  soft: RlimValue
  hard: RlimValue
}

/** fs/proc/base.c lnames[], in RLIMIT_* order. */
const LIMIT_NAMES: [type: string, name: string, unit: string | undefined][] = [
  ['RLIMIT_CPU', 'Max cpu time', 'seconds'],
  ['RLIMIT_FSIZE', 'Max file size', 'bytes'],
  ['RLIMIT_DATA', 'Max data size', 'bytes'],
  ['RLIMIT_STACK', 'Max stack size', 'bytes'],
  ['RLIMIT_CORE', 'Max core file size', 'bytes'],
  ['RLIMIT_RSS', 'Max resident set', 'bytes'],
  ['RLIMIT_NPROC', 'Max processes', 'processes'],
  ['RLIMIT_NOFILE', 'Max open files', 'files'],
  ['RLIMIT_MEMLOCK', 'Max locked memory', 'bytes'],
  ['RLIMIT_AS', 'Max address space', 'bytes'],
  ['RLIMIT_LOCKS', 'Max file locks', 'locks'],
  ['RLIMIT_SIGPENDING', 'Max pending signals', 'signals'],
  ['RLIMIT_MSGQUEUE', 'Max msgqueue size', 'bytes'],
  ['RLIMIT_NICE', 'Max nice priority', undefined],
  ['RLIMIT_RTPRIO', 'Max realtime priority', undefined],
  ['RLIMIT_RTTIME', 'Max realtime timeout', 'us'],
]

/**
 * What every process Talos starts inherits: the kernel's INIT_RLIMITS, RLIMIT_NPROC and RLIMIT_SIGPENDING from the
 * machine's RAM (fork_init), and machined's RLIMIT_NOFILE.
 */
export function inheritedRlimits(memTotalBytes: number): Rlimit[] {
  const maxThreads = Math.min(Math.max(Math.floor(memTotalBytes / (8 * 16384)), 20), 0x3fffffff)
  const nproc = Math.floor(maxThreads / 2)
  const inf = RLIM_INFINITY
  const v: Record<string, [RlimValue, RlimValue]> = {
    RLIMIT_CPU: [inf, inf],
    RLIMIT_FSIZE: [inf, inf],
    RLIMIT_DATA: [inf, inf],
    RLIMIT_STACK: [8 * 2 ** 20, inf],
    RLIMIT_CORE: [0, inf],
    RLIMIT_RSS: [inf, inf],
    RLIMIT_NPROC: [nproc, nproc],
    RLIMIT_NOFILE: [1048576, 1048576],
    RLIMIT_MEMLOCK: [8 * 2 ** 20, 8 * 2 ** 20],
    RLIMIT_AS: [inf, inf],
    RLIMIT_LOCKS: [inf, inf],
    RLIMIT_SIGPENDING: [nproc, nproc],
    RLIMIT_MSGQUEUE: [819200, 819200],
    RLIMIT_NICE: [0, 0],
    RLIMIT_RTPRIO: [0, 0],
    RLIMIT_RTTIME: [inf, inf],
  }
  return LIMIT_NAMES.map(([type]) => ({ type, soft: v[type]![0], hard: v[type]![1] }))
}

/** An OCI rlimit value: RLIM_INFINITY is 2^64-1 (JSON numbers reach it only approximately). */
const ociValue = (x: unknown): RlimValue => {
  const n = Number(x)
  return !Number.isFinite(n) || n >= 2 ** 64 - 1 ? RLIM_INFINITY : n
}

/** The container's limits: the inherited ones with the base spec's process.rlimits applied in order. */
export function containerRlimits(specRlimits: unknown, memTotalBytes: number): Rlimit[] {
  const out = inheritedRlimits(memTotalBytes)
  for (const r of Array.isArray(specRlimits)
    ? (specRlimits as { type?: string; soft?: unknown; hard?: unknown }[])
    : []) {
    const slot = out.find((x) => x.type === r.type)
    if (slot) {
      slot.soft = ociValue(r.soft)
      slot.hard = ociValue(r.hard)
    }
  }
  return out
}

/** fs/proc/base.c proc_pid_limits. */
export function renderProcLimits(limits: Rlimit[]): string {
  const col = (v: RlimValue) => String(v).padEnd(20)
  let s = `${'Limit'.padEnd(25)} ${'Soft Limit'.padEnd(20)} ${'Hard Limit'.padEnd(20)} ${'Units'.padEnd(10)}\n`
  for (const [type, name, unit] of LIMIT_NAMES) {
    const l = limits.find((x) => x.type === type) ?? { soft: RLIM_INFINITY, hard: RLIM_INFINITY }
    s += `${name.padEnd(25)} ${col(l.soft)} ${col(l.hard)} ${unit ? `${unit.padEnd(10)}\n` : '\n'}`
  }
  return s
}

// ---------------------------------------------------------------- status

/** MAX_NUMNODES of Talos's amd64 kernel (CONFIG_NODES_SHIFT=10). */
export const MAX_NUMNODES = 1024

export interface ProcStatus {
  /** comm: the executable's name, at most 15 characters (TASK_COMM_LEN 16). */
  name: string
  pid: number
  ppid: number
  /** the PID inside the container's own PID namespace (absent: the host's, hostPID) */
  nsPid?: number
  uid: number
  gid: number
  caps: CapSets
  noNewPrivs: boolean
  /** seccomp filter mode (RuntimeDefault) */
  seccomp: boolean
  /** RLIMIT_SIGPENDING's soft limit (SigQ's denominator) */
  sigpendingLimit: number
  cpus: number[]
  /** nr_cpu_ids: the width of Cpus_allowed */
  nrCpuIds: number
  mems: number[]
}

/**
 * fs/proc/array.c proc_pid_status for a sleeping, single-threaded container process. The memory lines (Vm*, Rss*,
 * HugetlbPages, THP_enabled, untag_mask) and x86_Thread_features are left out: nothing the lab models fills them.
 */
export function renderProcStatus(p: ProcStatus): string {
  const ns = (v: number) => (p.nsPid === undefined ? `${v}` : `${v}\t${p.nsPid}`)
  const ids = (v: number) => `${v}\t${v}\t${v}\t${v}`
  const zero = '0'.repeat(16)
  return [
    `Name:\t${p.name.slice(0, 15)}`,
    'Umask:\t0022',
    'State:\tS (sleeping)',
    `Tgid:\t${p.pid}`,
    'Ngid:\t0',
    `Pid:\t${p.pid}`,
    `PPid:\t${p.ppid}`,
    'TracerPid:\t0',
    `Uid:\t${ids(p.uid)}`,
    `Gid:\t${ids(p.gid)}`,
    'FDSize:\t64',
    `Groups:\t${p.gid} `,
    `NStgid:\t${ns(p.pid)}`,
    `NSpid:\t${ns(p.pid)}`,
    `NSpgid:\t${ns(p.pid)}`,
    `NSsid:\t${ns(p.pid)}`,
    'Kthread:\t0',
    'Threads:\t1',
    `SigQ:\t0/${p.sigpendingLimit}`,
    `SigPnd:\t${zero}`,
    `ShdPnd:\t${zero}`,
    `SigBlk:\t${zero}`,
    `SigIgn:\t${zero}`,
    `SigCgt:\t${zero}`,
    `CapInh:\t${renderCap(p.caps.inh)}`,
    `CapPrm:\t${renderCap(p.caps.prm)}`,
    `CapEff:\t${renderCap(p.caps.eff)}`,
    `CapBnd:\t${renderCap(p.caps.bnd)}`,
    `CapAmb:\t${renderCap(p.caps.amb)}`,
    `NoNewPrivs:\t${p.noNewPrivs ? 1 : 0}`,
    `Seccomp:\t${p.seccomp ? 2 : 0}`,
    `Seccomp_filters:\t${p.seccomp ? 1 : 0}`,
    'Speculation_Store_Bypass:\tthread vulnerable',
    'SpeculationIndirectBranch:\tconditional enabled',
    `Cpus_allowed:\t${formatCpumap(p.cpus, p.nrCpuIds)}`,
    `Cpus_allowed_list:\t${formatCpuList(p.cpus)}`,
    `Mems_allowed:\t${formatCpumap(p.mems, MAX_NUMNODES)}`,
    `Mems_allowed_list:\t${formatCpuList(p.mems)}`,
    'voluntary_ctxt_switches:\t1',
    'nonvoluntary_ctxt_switches:\t0',
    '',
  ].join('\n')
}
