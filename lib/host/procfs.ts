// Parsers for the procfs files the runbooks and checks read through the Talos API (`talosctl read /proc/...`):
// /proc/meminfo, /proc/cmdline (with the kernel's huge page arguments), /proc/modules, /proc/mounts, and the
// sysctl key ↔ /proc/sys path mapping. Pure: text in, values out.

// ---------------------------------------------------------------- /proc/meminfo

/**
 * /proc/meminfo (or a node's meminfo) → key → number, keys exactly as in the file ("MemTotal", "HugePages_Total",
 * "Active(anon)"). Sized values are in kB as printed; HugePages_* are page counts. A "Node N " prefix is dropped.
 */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^(?:Node\s+\d+\s+)?([^:\s][^:]*):\s*(\d+)(?:\s+kB)?\s*$/.exec(line)
    if (m) out[m[1]!] = Number(m[2])
  }
  return out
}

// ---------------------------------------------------------------- /proc/cmdline

interface Cmdline {
  /** Arguments in order, quotes removed ("foo=\"a b\"" → "foo=a b"). Stops before `--` (the rest goes to init). */
  args: string[]
  /** Everything after a bare `--`. */
  initArgs: string[]
  /** Value of the last `key=value`; '' for a bare flag `key`; undefined when absent. */
  get(key: string): string | undefined
  /** Every value of key, in order ('' for bare occurrences). */
  all(key: string): string[]
  has(key: string): boolean
}

/** Split like the kernel's next_arg(): whitespace separates, double quotes group and are dropped. */
function splitKernelArgs(text: string): string[] {
  const out: string[] = []
  let cur = ''
  let inQuote = false
  let any = false
  for (const ch of text) {
    if (ch === '"') {
      inQuote = !inQuote
      any = true
    } else if (!inQuote && /\s/.test(ch)) {
      if (any) out.push(cur)
      cur = ''
      any = false
    } else {
      cur += ch
      any = true
    }
  }
  if (any) out.push(cur)
  return out
}

export function parseCmdline(text: string): Cmdline {
  const tokens = splitKernelArgs(text)
  const dd = tokens.indexOf('--')
  const args = dd < 0 ? tokens : tokens.slice(0, dd)
  const initArgs = dd < 0 ? [] : tokens.slice(dd + 1)
  const kv = args.map((a) => {
    const eq = a.indexOf('=')
    return eq < 0 ? { key: a, value: '' } : { key: a.slice(0, eq), value: a.slice(eq + 1) }
  })
  // the kernel treats '-' and '_' in parameter names alike (parameq)
  const norm = (k: string) => k.replace(/-/g, '_')
  const all = (key: string) => kv.filter((e) => norm(e.key) === norm(key)).map((e) => e.value)
  return {
    args,
    initArgs,
    all,
    get: (key) => all(key).at(-1),
    has: (key) => all(key).length > 0,
  }
}

/**
 * Wanted kernel args the running command line lacks (an arg counts as present with exactly this value). hugepagesz=
 * and hugepages= come in pairs, one pair per page size, so the last value does not decide: a hugepagesz= is present
 * when the command line names that size, and a hugepages= when the command line asks the same of the size it belongs
 * to (the hugepagesz= before it in `wanted`, else the default size), as the kernel reads it (hugepagesFromCmdline).
 */
export function missingKernelArgs(cmdline: string, wanted: string[]): string[] {
  const have = parseCmdline(cmdline)
  const running = hugepagesFromCmdline(cmdline)
  let size = hugepagesFromCmdline(wanted.join(' ')).defaultSize
  return wanted.filter((arg) => {
    const eq = arg.indexOf('=')
    if (eq < 0) return !have.has(arg)
    const [key, value] = [arg.slice(0, eq), arg.slice(eq + 1)]
    if (key === 'hugepagesz') {
      size = parseHugepageSize(value) ?? size
      return !have.all(key).some((v) => parseHugepageSize(v) === size)
    }
    if (key === 'hugepages') {
      const want = hugepagesFromCmdline(`hugepagesz=${size}k hugepages=${value}`).sizes[0]
      const got = running.sizes.find((r) => r.sizeKiB === size)
      return JSON.stringify(got) !== JSON.stringify(want)
    }
    return have.get(key) !== value
  })
}

// ---------------------------------------------------------------- huge pages on the command line

interface HugepageRequest {
  sizeKiB: number
  /** hugepages=N: spread by the kernel over the nodes with memory. */
  count?: number
  /** hugepages=0:4,1:4: pages per NUMA node. */
  perNode?: Record<number, number>
}

export interface HugepageCmdline {
  /** default_hugepagesz (kB), or 2048 when absent: the size /proc/meminfo's HugePages_* describe. */
  defaultSize: number
  sizes: HugepageRequest[]
  /** Arguments the kernel would reject with a warning (and ignore). */
  warnings: string[]
}

/** x86-64 huge page sizes. */
export const SUPPORTED_HUGEPAGE_KIB = [2048, 1048576]

/** "1G", "2M", "1048576k", "2097152" (bytes) → kB, as the kernel's memparse reads hugepagesz=. */
export function parseHugepageSize(text: string): number | undefined {
  const m = /^(\d+)([kKmMgGtT]?)$/.exec(text.trim())
  if (!m) return undefined
  const mult: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }
  const bytes = Number(m[1]) * mult[m[2]!.toLowerCase()]!
  return bytes % 1024 === 0 ? bytes / 1024 : undefined
}

/**
 * What the kernel makes of hugepagesz= / hugepages= / default_hugepagesz= (Documentation/admin-guide/mm/hugetlbpage):
 * hugepages= applies to the hugepagesz= before it, or to the default size when it comes first or follows
 * default_hugepagesz=; a second hugepages= for a size, an unsupported size or a malformed node list is ignored.
 */
export function hugepagesFromCmdline(cmdline: string): HugepageCmdline {
  const { args } = parseCmdline(cmdline)
  const warnings: string[] = []
  let defaultSize: number | undefined
  for (const a of args) {
    if (!a.startsWith('default_hugepagesz=')) continue
    const v = a.slice('default_hugepagesz='.length)
    const size = parseHugepageSize(v)
    if (size === undefined || !SUPPORTED_HUGEPAGE_KIB.includes(size))
      warnings.push(`unsupported default_hugepagesz=${v}`)
    else defaultSize = size
  }
  const def = defaultSize ?? 2048
  const bySize = new Map<number, HugepageRequest>()
  // 'default' until a hugepagesz= names a size; undefined after an unsupported hugepagesz= (its hugepages= are dropped)
  let current: number | 'default' | undefined = 'default'
  for (const a of args) {
    const eq = a.indexOf('=')
    const key = eq < 0 ? a : a.slice(0, eq)
    const v = eq < 0 ? '' : a.slice(eq + 1)
    if (key === 'hugepagesz') {
      const size = parseHugepageSize(v)
      if (size === undefined || !SUPPORTED_HUGEPAGE_KIB.includes(size)) {
        warnings.push(`unsupported hugepagesz=${v}`)
        current = undefined
      } else current = size
    } else if (key === 'default_hugepagesz') {
      current = 'default'
    } else if (key === 'hugepages') {
      if (current === undefined) {
        warnings.push(`hugepages=${v} follows an unsupported hugepagesz=, ignored`)
        continue
      }
      const size = current === 'default' ? def : current
      if (bySize.has(size)) {
        warnings.push(`hugepages= specified twice for ${size} kB pages, ignoring hugepages=${v}`)
        continue
      }
      let req: HugepageRequest | undefined
      if (/^\d+$/.test(v)) req = { sizeKiB: size, count: Number(v) }
      else if (/^\d+:\d+(,\d+:\d+)*$/.test(v)) {
        const perNode: Record<number, number> = {}
        for (const part of v.split(',')) {
          const [n, c] = part.split(':').map(Number)
          perNode[n!] = c!
        }
        req = { sizeKiB: size, perNode }
      }
      if (req === undefined) warnings.push(`invalid hugepages=${v}`)
      else bySize.set(size, req)
    }
  }
  return { defaultSize: def, sizes: [...bySize.values()], warnings }
}

// ---------------------------------------------------------------- /proc/modules

interface ModuleEntry {
  name: string
  sizeBytes: number
  refcount: number
  /** Modules using this one. */
  usedBy: string[]
  state: 'Live' | 'Loading' | 'Unloading' | string
  address: string
  /** Taint flags such as "(OE)", without parentheses; '' when none. */
  taints: string
}

/** "tcp_bbr 20480 3 - Live 0x0000000000000000" → entries. */
/** Module names in modules.builtin ("kernel/net/ipv4/tcp_bbr.ko" → tcp_bbr), '-' spelled '_' as the kernel does. */
export function parseModulesBuiltin(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.endsWith('.ko'))
    .map((l) => l.slice(l.lastIndexOf('/') + 1, -3).replace(/-/g, '_'))
}

export function parseModules(text: string): ModuleEntry[] {
  const out: ModuleEntry[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const f = line.trim().split(/\s+/)
    if (f.length < 5) throw new Error(`bad /proc/modules line: ${JSON.stringify(line)}`)
    const usedBy = f[3] === '-' ? [] : f[3]!.split(',').filter((s) => s !== '')
    const taint = f[6] ?? ''
    out.push({
      name: f[0]!,
      sizeBytes: Number(f[1]),
      refcount: f[2] === '-' ? 0 : Number(f[2]),
      usedBy,
      state: f[4]!,
      address: f[5] ?? '',
      taints: taint.replace(/^\(|\)$/g, ''),
    })
  }
  return out
}

// ---------------------------------------------------------------- /proc/mounts

interface MountEntry {
  device: string
  mountPoint: string
  fsType: string
  options: string[]
  dump: number
  pass: number
}

/** /proc/mounts escapes space, tab, newline and backslash as octal (\040 \011 \012 \134). */
const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
export const escapeMountField = (s: string) =>
  s.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`)

export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const f = line.trim().split(/\s+/)
    if (f.length < 4) throw new Error(`bad /proc/mounts line: ${JSON.stringify(line)}`)
    out.push({
      device: unescapeMount(f[0]!),
      mountPoint: unescapeMount(f[1]!),
      fsType: f[2]!,
      options: f[3]!.split(','),
      dump: Number(f[4] ?? 0),
      pass: Number(f[5] ?? 0),
    })
  }
  return out
}

// ---------------------------------------------------------------- sysctl

/**
 * sysctl key → its /proc/sys file. "net.core.rmem_max" → "/proc/sys/net/core/rmem_max". A key already written with
 * slashes ("net/ipv4/conf/eth0.100/forwarding", as sysctl(8) allows for names containing dots) keeps its dots;
 * "proc.sys.vm.swappiness" (Talos KernelParam ids) and "/proc/sys/..." are accepted too.
 */
export function sysctlPath(key: string): string {
  // Talos' own KernelParam keys carry a "proc.sys." prefix; there is no top-level sysctl named "proc"
  const k = key.trim().replace(/^\/?proc[./]sys[./]/, '')
  if (k === '' || k.split(/[./]/).some((p) => p === '' || p === '..'))
    throw new Error(`bad sysctl key ${JSON.stringify(key)}`)
  return `/proc/sys/${k.includes('/') ? k : k.replace(/\./g, '/')}`
}

/** /proc/sys path → dotted sysctl key (the reverse of sysctlPath for keys without dots in their parts). */
export function sysctlKey(path: string): string {
  return path.replace(/^\/?proc\/sys\//, '').replace(/\//g, '.')
}

// ---------------------------------------------------------------- /proc/<pid>/limits and /proc/<pid>/status

/** One row of /proc/<pid>/limits; undefined soft/hard = "unlimited" (RLIM_INFINITY). */
export interface ProcLimit {
  soft: number | undefined
  hard: number | undefined
  units: string
}

/**
 * /proc/<pid>/limits (kernel fs/proc/base.c proc_pid_limits: "%-25s %-20s %-20s %-10s" per row, "unlimited" for
 * RLIM_INFINITY) → name ("Max locked memory") → limit. Throws on a row it cannot read.
 */
export function parseProcLimits(text: string): Map<string, ProcLimit> {
  const out = new Map<string, ProcLimit>()
  const value = (v: string) => (v === 'unlimited' ? undefined : Number(v))
  for (const line of text.split('\n')) {
    if (line.trim() === '' || /^Limit\s+Soft Limit/.test(line)) continue
    const m = /^(Max [a-z ]+?)\s+(unlimited|\d+)\s+(unlimited|\d+)(?:\s+(\S+))?\s*$/.exec(line)
    if (!m) throw new Error(`/proc/<pid>/limits: cannot read ${JSON.stringify(line)}`)
    out.set(m[1]!, { soft: value(m[2]!), hard: value(m[3]!), units: m[4] ?? '' })
  }
  return out
}

/** /proc/<pid>/status (fs/proc/array.c: "Key:\tvalue" lines) → key → value, whitespace trimmed. */
export function parseProcStatus(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim()
  }
  return out
}
