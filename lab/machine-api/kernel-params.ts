// KernelParamStatuses.runtime.talos.dev of a lab machine, as Talos v1.10.3 keeps them
// (internal/app/machined/pkg/controllers/runtime/kernel_param_*.go):
// - IDs are the KernelParamSpec IDs: "proc.sys." + the machine.sysctls key (kernel_param_config.go:72,
//   kind kernel.Sysctl = "proc.sys", pkg/machinery/kernel/kernel.go) and the defaults machined always applies,
//   already written with that prefix (kernel_param_defaults.go getKernelParams, pkg/kernel/kspp GetKernelParams);
//   a config key overrides a default with the same ID (kernel_param_spec.go: configs first, duplicates skipped);
// - a status exists once the value was written: current is the value as configured, default what the file held
//   before machined's first write since boot, trimmed (updateKernelParam); a write that fails leaves no status.
// machine.sysfs ("sys." IDs) is not modelled by the lab.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { hugepagesFromCmdline, sysctlPath } from '../../lib/host/procfs.ts'
import { allocateHugepages, baseNodeMemory, SYSCTL_DEFAULTS } from '../sysroot.ts'
import { paths, type LabNode } from '../state.ts'
import type { ModelResource } from './model-resource.ts'
import { runningConfig } from './running-config.ts'

/** getKernelParams (not in a container) then kspp.GetKernelParams: the IPv6 pair because the lab kernel has IPv6. */
const TALOS_DEFAULTS: [string, string][] = [
  ['proc.sys.net.ipv4.ip_forward', '1'],
  ['proc.sys.net.bridge.bridge-nf-call-iptables', '1'],
  ['proc.sys.net.bridge.bridge-nf-call-ip6tables', '1'],
  ['proc.sys.net.ipv6.conf.default.forwarding', '1'],
  ['proc.sys.net.ipv6.conf.default.accept_ra', '2'],
  ['proc.sys.net.ipv4.tcp_keepalive_time', '600'],
  ['proc.sys.net.ipv4.tcp_keepalive_intvl', '60'],
  ['proc.sys.kernel.panic', '10'],
  ['proc.sys.kernel.pid_max', '262144'],
  ['proc.sys.vm.overcommit_memory', '1'],
  ['proc.sys.fs.inotify.max_user_instances', '8192'],
  ['proc.sys.fs.aio-max-nr', '1048576'],
  ['proc.sys.kernel.kptr_restrict', '1'],
  ['proc.sys.kernel.dmesg_restrict', '1'],
  ['proc.sys.kernel.perf_event_paranoid', '3'],
  ['proc.sys.kernel.yama.ptrace_scope', '1'],
  ['proc.sys.user.max_user_namespaces', '0'],
  ['proc.sys.kernel.unprivileged_bpf_disabled', '1'],
  ['proc.sys.net.core.bpf_jit_harden', '2'],
]

/**
 * What the Talos kernel (6.12, siderolabs/pkgs v1.10 kernel/build/config-amd64) boots with for the keys machined
 * rewrites; the lab's sysroot holds the values after machined, so the values before come from here.
 */
function kernelBootValue(n: LabNode, key: string): string | undefined {
  const possibleCpus = Math.max(...n.hardware.numaCpus.flat()) + 1
  const memTotalKiB = baseNodeMemory(n.hardware).reduce((a, m) => a + m.totalKiB, 0)
  const boot: Record<string, string> = {
    'net/ipv4/ip_forward': '0', // net/ipv4/devinet.c ipv4_devconf: forwarding off
    'net/bridge/bridge-nf-call-iptables': '1', // net/bridge/br_netfilter_hooks.c brnf_init_net
    'net/bridge/bridge-nf-call-ip6tables': '1',
    'net/ipv6/conf/default/forwarding': '0', // net/ipv6/addrconf.c ipv6_devconf_dflt
    'net/ipv6/conf/default/accept_ra': '1',
    'net/ipv4/tcp_keepalive_time': '7200', // include/net/tcp.h TCP_KEEPALIVE_TIME
    'net/ipv4/tcp_keepalive_intvl': '75', // TCP_KEEPALIVE_INTVL
    'kernel/panic': '-1', // CONFIG_PANIC_TIMEOUT=-1
    // kernel/pid.c pid_idr_init: max(PID_MAX_DEFAULT, 1024 per possible CPU), at most PID_MAX_LIMIT
    'kernel/pid_max': String(Math.min(4 * 1024 * 1024, Math.max(32768, 1024 * possibleCpus))),
    'vm/overcommit_memory': '0', // mm/util.c OVERCOMMIT_GUESS
    'fs/inotify/max_user_instances': '128', // fs/notify/inotify/inotify_user.c
    'fs/aio-max-nr': '65536', // fs/aio.c
    'kernel/kptr_restrict': '0', // lib/vsprintf.c
    'kernel/dmesg_restrict': '1', // CONFIG_SECURITY_DMESG_RESTRICT=y
    'kernel/perf_event_paranoid': '2', // kernel/events/core.c
    'kernel/yama/ptrace_scope': '1', // security/yama/yama_lsm.c YAMA_SCOPE_RELATIONAL
    // kernel/fork.c: max_threads = RAM / (8 * THREAD_SIZE 16 KiB), each user-namespace limit max_threads / 2
    'user/max_user_namespaces': String(Math.floor(Math.floor(memTotalKiB / 128) / 2)),
    'kernel/unprivileged_bpf_disabled': '2', // CONFIG_BPF_UNPRIV_DEFAULT_OFF=y
    'net/core/bpf_jit_harden': '0', // kernel/bpf/core.c
  }
  if (key === 'vm/nr_hugepages') {
    // the boot-time pool from the kernel command line (hugepages=)
    const { allocation } = allocateHugepages(n.hardware, hugepagesFromCmdline(n.cmdline))
    return String(allocation.perSize[allocation.defaultSize]?.reduce((a, b) => a + b, 0) ?? 0)
  }
  return boot[key] ?? SYSCTL_DEFAULTS[key]
}

/** The sysroot file of a "proc.sys.<key>" ID, relative to /proc/sys; undefined for a key the kernel cannot have. */
function relPath(id: string): string | undefined {
  try {
    return sysctlPath(id).replace(/^\/proc\/sys\//, '')
  } catch {
    return undefined
  }
}

function fileValue(n: LabNode, rel: string): string | undefined {
  const f = join(paths.root(n.name), 'proc/sys', rel)
  return existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined
}

/** Each parameter machined wrote, configured ones first (they win over a default with the same ID). */
export function kernelParamStatuses(n: LabNode): ModelResource[] {
  const configured = Object.entries(runningConfig(n)?.view.sysctls ?? {}).map(([k, v]) => [`proc.sys.${k}`, v])
  const seen = new Set<string>()
  const out: ModelResource[] = []
  for (const [id, value] of [...configured, ...TALOS_DEFAULTS]) {
    if (seen.has(id!)) continue
    seen.add(id!)
    const rel = relPath(id!)
    // a configured value the kernel refused (no such key, not a number) was not written: no status
    if (rel === undefined || fileValue(n, rel) !== value!.trim()) continue
    out.push({
      id: id!,
      owner: 'runtime.KernelParamSpecController',
      spec: { current: value, default: (kernelBootValue(n, rel) ?? '').trim(), unsupported: false },
    })
  }
  return out
}
