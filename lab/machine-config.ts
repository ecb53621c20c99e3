// Reads the parts of an applied Talos machine config (multi-document YAML) the lab acts on, and decides
// what a config change means on a running node, following Talos v1.10 semantics:
//   - sysctls, kernel modules, node labels/taints, kubelet extraConfig apply live (no reboot);
//   - machine.install.* (extraKernelArgs, image, disk) only takes effect at the next upgrade (the running
//     cmdline and the installed image change only at install/upgrade time);
//   - machine.files is written at boot only (lab/user-files.ts), so a change needs a reboot.
import { parseAllDocuments } from 'yaml'
import type { Hardware } from './state.ts'
import { provisionUserVolumes, type UserVolume } from './volumes.ts'

export type { UserVolume } from './volumes.ts'
export { matchDiskSelector, type DiskFacts } from './disk-selector.ts'

/** The Talos v1.10 metal kernel command line (without rescue-system args); extraKernelArgs are appended. */
export const TALOS_DEFAULT_CMDLINE =
  'talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512'

export interface Taint {
  key: string
  value?: string
  effect: string
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
  /** machine.network.interfaces as written (lab/network.ts reads them as Talos' network controllers do) */
  interfaces: Record<string, unknown>[]
  /** machine.baseRuntimeSpecOverrides as written (an OCI runtime spec fragment) */
  baseRuntimeSpecOverrides: Record<string, unknown>
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
    interfaces: Array.isArray(m.network?.interfaces) ? m.network.interfaces : [],
    baseRuntimeSpecOverrides:
      m.baseRuntimeSpecOverrides && typeof m.baseRuntimeSpecOverrides === 'object' ? m.baseRuntimeSpecOverrides : {},
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

/**
 * The runtime state a config asks for on this hardware: each user volume Talos' volume manager provisions
 * (lab/volumes.ts) is mounted at /var/mnt/<name>; one it cannot place is left out (its VolumeStatus says why).
 */
export function runtimeConfigFor(cfg: MachineConfigView, hw: Hardware, installDisk: string | undefined): RuntimeConfig {
  const mounts: RuntimeMount[] = provisionUserVolumes(cfg.userVolumes, hw.disks, installDisk)
    .filter((v) => v.phase === 'ready')
    .map((v) => ({ device: v.location, mountPoint: v.mountLocation, fsType: v.filesystem }))
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
    ['machine.network.interfaces', 'interfaces'],
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
