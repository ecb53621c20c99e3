// The machine-config linter's rules: mistakes that pass (or slip past) `talosctl validate` but leave a
// Talos v1.10 node without what the config asked for. Each rule is a small named object; config/lint.ts runs
// them over the main (v1alpha1) document and adds the official schema's findings.
import type { Document, LineCounter } from 'yaml'
import { formatDotted, positionOf, type PathSeg } from './yaml-positions.ts'
import { partitionInstallDiskMessage, partitionOf } from '../lib/host/block-device.ts'
import { kubeletRequiredValue, kubeletSysctlProblem, sysctlValueProblem } from '../lib/host/sysctl-values.ts'
import { schematicOfInstaller } from '../lib/talos/schematic.ts'
import {
  CPU_MANAGER_STATE,
  EMPTY_STATIC_CPU_CHECKPOINT,
  EMPTY_STATIC_MEMORY_CHECKPOINT,
  MEMORY_MANAGER_STATE,
} from './kubelet-policy.ts'

export type Severity = 'error' | 'warning'

export interface Finding {
  file: string
  line: number
  column: number
  /** dotted path, e.g. machine.sysctls.vm.max_map_count */
  field: string
  severity: Severity
  rule: string
  message: string
  fix: string
}

export interface LintOptions {
  /** How the node boots. systemd-boot (UEFI, the v1.10 default) ignores machine.install.extraKernelArgs. */
  bootloader?: 'systemd-boot' | 'grub'
  /** 'apply': the config goes to a running node (talosctl apply-config), where install-time settings wait for an upgrade. */
  context?: 'install' | 'apply'
  /** The inventory asks this node for hugepages (so the config must reserve them at boot). */
  expectHugepages?: boolean
  /** The kernel args the node's Image Factory schematic carries (what its installer image must boot with). */
  schematicKernelArgs?: string[]
  /** Path of the official config.schema.json (default: $TALOS_CONFIG_SCHEMA or the one in templates/talos-v1.10.3/); a missing file is an error. */
  schemaPath?: string | URL
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- YAML documents are walked by path, their shape checked by the schema
type Obj = Record<string, any>

export interface RuleContext {
  file: string
  /** the v1alpha1 document (with machine:) as plain JS */
  config: Obj
  doc: Document.Parsed
  lines: LineCounter
  opts: LintOptions
}

interface RuleHit {
  path: PathSeg[]
  message: string
  fix: string
  severity?: Severity
}

export interface Rule {
  id: string
  severity: Severity
  description: string
  check(ctx: RuleContext): RuleHit[]
}

export function toFinding(ctx: RuleContext, rule: Rule, hit: RuleHit): Finding {
  const pos = positionOf({ doc: ctx.doc, lines: ctx.lines }, hit.path)
  return {
    file: ctx.file,
    line: pos.line,
    column: pos.column,
    field: formatDotted(hit.path),
    severity: hit.severity ?? rule.severity,
    rule: rule.id,
    message: hit.message,
    fix: hit.fix,
  }
}

// ---------------------------------------------------------------- helpers

const files = (c: Obj): Obj[] => (Array.isArray(c.machine?.files) ? c.machine.files : [])
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v)

/** kubelet flag maps such as "cpu=1,memory=8Gi" → { cpu: '1', memory: '8Gi' } */
function parseFlagMap(s: unknown): Record<string, string> {
  if (typeof s !== 'string') return {}
  return Object.fromEntries(
    s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => {
        const i = p.indexOf('=')
        return i < 0 ? [p, ''] : [p.slice(0, i).trim(), p.slice(i + 1).trim()]
      }),
  )
}

/** eviction-hard flag "memory.available<16Gi,nodefs.available<10%" → { 'memory.available': '16Gi', ... } */
function parseEvictionFlag(s: unknown): Record<string, string> {
  if (typeof s !== 'string') return {}
  return Object.fromEntries(
    s
      .split(',')
      .map((p) => /^\s*([a-z.A-Z]+)\s*<\s*(\S+)\s*$/.exec(p))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => [m[1], m[2]]),
  )
}

const BIN: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }
const DEC: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }
export function quantityValue(q: unknown): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/.exec(String(q ?? '').trim())
  if (!m) return NaN
  return Number(m[1]) * (m[2] ? (BIN[m[2]] ?? DEC[m[2]]) : 1)
}

interface KubeletView {
  /** where a setting came from, for positions */
  cpuManagerPolicy?: { value: string; path: PathSeg[] }
  topologyManagerPolicy?: { value: string; path: PathSeg[] }
  reservedCpus?: string
  systemReserved: Record<string, string>
  kubeReserved: Record<string, string>
  /** system-reserved / kube-reserved given at all (then they replace Talos' default systemReserved) */
  reservationsGiven: boolean
  evictionMemory?: { value: string; path: PathSeg[] }
}

/** kubelet settings from both extraArgs (flags) and extraConfig (KubeletConfiguration); flags win, as in kubelet. */
function kubeletView(c: Obj): KubeletView {
  const k: Obj = c.machine?.kubelet ?? {}
  const args: Obj = isObj(k.extraArgs) ? k.extraArgs : {}
  const cfg: Obj = isObj(k.extraConfig) ? k.extraConfig : {}
  const A = (name: string): PathSeg[] => ['machine', 'kubelet', 'extraArgs', name]
  const C = (name: string): PathSeg[] => ['machine', 'kubelet', 'extraConfig', name]
  const pick = (flag: string, field: string) =>
    args[flag] !== undefined
      ? { value: String(args[flag]), path: A(flag) }
      : cfg[field] !== undefined
        ? { value: String(cfg[field]), path: C(field) }
        : undefined
  const evFlag = parseEvictionFlag(args['eviction-hard'])['memory.available']
  const evCfg = isObj(cfg.evictionHard) ? cfg.evictionHard['memory.available'] : undefined
  return {
    cpuManagerPolicy: pick('cpu-manager-policy', 'cpuManagerPolicy'),
    topologyManagerPolicy: pick('topology-manager-policy', 'topologyManagerPolicy'),
    reservedCpus: (args['reserved-cpus'] ?? cfg.reservedSystemCPUs) as string | undefined,
    systemReserved:
      args['system-reserved'] !== undefined
        ? parseFlagMap(args['system-reserved'])
        : isObj(cfg.systemReserved)
          ? cfg.systemReserved
          : {},
    kubeReserved:
      args['kube-reserved'] !== undefined
        ? parseFlagMap(args['kube-reserved'])
        : isObj(cfg.kubeReserved)
          ? cfg.kubeReserved
          : {},
    reservationsGiven: [args['system-reserved'], args['kube-reserved'], cfg.systemReserved, cfg.kubeReserved].some(
      (x) => x !== undefined,
    ),
    evictionMemory:
      evFlag !== undefined
        ? { value: evFlag, path: A('eviction-hard') }
        : evCfg !== undefined
          ? { value: String(evCfg), path: [...C('evictionHard'), 'memory.available'] }
          : undefined,
  }
}

const kernelArgs = (c: Obj): string[] =>
  Array.isArray(c.machine?.install?.extraKernelArgs) ? c.machine.install.extraKernelArgs.map(String) : []
const kernelArgsPath = (c: Obj): PathSeg[] =>
  c.machine?.install?.extraKernelArgs
    ? ['machine', 'install', 'extraKernelArgs']
    : c.machine?.install
      ? ['machine', 'install']
      : ['machine']
const GRUB_PATH = /^\/(etc\/default\/grub|boot\/grub)/

// ---------------------------------------------------------------- rules

// internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_sequencer_tasks.go (v1.10.3, writeUserFiles): op create outside /var fails with "create operation not allowed outside
// of /var"; append/overwrite outside /var are written under /var and bind-mounted read-only over the path.
const filesOutsideVar: Rule = {
  id: 'files-outside-var',
  severity: 'error',
  description: 'machine.files can only create files under /var',
  check: ({ config }) =>
    files(config).flatMap((f, i): RuleHit[] => {
      const p = typeof f?.path === 'string' ? f.path : ''
      if (!p || p === '/var' || p.startsWith('/var/')) return []
      // Talos' one exception: the CRI customization drop-in
      if (p === '/etc/cri/conf.d/20-customization.part') return []
      if (f.op === 'append' || f.op === 'overwrite')
        return [
          {
            path: ['machine', 'files', i, 'path'],
            severity: 'warning',
            message: `${p} is outside /var: Talos writes it under /var and bind-mounts it read-only over an EXISTING file (the root filesystem is read-only)`,
            fix: 'make sure the file exists on Talos, or put it under /var',
          },
        ]
      return [
        {
          path: ['machine', 'files', i, 'path'],
          message: `${p} is outside /var: Talos only creates files under /var ("create operation not allowed outside of /var")`,
          fix: 'use a path under /var, or the dedicated config field for what this file configures',
        },
      ]
    }),
}

// Talos generates its own grub.cfg from machine.install.extraKernelArgs (internal/app/machined/pkg/runtime/v1alpha1/
// bootloader/grub at v1.10.3); nothing under internal/ reads /etc/default/grub.
const grubFiles: Rule = {
  id: 'grub-config',
  severity: 'error',
  description: 'Talos never reads GRUB defaults files',
  check: ({ config }) =>
    files(config).flatMap((f, i): RuleHit[] => {
      const p = typeof f?.path === 'string' ? f.path : ''
      const content = typeof f?.content === 'string' ? f.content : ''
      if (!GRUB_PATH.test(p) && !/GRUB_CMDLINE_LINUX/.test(content)) return []
      const args = /GRUB_CMDLINE_LINUX(?:_DEFAULT)?="([^"]*)"/.exec(content)?.[1]
      return [
        {
          path: ['machine', 'files', i, 'path'],
          message: `${p || 'this file'} is a GRUB defaults file: Talos does not run update-grub or read /etc/default/grub*, so its kernel arguments are never applied`,
          fix: `put the arguments${args ? ` (${args})` : ''} in machine.install.extraKernelArgs (GRUB installs, applied on install/upgrade) or in the Image Factory schematic's customization.extraKernelArgs (systemd-boot/UEFI)`,
        },
      ]
    }),
}

// pkg/machinery/config/types/v1alpha1/v1alpha1_types.go (v1.10.3) MachineFile: content, permissions, path, op;
// the config decoder rejects unknown fields.
const fileModeField: Rule = {
  id: 'file-mode-field',
  severity: 'error',
  description: 'machine.files entries have permissions and op, not mode',
  check: ({ config, doc }) =>
    files(config).flatMap((f, i): RuleHit[] => {
      if (!isObj(f) || !('mode' in f)) return []
      return [
        {
          path: ['machine', 'files', i, 'mode'],
          message: '"mode" is not a machine.files field (Talos rejects unknown fields)',
          fix: `use permissions: ${octal(doc.getIn(['machine', 'files', i, 'mode'], true))} and op: create|append|overwrite`,
        },
      ]
    }),
}

/** `mode: 0644` as written: YAML 1.2 reads it as decimal 644, Talos' yaml.v3 as octal; the source text says what was meant. */
function octal(node: unknown): string {
  const src = String(
    (node as { source?: string } | undefined)?.source ?? (node as { value?: unknown } | undefined)?.value ?? '',
  )
  const digits = /^0o?([0-7]{3,4})$/.exec(src)?.[1] ?? (/^[0-7]{3,4}$/.test(src) ? src : undefined)
  return digits ? `0o${digits}` : '0o644'
}

// internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_sequencer_tasks.go (v1.10.3, writeUserFiles): any op but create/append/overwrite (an absent op is "") fails with
// "unknown operation for file".
const fileOp: Rule = {
  id: 'file-op',
  severity: 'error',
  description: 'machine.files entries need op: create, append or overwrite',
  check: ({ config }) =>
    files(config).flatMap((f, i): RuleHit[] => {
      if (!isObj(f)) return []
      if (f.op === undefined)
        return [
          {
            path: ['machine', 'files', i],
            message: 'missing op: Talos needs to know whether to create, append to or overwrite the file',
            fix: 'add op: create (for a new file under /var)',
          },
        ]
      if (!['create', 'append', 'overwrite'].includes(f.op))
        return [
          {
            path: ['machine', 'files', i, 'op'],
            message: `op ${JSON.stringify(f.op)} is not one of create, append, overwrite`,
            fix: 'use op: create, append or overwrite',
          },
        ]
      return []
    }),
}

// pkg/machinery/config/types/v1alpha1/v1alpha1_types.go (v1.10.3): KernelConfig.KernelModules is []*KernelModuleConfig
// (name, parameters), so a bare string does not decode.
const kernelModuleStrings: Rule = {
  id: 'kernel-module-string',
  severity: 'error',
  description: 'machine.kernel.modules entries are objects with a name',
  check: ({ config }) => {
    const mods = config.machine?.kernel?.modules
    if (!Array.isArray(mods)) return []
    return mods.flatMap((m, i): RuleHit[] =>
      typeof m === 'string' || typeof m === 'number'
        ? [
            {
              path: ['machine', 'kernel', 'modules', i],
              message: `kernel module given as the string ${JSON.stringify(m)}: entries must be objects`,
              fix: `- name: ${m}`,
            },
          ]
        : [],
    )
  },
}

// Talos v1.10.3 declares `MachineSysctls map[string]string` (pkg/machinery/config/types/v1alpha1/v1alpha1_types.go)
// and decodes configs with yaml.v3, which turns any scalar (1048576, true) into the string field: Talos applies a
// numeric value. Only the published JSON schema (type: string) objects, so a scalar is a warning; a list or map
// cannot decode into a string and Talos rejects the config: an error.
const sysctlNotString: Rule = {
  id: 'sysctl-not-string',
  severity: 'warning',
  description: 'machine.sysctls values are strings (Talos accepts bare scalars; the JSON schema does not)',
  check: ({ config }) => {
    const s = config.machine?.sysctls
    if (!isObj(s)) return []
    return Object.entries(s).flatMap(([k, v]): RuleHit[] => {
      if (typeof v === 'string') return []
      if (typeof v === 'number' || typeof v === 'boolean')
        return [
          {
            path: ['machine', 'sysctls', k],
            message: `sysctl value ${JSON.stringify(v)} is a ${typeof v}: Talos reads it as the string "${v}", but the official JSON schema (and editors using it) reject it`,
            fix: `quote it: ${k}: "${v}"`,
          },
        ]
      return [
        {
          path: ['machine', 'sysctls', k],
          severity: 'error',
          message: `sysctl value ${JSON.stringify(v)} is a ${v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v}: machine.sysctls is a map of strings, and Talos refuses to decode it`,
          fix: `give one value as a string: ${k}: "<value>"`,
        },
      ]
    })
  },
}

// kubernetes pkg/kubelet/cm/cpumanager/cpu_manager.go: "the static policy requires systemreserved.cpu +
// kubereserved.cpu to be greater than zero", and a fractional reservation is rounded up to whole CPUs;
// Talos' default systemReserved cpu is 50m (pkg/machinery/constants/constants.go KubeletSystemReservedCPU, v1.10.3)
// and only applies when systemReserved is not set (internal/app/machined/pkg/controllers/k8s/kubelet_spec.go).
const staticCpuWithoutReservation: Rule = {
  id: 'static-cpu-without-reservation',
  severity: 'error',
  description: 'the static CPU manager needs CPUs reserved for the system',
  check: ({ config }) => {
    const k = kubeletView(config)
    if (k.cpuManagerPolicy?.value !== 'static') return []
    const cpuReserved =
      (k.reservedCpus ?? '').trim() !== '' ||
      quantityValue(k.systemReserved.cpu) > 0 ||
      quantityValue(k.kubeReserved.cpu) > 0
    if (cpuReserved) return []
    if (!k.reservationsGiven)
      return [
        {
          path: k.cpuManagerPolicy.path,
          severity: 'warning',
          message:
            "cpu-manager-policy static relies on Talos' default systemReserved cpu (50m, rounded up to a whole CPU)",
          fix: 'reserve CPUs explicitly: kubelet extraConfig reservedSystemCPUs: "0,1" (or systemReserved/kubeReserved cpu)',
        },
      ]
    return [
      {
        path: k.cpuManagerPolicy.path,
        message:
          "cpu-manager-policy static with no CPU reserved: system-reserved/kube-reserved without cpu replace Talos' default, and kubelet refuses to start the static policy with zero reserved CPUs",
        fix: 'add reserved CPUs: extraConfig reservedSystemCPUs: "0,1", or cpu=1 in system-reserved/kube-reserved (extraArgs reserved-cpus also works)',
      },
    ]
  },
}

/** Where a reservation's cpu is written: the extraArgs flag (which wins, as in kubelet) or extraConfig's map entry. */
function reservedCpuPath(c: Obj, flag: 'system-reserved' | 'kube-reserved', field: string): PathSeg[] | undefined {
  const k: Obj = c.machine?.kubelet ?? {}
  if (isObj(k.extraArgs) && k.extraArgs[flag] !== undefined)
    return parseFlagMap(k.extraArgs[flag]).cpu !== undefined ? ['machine', 'kubelet', 'extraArgs', flag] : undefined
  return isObj(k.extraConfig) && isObj(k.extraConfig[field]) && k.extraConfig[field].cpu !== undefined
    ? ['machine', 'kubelet', 'extraConfig', field, 'cpu']
    : undefined
}

// kubernetes v1.33.1 cmd/kubelet/app/server.go:794-804: with reservedSystemCPUs (--reserved-cpus) kubelet overwrites
// systemReserved["cpu"] with the number of reserved CPUs and deletes kubeReserved["cpu"] before computing node
// allocatable (cmd/kubelet/app/options/options.go:495: the list "will supersede cpu counts in --system-reserved and
// --kube-reserved"). It only logs that at info level: the config asks for a CPU reservation the node never makes.
const cpuReservationOverridden: Rule = {
  id: 'cpu-reservation-overridden',
  severity: 'error',
  description: 'with reservedSystemCPUs, kubelet ignores cpu in systemReserved/kubeReserved',
  check: ({ config }) => {
    const reserved = String(kubeletView(config).reservedCpus ?? '').trim()
    if (!reserved) return []
    return (
      [
        ['system-reserved', 'systemReserved'],
        ['kube-reserved', 'kubeReserved'],
      ] as const
    ).flatMap(([flag, field]): RuleHit[] => {
      const path = reservedCpuPath(config, flag, field)
      if (!path) return []
      return [
        {
          path,
          message: `${field} cpu is ignored: with reservedSystemCPUs "${reserved}" kubelet sets systemReserved cpu to the number of CPUs listed there and deletes kubeReserved cpu (kubernetes v1.33 cmd/kubelet/app/server.go), so this value never reaches node allocatable`,
          fix: `remove cpu from ${field === 'systemReserved' ? 'systemReserved (system-reserved)' : 'kubeReserved (kube-reserved)'}: reservedSystemCPUs is the CPU reservation; to reserve more CPUs, list more in reservedSystemCPUs`,
        },
      ]
    })
  },
}

// website/content/v1.10/reference/configuration/v1alpha1/config.md, install.extraKernelArgs: "If Talos is using
// systemd-boot as a bootloader (default for UEFI) this setting will be ignored."
const extraKernelArgsSystemdBoot: Rule = {
  id: 'extra-kernel-args-systemd-boot',
  severity: 'warning',
  description: 'systemd-boot ignores machine.install.extraKernelArgs',
  check: ({ config, opts }) =>
    opts.bootloader === 'systemd-boot' && kernelArgs(config).length
      ? [
          {
            path: ['machine', 'install', 'extraKernelArgs'],
            message: `with systemd-boot (UEFI installs) Talos ignores machine.install.extraKernelArgs: ${kernelArgs(config).join(' ')} will not reach the kernel`,
            fix: "put them in the Image Factory schematic's customization.extraKernelArgs and install that image (renderImageFactorySchematic)",
          },
        ]
      : [],
}

// A custom installer (ghcr.io/our-org/installer:custom-solana-v1.10.3) names no schematic, so nothing shows that its
// UKI's .cmdline has the node's kernel args; systemd-boot gives the kernel nothing else (see the rule above).
const installerImageUnverifiable: Rule = {
  id: 'installer-image-unverifiable',
  severity: 'warning',
  description: 'a custom installer image cannot be shown to carry the kernel args the node needs',
  check: ({ config, opts }) => {
    const image = config.machine?.install?.image
    const args = opts.schematicKernelArgs ?? []
    if (typeof image !== 'string' || !args.length || schematicOfInstaller(image) !== undefined) return []
    return [
      {
        path: ['machine', 'install', 'image'],
        message: `${image} is not an Image Factory image, so nothing shows it carries ${args.join(' ')}: on a UEFI node the kernel gets only what the image's UKI has`,
        fix: "build it with those args in its UKI's .cmdline (imager --extra-kernel-arg), or leave the inventory's installerImage out to use the factory's image for the node's schematic",
      },
    ]
  },
}

function hugepagesRequested(c: Obj, opts: LintOptions): string | undefined {
  if (opts.expectHugepages) return 'the inventory reserves hugepages for this node'
  const k: Obj = c.machine?.kubelet ?? {}
  const text = JSON.stringify([k.extraArgs ?? {}, k.extraConfig ?? {}])
  if (/hugepages-/.test(text)) return 'the kubelet configuration accounts for hugepages'
  if ((Array.isArray(k.extraMounts) ? k.extraMounts : []).some((m: Obj) => m?.type === 'hugetlbfs'))
    return 'a hugetlbfs mount is configured'
  const f = files(c).find((x) => typeof x?.content === 'string' && /\bhugepages(z)?=/.test(x.content))
  if (f) return `${f.path ?? 'a machine file'} asks for hugepages`
  return undefined
}

// kernel Documentation/admin-guide/mm/hugetlbpage.rst: gigantic (1 GiB) pages can only be reliably reserved on
// the kernel command line at boot.
const hugepagesWithoutKernelArg: Rule = {
  id: 'hugepages-without-kernel-arg',
  severity: 'error',
  description: 'hugepages are wanted but no kernel argument reserves them at boot',
  check: ({ config, opts }) => {
    const why = hugepagesRequested(config, opts)
    if (!why || kernelArgs(config).some((a) => /^hugepages=/.test(a))) return []
    return [
      {
        path: kernelArgsPath(config),
        message: `${why}, but machine.install.extraKernelArgs has no hugepages= argument: 1 GiB pages can only be reserved at boot`,
        fix: 'add default_hugepagesz=1G hugepagesz=1G hugepages=<node>:<count>,... (and hugepagesz=2M hugepages=<node>:<count>,... for a 2 MiB pool: each hugepages= after its own hugepagesz=) to machine.install.extraKernelArgs (GRUB) and the Image Factory schematic (systemd-boot)',
      },
    ]
  },
}

// kubernetes docs, reserve-compute-resources: allocatable = capacity - kube-reserved - system-reserved - eviction-
// threshold; a threshold larger than the reservations evicts while allocatable memory is still free. Advice: warning.
const evictionExceedsReserved: Rule = {
  id: 'eviction-exceeds-reserved',
  severity: 'warning',
  description: 'the hard eviction threshold is larger than the memory reserved for the system',
  check: ({ config }) => {
    const k = kubeletView(config)
    if (!k.evictionMemory || k.evictionMemory.value.endsWith('%')) return []
    const evict = quantityValue(k.evictionMemory.value)
    const reserved = (quantityValue(k.systemReserved.memory) || 0) + (quantityValue(k.kubeReserved.memory) || 0)
    if (!(evict > reserved)) return []
    const gi = (b: number) => `${(b / 2 ** 30).toFixed(2).replace(/\.?0+$/, '')}Gi`
    return [
      {
        path: k.evictionMemory.path,
        message: `hard eviction at memory.available<${k.evictionMemory.value} is more than the ${gi(reserved)} reserved (system + kube): the node evicts pods while memory it counts as allocatable is still free`,
        fix: 'lower eviction-hard memory.available or raise system-reserved/kube-reserved memory',
      },
    ]
  },
}

// The topology manager takes hints from three providers (kubernetes v1.33.1 pkg/kubelet/cm/container_manager_linux.go
// AddHintProvider :308 device manager, :335 CPU manager, :349 memory manager). CPU hints come only from the static
// CPU manager policy (cpumanager/policy_static.go GetTopologyHints :548; policy none gives none), so without it the
// container's CPUs are neither pinned nor aligned; the Static memory manager (memorymanager/policy_static.go :423)
// and device plugins (devicemanager/topology_hints.go :33) still give hints, and their memory, huge pages and devices
// are aligned. A pod aligned on everything but its CPUs is rarely what was meant. Advice: warning.
const topologyWithoutStaticCpu: Rule = {
  id: 'topology-without-static-cpu',
  severity: 'warning',
  description: "the topology manager aligns no CPUs without the static CPU manager (only memory's and devices' hints)",
  check: ({ config }) => {
    const k = kubeletView(config)
    if (!k.topologyManagerPolicy || k.topologyManagerPolicy.value === 'none' || k.cpuManagerPolicy?.value === 'static')
      return []
    return [
      {
        path: k.topologyManagerPolicy.path,
        message: `topology-manager-policy ${k.topologyManagerPolicy.value} without cpu-manager-policy static: CPUs are not pinned, so a container's CPUs are not NUMA-aligned with its memory, huge pages and devices (only the memory manager and device plugins give hints)`,
        fix: 'set cpu-manager-policy static (cpuManagerPolicy: static) with reserved CPUs, or drop the topology manager policy',
      },
    ]
  },
}

// cmd/talosctl/cmd/talos/upgrade.go (v1.10.3) marks --preserve hidden, and machined no longer reads it
// (no "preserve" under internal/app/machined at v1.10.3: EPHEMERAL is kept on upgrade): the fix names only
// visible flags. --stage is visible but only for filesystems that cannot be unmounted; not needed here.
const kernelArgsNeedUpgrade: Rule = {
  id: 'kernel-args-need-upgrade',
  severity: 'warning',
  description: 'kernel arguments change only at install or upgrade',
  check: ({ config, opts }) =>
    opts.context === 'apply' && kernelArgs(config).length
      ? [
          {
            path: ['machine', 'install', 'extraKernelArgs'],
            message:
              'applying this config to a running node does not change its kernel command line: machine.install.* takes effect at the next install or upgrade',
            fix: 'after apply-config, run talosctl -n <node> upgrade --image <installer image carrying these args>, then check talosctl -n <node> read /proc/cmdline',
          },
        ]
      : [],
}

// Talos v1.10.3 resolves machine.install.disk as a device path (e.g. /dev/sda; config.md install.disk); a bare name
// such as nvme0n1 matches no device at install time.
const installDiskNotDev: Rule = {
  id: 'install-disk-not-dev',
  severity: 'error',
  description: 'machine.install.disk is a /dev path',
  check: ({ config }) => {
    const d = config.machine?.install?.disk
    if (d === undefined || (typeof d === 'string' && /^\/dev\/[A-Za-z0-9/_.:-]+$/.test(d))) return []
    return [
      {
        path: ['machine', 'install', 'disk'],
        message: `install disk ${JSON.stringify(d)} is not a /dev path`,
        fix: 'use the disk device, e.g. /dev/nvme0n1 (see talosctl get disks), or machine.install.diskSelector',
      },
    ]
  },
}

const installDiskPartition: Rule = {
  id: 'install-disk-partition',
  severity: 'error',
  description:
    'machine.install.disk is a whole disk, not a partition (see lib/block-device.ts for where Talos says so)',
  check: ({ config }) => {
    const d = config.machine?.install?.disk
    const part = typeof d === 'string' ? partitionOf(d) : undefined
    if (!part) return []
    return [
      {
        path: ['machine', 'install', 'disk'],
        message: partitionInstallDiskMessage(d, part),
        fix: `use the whole disk: disk: ${part.disk} (talosctl get disks lists them)`,
      },
    ]
  },
}

const sysctlValue: Rule = {
  id: 'sysctl-value',
  severity: 'error',
  description:
    "known sysctls get a value the kernel accepts (integer ranges, qdisc and congestion control names) and kubelet's protectKernelDefaults requires",
  check: ({ config }) => {
    const s = config.machine?.sysctls
    if (!isObj(s)) return []
    return Object.entries(s).flatMap(([k, v]): RuleHit[] => {
      const problem = typeof v === 'string' ? sysctlValueProblem(k, v) : undefined
      // kubelet's protectKernelDefaults (Talos forces it): the kernel takes the value, kubelet then refuses to start
      const forKubelet = typeof v === 'string' && !problem ? kubeletSysctlProblem(k, v) : undefined
      if (forKubelet)
        return [
          {
            path: ['machine', 'sysctls', k],
            message: forKubelet,
            fix: `drop ${k} (Talos and the kernel give kubelet's value) or set it to ${kubeletRequiredValue(k)}`,
          },
        ]
      return problem
        ? [
            {
              path: ['machine', 'sysctls', k],
              message: `${problem}: the kernel refuses it and the node keeps its old value`,
              fix: 'use a value in the range or list given',
            },
          ]
        : []
    })
  },
}

/** What one resource manager's boot-time checkpoint reset is judged by: its policy, its file and the empty content. */
interface CheckpointReset {
  /** The policy that keeps the checkpoint (Static, static) and where a config names it. */
  policy: string
  extraArg: string
  extraConfigField: string
  defaultPolicy: string
  path: string
  empty: string
  /** Why a policy-holding config needs the entry (the warning when it is missing). */
  whyNeeded: string
  /** What an entry under another policy does. */
  otherPolicy: (policy: string) => Omit<RuleHit, 'path'>
  /** Why content other than the empty checkpoint fails. */
  wrongContent: string
}

/** The findings of one checkpoint reset: missing, under another policy, not `create`, or not the empty checkpoint. */
function checkpointResetHits({ config }: RuleContext, r: CheckpointReset): RuleHit[] {
  const k: Obj = config.machine?.kubelet ?? {}
  const policy = String(
    (isObj(k.extraArgs) && k.extraArgs[r.extraArg]) ||
      (isObj(k.extraConfig) && k.extraConfig[r.extraConfigField]) ||
      r.defaultPolicy,
  )
  const entryAt = files(config).findIndex((f) => isObj(f) && f.path === r.path)
  const entry = entryAt >= 0 ? files(config)[entryAt]! : undefined
  const at = (field?: string): PathSeg[] => ['machine', 'files', entryAt, ...(field ? [field] : [])]
  if (policy !== r.policy) return entry ? [{ path: at('path'), ...r.otherPolicy(policy) }] : []
  if (!entry)
    return [
      {
        path:
          isObj(k.extraConfig) && k.extraConfig[r.extraConfigField]
            ? ['machine', 'kubelet', 'extraConfig', r.extraConfigField]
            : ['machine', 'kubelet'],
        severity: 'warning',
        message: r.whyNeeded,
        fix: `write the empty checkpoint at every boot: machine.files: [{path: ${r.path}, op: create, permissions: 0o600, content: '${r.empty}'}]`,
      },
    ]
  if (entry.op !== 'create')
    return [
      {
        path: at('op'),
        message: `op ${JSON.stringify(entry.op)}: ${entry.op === 'overwrite' ? 'Talos stops the first boot, where the file does not exist yet ("file must exist")' : 'the checkpoint must be replaced whole at every boot'}`,
        fix: 'use op: create (it writes the file whether it exists or not)',
      },
    ]
  if (String(entry.content ?? '').trim() !== r.empty)
    return [{ path: at('content'), message: r.wrongContent, fix: `content: '${r.empty}'` }]
  return []
}

// kubernetes v1.33.1 pkg/kubelet/cm/memorymanager/policy_static.go validateState (:591-662): the Static policy
// compares the checkpointed machine state (per NUMA node MemTotal, huge pages, reservations) with the machine's and
// kubelet exits on any difference; Talos never removes memory_manager_state (v1.10.3 controllers/k8s/
// kubelet_service.go handlePolicyChange touches only cpu_manager_state) and keeps /var across reboots and upgrades.
// A checkpoint with no machine state is taken as fresh (:595-605); machine.files `create` writes it at every boot
// before kubelet starts (config/kubelet-policy.ts memoryManagerResetFile). state_checkpoint.go restoreState refuses a
// checksum that does not match ("checkpoint is corrupted") or another policy name, at every boot.
const memoryManagerCheckpoint: Rule = {
  id: 'memory-manager-checkpoint',
  severity: 'error',
  description: "the Static memory manager's checkpoint must start empty at every boot",
  check: (ctx) =>
    checkpointResetHits(ctx, {
      policy: 'Static',
      extraArg: 'memory-manager-policy',
      extraConfigField: 'memoryManagerPolicy',
      defaultPolicy: 'None',
      path: MEMORY_MANAGER_STATE,
      empty: EMPTY_STATIC_MEMORY_CHECKPOINT,
      whyNeeded: `the Static memory manager keeps ${MEMORY_MANAGER_STATE} across reboots and upgrades (Talos never removes it) and kubelet refuses to start when the machine differs from it: after a huge page change, or a boot that moves memory between NUMA nodes ("the expected machine state is different from the real one")`,
      otherPolicy: (policy) => ({
        message: `${MEMORY_MANAGER_STATE} is written at boot but the memory manager policy is ${policy}: kubelet refuses a checkpoint of another policy at every start (configured policy "${policy}" differs from state checkpoint policy)`,
        fix: 'drop this machine.files entry, or set memoryManagerPolicy: Static',
      }),
      wrongContent: `this is not the empty Static checkpoint kubelet writes: kubelet refuses a checkpoint whose checksum or policy does not match ("checkpoint is corrupted") at every boot, and the node never gets Ready`,
    }),
}

// kubernetes v1.33.1 pkg/kubelet/cm/cpumanager/policy_static.go validateState (:255-267): the static policy compares
// the checkpoint's CPUs (defaultCpuSet and every assignment) with the CPUs kubelet sees and kubelet exits when they
// differ ("current set of available CPUs … doesn't match with CPUs in state …"): after a boot with nosmt, maxcpus=,
// nr_cpus=, a BIOS SMT/NPS change or a board swap. Talos removes cpu_manager_state only when the policy NAME changes
// (v1.10.3 controllers/k8s/kubelet_service.go handlePolicyChange :224-253) and keeps /var across reboots and
// upgrades. An empty defaultCpuSet without assignments is taken as fresh (:211-219); machine.files `create` writes it
// at every boot before kubelet starts (config/kubelet-policy.ts cpuManagerResetFile). A wrong checksum is "checkpoint
// is corrupted" at every start (state/checkpoint.go VerifyChecksum). With another policy the entry does no harm
// (Talos removes a checkpoint of another policy before kubelet starts) but resets nothing: a warning.
const cpuManagerCheckpoint: Rule = {
  id: 'cpu-manager-checkpoint',
  severity: 'error',
  description: "the static CPU manager's checkpoint must start empty at every boot",
  check: (ctx) =>
    checkpointResetHits(ctx, {
      policy: 'static',
      extraArg: 'cpu-manager-policy',
      extraConfigField: 'cpuManagerPolicy',
      defaultPolicy: 'none',
      path: CPU_MANAGER_STATE,
      empty: EMPTY_STATIC_CPU_CHECKPOINT,
      whyNeeded: `the static CPU manager keeps ${CPU_MANAGER_STATE} across reboots and upgrades (Talos removes it only when the policy name changes) and kubelet refuses to start when the CPUs it sees differ from it: after a boot with nosmt, maxcpus= or nr_cpus=, a BIOS SMT change or a board swap ("current set of available CPUs … doesn't match with CPUs in state …")`,
      otherPolicy: (policy) => ({
        severity: 'warning',
        message: `${CPU_MANAGER_STATE} is written at boot but the CPU manager policy is ${policy}: Talos removes a checkpoint of another policy before kubelet starts, so the entry resets nothing`,
        fix: 'drop this machine.files entry, or set cpuManagerPolicy: static',
      }),
      wrongContent: `this is not the empty static checkpoint kubelet writes: kubelet refuses a checkpoint whose checksum does not match ("checkpoint is corrupted") or whose policy differs, at every boot, and a checkpoint with CPUs is compared with the machine's`,
    }),
}

export const RULES: Rule[] = [
  filesOutsideVar,
  grubFiles,
  fileModeField,
  fileOp,
  kernelModuleStrings,
  sysctlNotString,
  staticCpuWithoutReservation,
  cpuReservationOverridden,
  extraKernelArgsSystemdBoot,
  installerImageUnverifiable,
  hugepagesWithoutKernelArg,
  evictionExceedsReserved,
  topologyWithoutStaticCpu,
  kernelArgsNeedUpgrade,
  installDiskNotDev,
  installDiskPartition,
  sysctlValue,
  memoryManagerCheckpoint,
  cpuManagerCheckpoint,
]
