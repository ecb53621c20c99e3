// Values the kernel accepts for the sysctls this project sets (inventory validator.sysctls, machine.sysctls in any
// config the linter reads). Talos writes each value to /proc/sys as given; the kernel refuses a bad one with EINVAL
// and the node silently keeps its old value, so a typo is caught here, before anything is rendered or applied.
// Sysctls not in this table are passed through unchecked: the project does not know their rules.
import { sysctlKey, sysctlPath } from './procfs.ts'

const INT_MAX = 2 ** 31 - 1

interface IntegerRule {
  kind: 'integer'
  min: number
  max: number
  /** where the range comes from */
  source: string
}
interface EnumRule {
  kind: 'enum'
  values: readonly string[]
  source: string
}
type SysctlRule = IntegerRule | EnumRule

const int = (min: number, max: number, source: string): IntegerRule => ({ kind: 'integer', min, max, source })

// Qdiscs that need no parameters, which net.rst says default_qdisc is for ("best suited to queuing disciplines that
// work well without configuration ... Don't use ... Hierarchical Token Bucket or Deficit Round Robin"); the names are
// those the kernel registers (net/sched/sch_generic.c, sch_fifo.c, sch_fq.c, sch_fq_codel.c, sch_fq_pie.c, sch_codel.c,
// sch_pie.c, sch_sfq.c, sch_cake.c).
const DEFAULT_QDISCS = [
  'pfifo_fast',
  'pfifo',
  'bfifo',
  'pfifo_head_drop',
  'noqueue',
  'fq',
  'fq_codel',
  'fq_pie',
  'codel',
  'pie',
  'sfq',
  'cake',
] as const

// "reno" is always available (ip-sysctl.rst); the others are the names the kernel's TCP_CONG_* modules register
// (net/ipv4/Kconfig, net/ipv4/tcp_<name>.c; "highspeed" is tcp_highspeed.c).
const CONGESTION_CONTROLS = [
  'reno',
  'cubic',
  'bbr',
  'bic',
  'htcp',
  'highspeed',
  'hybla',
  'vegas',
  'nv',
  'scalable',
  'lp',
  'veno',
  'yeah',
  'illinois',
  'westwood',
  'dctcp',
  'cdg',
] as const

// Integer sysctls: proc_dointvec_minmax with the table's extra1/extra2 as bounds.
//  - vm.*: Documentation/admin-guide/sysctl/vm.rst (swappiness "a value between 0 and 200"; overcommit_memory 0, 1 or
//    2; dirty_*ratio percentages; zone_reclaim_mode the OR of 1, 2 and 4), bounds in kernel/sysctl.c and mm/.
//  - net.core.[rw]mem_*: Documentation/admin-guide/sysctl/net.rst, bounds in net/core/sysctl_net_core.c (extra1 =
//    min_sndbuf / min_rcvbuf: SOCK_MIN_SNDBUF 4608 and SOCK_MIN_RCVBUF 2304 bytes on x86_64).
//  - net.ipv4.*: Documentation/networking/ip-sysctl.rst.
const RULES: Record<string, SysctlRule> = {
  'vm.swappiness': int(0, 200, 'Documentation/admin-guide/sysctl/vm.rst'),
  'vm.max_map_count': int(0, INT_MAX, 'Documentation/admin-guide/sysctl/vm.rst'),
  'vm.overcommit_memory': int(0, 2, 'Documentation/admin-guide/sysctl/vm.rst'),
  'vm.dirty_ratio': int(0, 100, 'Documentation/admin-guide/sysctl/vm.rst'),
  'vm.dirty_background_ratio': int(0, 100, 'Documentation/admin-guide/sysctl/vm.rst'),
  'vm.zone_reclaim_mode': int(0, 7, 'Documentation/admin-guide/sysctl/vm.rst'),
  'vm.nr_hugepages': int(0, Number.MAX_SAFE_INTEGER, 'Documentation/admin-guide/sysctl/vm.rst'),
  'net.core.rmem_max': int(2304, INT_MAX, 'Documentation/admin-guide/sysctl/net.rst, net/core/sysctl_net_core.c'),
  'net.core.rmem_default': int(2304, INT_MAX, 'Documentation/admin-guide/sysctl/net.rst, net/core/sysctl_net_core.c'),
  'net.core.wmem_max': int(4608, INT_MAX, 'Documentation/admin-guide/sysctl/net.rst, net/core/sysctl_net_core.c'),
  'net.core.wmem_default': int(4608, INT_MAX, 'Documentation/admin-guide/sysctl/net.rst, net/core/sysctl_net_core.c'),
  'net.core.netdev_max_backlog': int(0, INT_MAX, 'Documentation/admin-guide/sysctl/net.rst'),
  'net.core.somaxconn': int(0, INT_MAX, 'Documentation/networking/ip-sysctl.rst'),
  'net.ipv4.ip_forward': int(0, 1, 'Documentation/networking/ip-sysctl.rst'),
  'net.core.default_qdisc': {
    kind: 'enum',
    values: DEFAULT_QDISCS,
    source: 'Documentation/admin-guide/sysctl/net.rst',
  },
  'net.ipv4.tcp_congestion_control': {
    kind: 'enum',
    values: CONGESTION_CONTROLS,
    source: 'Documentation/networking/ip-sysctl.rst',
  },
}

/** The dotted name of a sysctl however it is written (vm.swappiness, vm/swappiness), or undefined when it is not one. */
function canonicalKey(key: string): string | undefined {
  try {
    return sysctlKey(sysctlPath(key))
  } catch {
    return undefined
  }
}

/** Why the kernel would refuse `value` for `key`, or undefined when it accepts it (or the key is not one we know). */
export function sysctlValueProblem(key: string, value: string): string | undefined {
  const name = canonicalKey(key)
  const rule = name ? RULES[name] : undefined
  if (!rule) return undefined
  const v = value.trim()
  if (rule.kind === 'enum') {
    if (rule.values.includes(v)) return undefined
    return `${name} must be one of ${rule.values.join(', ')} (${rule.source}) (got ${JSON.stringify(value)})`
  }
  const range = rule.max === Number.MAX_SAFE_INTEGER ? `≥ ${rule.min}` : `${rule.min}..${rule.max}`
  if (!/^-?[0-9]+$/.test(v)) return `${name} takes an integer ${range} (${rule.source}) (got ${JSON.stringify(value)})`
  const n = Number(v)
  if (n < rule.min || n > rule.max) return `${name} must be in ${range} (${rule.source}) (got ${JSON.stringify(value)})`
  return undefined
}

// Sysctls kubelet requires. Talos runs kubelet with protectKernelDefaults: true (siderolabs/talos v1.10.3
// internal/app/machined/pkg/controllers/k8s/kubelet_spec.go:304; pkg/machinery/kubelet/kubelet.go:18 lists it among
// the fields extraConfig cannot override), so kubelet v1.33.1 checks these at start and exits on any other value
// (pkg/kubelet/cm/container_manager_linux.go setupKernelTunables :412-437 with KernelTunableError, called at
// :466-472; keys and values k8s.io/component-helpers v0.33.1 node/util/sysctl/sysctl.go:28-64). Talos itself sets
// kernel.panic 10 and vm.overcommit_memory 1 (internal/app/machined/pkg/controllers/runtime/kernel_param_defaults.go
// :124-134); the kernel's defaults give the others. A machine.sysctls value overrides them.
const KUBELET_REQUIRED: Readonly<Record<string, number>> = {
  'vm.overcommit_memory': 1, // VMOvercommitMemoryAlways
  'vm.panic_on_oom': 0, // VMPanicOnOOMInvokeOOMKiller
  'kernel.panic': 10, // KernelPanicRebootTimeout
  'kernel.panic_on_oops': 1, // KernelPanicOnOopsAlways
  'kernel.keys.root_maxkeys': 1000000, // RootMaxKeysSetting
  'kernel.keys.root_maxbytes': 25000000, // RootMaxBytesSetting = RootMaxKeysSetting * 25
}

/** The value kubelet requires for this sysctl (however it is written), or undefined when kubelet does not check it. */
export function kubeletRequiredValue(key: string): number | undefined {
  const name = canonicalKey(key)
  return name === undefined ? undefined : KUBELET_REQUIRED[name]
}

/**
 * Why kubelet would refuse to start with `value` for `key`, quoting its error, or undefined when `key` is not one it
 * checks or `value` is what it requires (kubelet reads the value as an integer: strconv.Atoi of the trimmed text).
 */
export function kubeletSysctlProblem(key: string, value: string): string | undefined {
  const name = canonicalKey(key)
  const required = kubeletRequiredValue(key)
  if (name === undefined || required === undefined) return undefined
  const v = value.trim()
  if (/^[0-9]+$/.test(v) && Number(v) === required) return undefined
  const why = /^-?[0-9]+$/.test(v)
    ? `kubelet v1.33.1 exits at start ("invalid kernel flag: ${name.replaceAll('.', '/')}, expected value: ${required}, actual value: ${Number(v)}", pkg/kubelet/cm/container_manager_linux.go:437), so the node never gets Ready`
    : 'kubelet v1.33.1 checks it at start (pkg/kubelet/cm/container_manager_linux.go:412-437) and this is not even an integer'
  return `${name} must be ${required} or unset: Talos runs kubelet with protectKernelDefaults: true and ${why} (got ${JSON.stringify(value)})`
}
