// Linux capabilities as /proc/<pid>/status prints them (CapEff etc.: 16 hex digits, bit N = capability N; kernel
// fs/proc/array.c render_cap_t) and by name (include/uapi/linux/capability.h, up to CAP_CHECKPOINT_RESTORE = 40,
// CAP_LAST_CAP of kernel 6.12). Pure.

/** Index = capability number. */
const CAPABILITY_NAMES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
] as const

export type Capability = (typeof CAPABILITY_NAMES)[number]

/** "0000000000003000" → ['NET_ADMIN', 'NET_RAW']; bits above CAP_LAST_CAP come out as "cap_<n>". */
export function capabilitiesOfMask(hex: string): string[] {
  const text = hex.trim()
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) throw new Error(`not a capability mask: ${JSON.stringify(hex)}`)
  const mask = BigInt(`0x${text}`)
  const out: string[] = []
  for (let bit = 0; bit < 64; bit++) if ((mask >> BigInt(bit)) & 1n) out.push(CAPABILITY_NAMES[bit] ?? `cap_${bit}`)
  return out
}

/** Names (with or without CAP_) → the 16-hex-digit mask the kernel prints. Throws on an unknown name. */
export function maskOfCapabilities(names: Iterable<string>): string {
  let mask = 0n
  for (const raw of names) {
    const name = raw.toUpperCase().replace(/^CAP_/, '')
    const bit = CAPABILITY_NAMES.indexOf(name as Capability)
    if (bit < 0) throw new Error(`unknown capability ${raw}`)
    mask |= 1n << BigInt(bit)
  }
  return mask.toString(16).padStart(16, '0')
}
