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
