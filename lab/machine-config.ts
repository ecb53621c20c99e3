// Reads the parts of an applied Talos machine config (multi-document YAML) the lab acts on, and decides
// what a config change means on a running node, following Talos v1.10 semantics:
//   - sysctls, kernel modules, node labels/taints, kubelet extraConfig apply live (no reboot);
//   - machine.install.* (extraKernelArgs, image, disk) only takes effect at the next upgrade (the running
//     cmdline and the installed image change only at install/upgrade time);
//   - machine.files is written at boot only (lab/user-files.ts), so a change needs a reboot.
import { parseAllDocuments } from 'yaml'
import type { Hardware, LabDisk } from './state.ts'

/** The Talos v1.10 metal kernel command line (without rescue-system args); extraKernelArgs are appended. */
export const TALOS_DEFAULT_CMDLINE =
  'talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512'

export interface Taint {
  key: string
  value?: string
  effect: string
}

export interface UserVolume {
  name: string
  /** CEL expression from provisioning.diskSelector.match */
  diskSelector: string
  minSize?: string
  maxSize?: string
  filesystem: string
}

/** A machine.files entry (Talos v1alpha1 MachineFile). */
export interface MachineFile {
  path: string
  op: string
  content: string
  /** Octal mode bits as a number (0o644). */
  permissions: number
}

export interface MachineConfigView {
  type: 'controlplane' | 'worker' | 'init'
  /** machine.ca.crt, base64 PEM as in the config. */
  caCrt: string
  caKey: string
  /** machine.token */
  token: string
  clusterName: string
  controlPlaneEndpoint: string
  /** cluster.ca (Kubernetes CA), base64 PEM */
  k8sCaCrt: string
  k8sCaKey: string
  hostname?: string
  installDisk?: string
  installImage?: string
  extraKernelArgs: string[]
  sysctls: Record<string, string>
  kernelModules: string[]
  nodeLabels: Record<string, string>
  nodeTaints: Taint[]
  kubeletExtraConfig: Record<string, unknown>
  kubeletExtraArgs: Record<string, string>
  userVolumes: UserVolume[]
  files: MachineFile[]
}

type Obj = Record<string, any>

/** Parse a machine config; throws with the document/field at fault. */
export function parseMachineConfig(text: string, source = 'machine config'): MachineConfigView {
  const docs = parseAllDocuments(text)
  const values: Obj[] = []
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${source}: ${d.errors[0].message}`)
    const v = d.toJS()
    if (v && typeof v === 'object') values.push(v as Obj)
  }
  const v1 = values.find((d) => d.version === 'v1alpha1' && d.machine)
  if (!v1) throw new Error(`${source}: no v1alpha1 document (version: v1alpha1 with a machine section)`)
  const m: Obj = v1.machine ?? {}
  const c: Obj = v1.cluster ?? {}
  const type = m.type ?? 'worker'
  if (!['controlplane', 'worker', 'init'].includes(type))
    throw new Error(`${source}: machine.type ${JSON.stringify(type)} is not one of controlplane, worker, init`)
  const taints: Taint[] = Object.entries((m.nodeTaints ?? {}) as Record<string, string>).map(([key, spec]) => {
    // Talos nodeTaints: key: "value:Effect" or key: "Effect"
    const s = String(spec)
    const i = s.lastIndexOf(':')
    return i >= 0 ? { key, value: s.slice(0, i), effect: s.slice(i + 1) } : { key, effect: s }
  })
  const userVolumes: UserVolume[] = values
    .filter((d) => d.kind === 'UserVolumeConfig')
    .map((d) => ({
      name: String(d.name),
      diskSelector: String(d.provisioning?.diskSelector?.match ?? ''),
      minSize: d.provisioning?.minSize,
      maxSize: d.provisioning?.maxSize,
      filesystem: d.filesystem?.type ?? 'xfs',
    }))
  return {
    type,
    caCrt: m.ca?.crt ?? '',
    caKey: m.ca?.key ?? '',
    token: m.token ?? '',
    clusterName: c.clusterName ?? '',
    controlPlaneEndpoint: c.controlPlane?.endpoint ?? '',
    k8sCaCrt: c.ca?.crt ?? '',
    k8sCaKey: c.ca?.key ?? '',
    hostname: m.network?.hostname,
    installDisk: m.install?.disk,
    installImage: m.install?.image,
    extraKernelArgs: (m.install?.extraKernelArgs ?? []).map(String),
    sysctls: Object.fromEntries(Object.entries(m.sysctls ?? {}).map(([k, val]) => [k, String(val)])),
    kernelModules: (m.kernel?.modules ?? []).map((x: Obj) => String(x.name)),
    nodeLabels: Object.fromEntries(Object.entries(m.nodeLabels ?? {}).map(([k, val]) => [k, String(val)])),
    nodeTaints: taints,
    kubeletExtraConfig: m.kubelet?.extraConfig ?? {},
    kubeletExtraArgs: m.kubelet?.extraArgs ?? {},
    userVolumes,
    files: ((m.files ?? []) as Obj[]).map((f) => ({
      path: String(f.path ?? ''),
      op: String(f.op ?? ''),
      content: String(f.content ?? ''),
      permissions: Number(f.permissions ?? 0o644),
    })),
  }
}

/**
 * Kernel cmdline after install/upgrade with this config from an installer whose schematic carries `schematicArgs`.
 * systemd-boot (UEFI) ignores machine.install.extraKernelArgs (website/content/v1.10/reference/configuration/v1alpha1/
 * config.md, install.extraKernelArgs: "If Talos is using systemd-boot as a bootloader (default for UEFI) this setting
 * will be ignored"); GRUB appends them.
 */
export function installCmdline(
  cfg: MachineConfigView,
  schematicArgs: string[] = [],
  firmware: 'uefi' | 'bios' = 'bios',
): string {
  return [TALOS_DEFAULT_CMDLINE, ...schematicArgs, ...(firmware === 'uefi' ? [] : cfg.extraKernelArgs)].join(' ')
}

// ---- diskSelector CEL subset: disk.model/serial/transport/dev_path == "x", != , !system_disk, disk.rotational, &&, ||, ( )

type Tok = { t: 'id' | 'str' | 'op' | 'lp' | 'rp' | 'not' | 'num'; v: string }

function tokenize(expr: string): Tok[] {
  const out: Tok[] = []
  let i = 0
  while (i < expr.length) {
    const ch = expr[i]
    if (/\s/.test(ch)) {
      i++
      continue
    }
    if (ch === '"' || ch === "'") {
      const q = ch
      let j = i + 1
      let s = ''
      while (j < expr.length && expr[j] !== q) {
        if (expr[j] === '\\') j++
        s += expr[j]
        j++
      }
      if (j >= expr.length) throw new Error(`unterminated string in ${JSON.stringify(expr)}`)
      out.push({ t: 'str', v: s })
      i = j + 1
      continue
    }
    const two = expr.slice(i, i + 2)
    if (['==', '!=', '&&', '||', '>=', '<='].includes(two)) {
      out.push({ t: 'op', v: two })
      i += 2
      continue
    }
    if (ch === '>' || ch === '<') {
      out.push({ t: 'op', v: ch })
      i++
      continue
    }
    if (ch === '!') {
      out.push({ t: 'not', v: ch })
      i++
      continue
    }
    if (ch === '(') {
      out.push({ t: 'lp', v: ch })
      i++
      continue
    }
    if (ch === ')') {
      out.push({ t: 'rp', v: ch })
      i++
      continue
    }
    const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(expr.slice(i))
    if (m) {
      out.push({ t: 'id', v: m[0] })
      i += m[0].length
      continue
    }
    const n = /^[0-9]+(u)?(\s*\*\s*[a-z.0-9]+)?/.exec(expr.slice(i))
    if (n) {
      out.push({ t: 'num', v: n[0] })
      i += n[0].length
      continue
    }
    throw new Error(`unsupported character ${JSON.stringify(ch)} in disk selector ${JSON.stringify(expr)}`)
  }
  return out
}

export interface DiskFacts {
  disk: LabDisk
  systemDisk: boolean
}

function diskField(d: LabDisk, name: string): string | number | boolean {
  const f = name.replace(/^disk\./, '')
  switch (f) {
    case 'model':
      return d.model
    case 'serial':
      return d.serial
    case 'transport':
      return d.transport
    case 'rotational':
      return d.rotational
    case 'wwid':
      return d.wwid ?? ''
    case 'dev_path':
      return d.dev
    case 'size':
      return d.sizeBytes
    default:
      throw new Error(`unsupported disk selector field ${name}`)
  }
}

/** Evaluate a UserVolumeConfig diskSelector (a CEL subset) against one disk. */
export function matchDiskSelector(expr: string, facts: DiskFacts): boolean {
  const toks = tokenize(expr)
  let p = 0
  const peek = () => toks[p]
  const value = (): string | number | boolean => {
    const t = toks[p++]
    if (!t) throw new Error(`disk selector ${JSON.stringify(expr)} ends early`)
    if (t.t === 'str') return t.v
    if (t.t === 'num') {
      const mm = /^([0-9]+)u?(?:\s*\*\s*([a-z.0-9]+))?$/.exec(t.v)!
      const units: Record<string, number> = {
        'u.KiB': 1024,
        'u.MiB': 1024 ** 2,
        'u.GiB': 1024 ** 3,
        'u.TiB': 1024 ** 4,
        'u.KB': 1e3,
        'u.MB': 1e6,
        'u.GB': 1e9,
        'u.TB': 1e12,
      }
      return Number(mm[1]) * (mm[2] ? (units[mm[2]] ?? NaN) : 1)
    }
    if (t.t === 'id') {
      if (t.v === 'system_disk') return facts.systemDisk
      if (t.v === 'true' || t.v === 'false') return t.v === 'true'
      return diskField(facts.disk, t.v)
    }
    throw new Error(`unexpected ${t.v} in disk selector ${JSON.stringify(expr)}`)
  }
  const unary = (): boolean => {
    const t = peek()
    if (t?.t === 'not') {
      p++
      return !unary()
    }
    if (t?.t === 'lp') {
      p++
      const v = or()
      if (peek()?.t !== 'rp') throw new Error(`missing ) in disk selector ${JSON.stringify(expr)}`)
      p++
      return v
    }
    const left = value()
    const op = peek()
    if (op?.t === 'op' && !['&&', '||'].includes(op.v)) {
      p++
      const right = value()
      switch (op.v) {
        case '==':
          return left === right
        case '!=':
          return left !== right
        case '>':
          return Number(left) > Number(right)
        case '<':
          return Number(left) < Number(right)
        case '>=':
          return Number(left) >= Number(right)
        case '<=':
          return Number(left) <= Number(right)
      }
    }
    return Boolean(left)
  }
  const and = (): boolean => {
    let v = unary()
    while (peek()?.t === 'op' && peek().v === '&&') {
      p++
      const r = unary()
      v = v && r
    }
    return v
  }
  const or = (): boolean => {
    let v = and()
    while (peek()?.t === 'op' && peek().v === '||') {
      p++
      const r = and()
      v = v || r
    }
    return v
  }
  const result = or()
  if (p !== toks.length) throw new Error(`unexpected ${toks[p].v} in disk selector ${JSON.stringify(expr)}`)
  return result
}

export interface RuntimeMount {
  device: string
  mountPoint: string
  fsType: string
  uid?: number
  gid?: number
  mode?: string
}

export interface RuntimeConfig {
  sysctls: Record<string, string>
  kernelModules: string[]
  mounts: RuntimeMount[]
}

/** The runtime state a config asks for on this hardware: each user volume on the first matching disk. */
export function runtimeConfigFor(cfg: MachineConfigView, hw: Hardware, installDisk: string | undefined): RuntimeConfig {
  const taken = new Set<string>()
  const mounts: RuntimeMount[] = []
  for (const vol of cfg.userVolumes) {
    const disk = hw.disks.find(
      (d) => !taken.has(d.dev) && matchDiskSelector(vol.diskSelector, { disk: d, systemDisk: d.dev === installDisk }),
    )
    if (!disk) throw new Error(`user volume ${vol.name}: no disk matches ${JSON.stringify(vol.diskSelector)}`)
    taken.add(disk.dev)
    mounts.push({ device: disk.dev, mountPoint: `/var/mnt/${vol.name}`, fsType: vol.filesystem })
  }
  return { sysctls: cfg.sysctls, kernelModules: cfg.kernelModules, mounts }
}

export interface ConfigChange {
  /** dotted path of what changed, e.g. machine.sysctls, machine.install.extraKernelArgs */
  field: string
  /** live: applied now; upgrade: takes effect at the next `talosctl upgrade`; reboot: needs a reboot */
  effect: 'live' | 'upgrade' | 'reboot'
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** What changed between two configs and when each change takes effect on a running node. */
export function diffConfigs(prev: MachineConfigView, next: MachineConfigView): ConfigChange[] {
  const out: ConfigChange[] = []
  const live: [string, keyof MachineConfigView][] = [
    ['machine.sysctls', 'sysctls'],
    ['machine.kernel.modules', 'kernelModules'],
    ['machine.nodeLabels', 'nodeLabels'],
    ['machine.nodeTaints', 'nodeTaints'],
    ['machine.kubelet.extraConfig', 'kubeletExtraConfig'],
    ['machine.kubelet.extraArgs', 'kubeletExtraArgs'],
    ['machine.network.hostname', 'hostname'],
  ]
  for (const [field, key] of live) if (!same(prev[key], next[key])) out.push({ field, effect: 'live' })
  const upgrade: [string, keyof MachineConfigView][] = [
    ['machine.install.extraKernelArgs', 'extraKernelArgs'],
    ['machine.install.image', 'installImage'],
    ['machine.install.disk', 'installDisk'],
  ]
  for (const [field, key] of upgrade) if (!same(prev[key], next[key])) out.push({ field, effect: 'upgrade' })
  if (!same(prev.userVolumes, next.userVolumes)) out.push({ field: 'UserVolumeConfig', effect: 'live' })
  // Talos applies at once only the fields CanApplyImmediate lists (v1.10.3 internal/app/machined/pkg/runtime/
  // v1alpha1/v1alpha1_runtime.go:138-194); machine.files is not one of them: apply-config --mode auto reboots
  const reboot: [string, keyof MachineConfigView][] = [
    ['machine.files', 'files'],
    ['machine.type', 'type'],
    ['machine.ca', 'caCrt'],
    ['cluster.clusterName', 'clusterName'],
    ['cluster.controlPlane.endpoint', 'controlPlaneEndpoint'],
  ]
  for (const [field, key] of reboot) if (!same(prev[key], next[key])) out.push({ field, effect: 'reboot' })
  return out
}

/** Unified-ish line diff of two YAML texts, as `apply-config --dry-run` prints (Config diff:). */
export function lineDiff(a: string, b: string, nameA = 'a', nameB = 'b'): string {
  const x = a.split('\n')
  const y = b.split('\n')
  // LCS table; configs are a few hundred lines
  const n = x.length
  const m = y.length
  const dp: number[][] = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0))
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      dp[i][j] = x[i] === y[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1])
  const ops: string[] = []
  let i = 0
  let j = 0
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      ops.push(' ' + x[i])
      i++
      j++
    } else if (j < m && (i >= n || dp[i][j + 1] >= dp[i + 1][j])) {
      ops.push('+' + y[j])
      j++
    } else {
      ops.push('-' + x[i])
      i++
    }
  }
  if (!ops.some((o) => o[0] !== ' ')) return ''
  return (
    [
      `--- ${nameA}`,
      `+++ ${nameB}`,
      ...ops.filter((o, k) => o[0] !== ' ' || ops.slice(Math.max(0, k - 3), k + 4).some((q) => q[0] !== ' ')),
    ].join('\n') + '\n'
  )
}
