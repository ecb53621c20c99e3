// The host limits a Solana validator needs, as Firedancer's `fdctl configure check sysctl` judges them
// (firedancer-io/firedancer src/app/shared/commands/configure/sysctl.c, the `params` table, at 178b48fe; Agave needs
// the same ones and fdctl sets them on its behalf, the file says). Each threshold names its line there. They are
// read from /proc/sys, whether or not the inventory sets them: fs.nr_open and fs.file-max usually pass on the
// kernel's defaults, vm.max_map_count never does (65530). Pure data and judgement: checks/defs/solana.ts applies it.
/** fdctl's modes: ENFORCE_MINIMUM (at least the value), WARN_EXACT (exactly; a failure here, not fdctl's warning). */
export interface HostLimit {
  key: string
  rule: 'minimum' | 'exact'
  value: number
  /** fdctl's allow_missing: a kernel without the file passes (kernel.numa_balancing on a kernel without NUMA balancing). */
  allowMissing: boolean
  /** fdctl's WARN_MINIMUM: below it fdctl warns and goes on. */
  warnOnly?: boolean
  source: string
}

const SYSCTL_C = 'firedancer src/app/shared/commands/configure/sysctl.c'
/** configure.h: #define CONFIGURE_NR_OPEN_FILES (1024000U) */
const CONFIGURE_NR_OPEN_FILES = 1_024_000

export const HOST_LIMITS: HostLimit[] = [
  { key: 'vm.max_map_count', rule: 'minimum', value: 1_000_000, allowMissing: false, source: `${SYSCTL_C}:29-34` },
  {
    key: 'fs.file-max',
    rule: 'minimum',
    value: CONFIGURE_NR_OPEN_FILES,
    allowMissing: false,
    source: `${SYSCTL_C}:35-40`,
  },
  {
    key: 'fs.nr_open',
    rule: 'minimum',
    value: CONFIGURE_NR_OPEN_FILES,
    allowMissing: false,
    source: `${SYSCTL_C}:41-46`,
  },
  // Talos v1.10.3's kernel is built without CONFIG_NUMA_BALANCING (siderolabs/pkgs kernel/build/config-amd64 at
  // v1.10.0-16-g39b9c9f): the file is absent, which fdctl accepts (allow_missing 1). Setting it in machine.sysctls
  // would fail on that kernel, so the inventory must not.
  { key: 'kernel.numa_balancing', rule: 'exact', value: 0, allowMissing: true, source: `${SYSCTL_C}:47-52` },
]

/** fdctl's `[net] provider` (src/app/fdctl/config/default.toml: provider = "xdp"): which extra sysctls it checks. */
export type NetProvider = 'xdp' | 'socket'

/**
 * fdctl's xdp_params (sysctl.c:56-82): XDP's packets to and from the validator's own address go through lo, which
 * these let through. rp_filter 2 is loose mode, accept_local 1 accepts packets with a local source. bpf_jit_enable is
 * a warning there (WARN_MINIMUM) and holds on Talos's kernel anyway: CONFIG_BPF_JIT_ALWAYS_ON=y (siderolabs/pkgs
 * kernel/build/config-amd64 at v1.10.0, line 121) pins it to 1. Talos sets none of the lo ones
 * (internal/app/machined/pkg/controllers/runtime/kernel_param_defaults.go at v1.10.3), so the kernel's 0 stays unless
 * the validator's config sets them (config/render.ts netProviderSysctls).
 */
const XDP_LIMITS: HostLimit[] = [
  { key: 'net.ipv4.conf.lo.rp_filter', rule: 'minimum', value: 2, allowMissing: false, source: `${SYSCTL_C}:57-62` },
  { key: 'net.ipv4.conf.lo.accept_local', rule: 'minimum', value: 1, allowMissing: false, source: `${SYSCTL_C}:63-68` },
  {
    key: 'net.core.bpf_jit_enable',
    rule: 'minimum',
    value: 1,
    allowMissing: false,
    warnOnly: true,
    source: `${SYSCTL_C}:69-74`,
  },
  {
    key: 'net.ipv4.conf.lo.route_localnet',
    rule: 'minimum',
    value: 1,
    allowMissing: true,
    source: `${SYSCTL_C}:75-80`,
  },
]

/** fdctl's [net.socket] receive_buffer_size and send_buffer_size defaults (default.toml): 128 MiB each. */
const SOCKET_BUFFER_BYTES = 134_217_728

/** fdctl's sock_params (sysctl.c:84-96): the socket provider's buffers must fit under rmem_max and wmem_max. */
const SOCKET_LIMITS: HostLimit[] = [
  {
    key: 'net.core.rmem_max',
    rule: 'minimum',
    value: SOCKET_BUFFER_BYTES,
    allowMissing: false,
    source: `${SYSCTL_C}:85-90`,
  },
  {
    key: 'net.core.wmem_max',
    rule: 'minimum',
    value: SOCKET_BUFFER_BYTES,
    allowMissing: false,
    source: `${SYSCTL_C}:91-96`,
  },
]

/** Every limit fdctl checks for a validator on `provider` (its default: XDP). */
export const hostLimitsFor = (provider: NetProvider = 'xdp'): HostLimit[] => [
  ...HOST_LIMITS,
  ...(provider === 'xdp' ? XDP_LIMITS : SOCKET_LIMITS),
]

/**
 * What the validator's machine.sysctls must carry for fdctl's provider checks to pass (the inventory's own sysctls
 * win over these): the kernel defaults of the lo settings and of rmem_max/wmem_max (212992) are below them.
 */
export const netProviderSysctls = (provider: NetProvider = 'xdp'): Record<string, string> =>
  Object.fromEntries(
    (provider === 'xdp' ? XDP_LIMITS.filter((l) => !l.warnOnly) : SOCKET_LIMITS).map((l) => [l.key, String(l.value)]),
  )

export const hostLimitPath = (key: string) => `/proc/sys/${key.replaceAll('.', '/')}`

/** One limit judged against what /proc/sys shows (undefined: the file is not there). */
export function judgeHostLimit(limit: HostLimit, seen: string | undefined): { ok: boolean; why: string } {
  const want = `${limit.rule === 'minimum' ? '≥ ' : ''}${limit.value}`
  if (seen === undefined)
    return limit.allowMissing
      ? { ok: true, why: `${limit.key}: not in this kernel, which fdctl accepts (${limit.source})` }
      : { ok: false, why: `${limit.key}: /proc/sys has no such file; fdctl wants ${want} (${limit.source})` }
  const n = Number(seen.trim())
  const ok = Number.isFinite(n) && (limit.rule === 'minimum' ? n >= limit.value : n === limit.value)
  return ok
    ? { ok, why: `${limit.key} = ${seen.trim()} (fdctl: ${want})` }
    : { ok, why: `${limit.key} is ${seen.trim()}, fdctl wants ${want} (${limit.source})` }
}

/**
 * The process limits a validator's container needs. nofile: the validator guide's "Increase systemd and session file
 * limits" (LimitNOFILE=1000000; docs.solanalabs.com operations/guides/validator-start). memlock: 2,000,000,000 bytes
 * for Agave 3.x's io_uring snapshot loading (the LimitMEMLOCK=2000000000 operators put in their units; not read in
 * Agave's own source here). Talos gives CRI containers no rlimits of their own (they inherit containerd's: 1048576
 * open files, a small memlock), so the validator's config sets them in machine.baseRuntimeSpecOverrides.
 */
export const VALIDATOR_RLIMITS = [
  { type: 'RLIMIT_MEMLOCK', minimum: 2_000_000_000, render: 2_000_000_000 },
  { type: 'RLIMIT_NOFILE', minimum: 1_000_000, render: 1_048_576 },
] as const

/** What Talos would inherit for a limit the spec leaves out (website/content/v1.10/advanced/oci-base-spec.md). */
const INHERITED: Record<string, number | undefined> = { RLIMIT_NOFILE: 1_048_576 }

interface OciRlimit {
  type: string
  hard: number
  soft: number
}

/** machine.baseRuntimeSpecOverrides for the validator: the rlimits above, soft = hard. */
export const validatorRuntimeSpecOverrides = () => ({
  process: { rlimits: VALIDATOR_RLIMITS.map((l) => ({ type: l.type, hard: l.render, soft: l.render })) },
})

/** Each validator rlimit judged against a base runtime spec's JSON (/etc/cri/conf.d/base-spec.json). */
export function judgeRuntimeSpec(json: string): { type: string; ok: boolean; seen: string; why: string }[] {
  let rlimits: OciRlimit[]
  try {
    rlimits = ((JSON.parse(json) as { process?: { rlimits?: OciRlimit[] } }).process?.rlimits ?? []) as OciRlimit[]
  } catch (e) {
    return [{ type: 'base-spec.json', ok: false, seen: '(not JSON)', why: `not JSON: ${(e as Error).message}` }]
  }
  return VALIDATOR_RLIMITS.map((l) => {
    // the last entry of a type wins (runc applies them in order)
    const r = rlimits.filter((x) => x.type === l.type).pop()
    if (!r) {
      const inherited = INHERITED[l.type]
      return inherited !== undefined && inherited >= l.minimum
        ? {
            type: l.type,
            ok: true,
            seen: `(inherited ${inherited})`,
            why: `${l.type} not set: containers inherit ${inherited}`,
          }
        : {
            type: l.type,
            ok: false,
            seen: '(not set)',
            why: `${l.type} is not set: containers get containerd's own, not ≥ ${l.minimum}`,
          }
    }
    const low = Math.min(r.soft, r.hard)
    const seen = r.soft === r.hard ? String(r.soft) : `soft ${r.soft}, hard ${r.hard}`
    return low >= l.minimum
      ? {
          type: l.type,
          ok: true,
          seen,
          why: `${l.type} soft ${r.soft}, hard ${r.hard}`,
        }
      : {
          type: l.type,
          ok: false,
          seen,
          why: `${l.type} is soft ${r.soft}, hard ${r.hard}; the validator needs ≥ ${l.minimum}`,
        }
  })
}

/**
 * What the validator's container adds to containerd's default capabilities for its network path. XDP (fdctl's
 * default provider; Agave's too from 3.0) loads a BPF program and opens AF_XDP sockets: Agave's xdp-compatibility
 * client asks for `setcap cap_net_admin,cap_net_raw,cap_bpf,cap_perfmon` (anza-xyz/agave xdp-compatibility
 * README). The socket provider needs none of them. The pod also runs on the host's network (an XDP program attaches
 * to the host's NIC), which PodSecurity's baseline level refuses: the validator's namespace is labelled privileged.
 */
export function validatorCapabilities(provider: NetProvider = 'xdp'): string[] {
  return provider === 'xdp' ? ['NET_ADMIN', 'NET_RAW', 'BPF', 'PERFMON'] : []
}
