// Inventory + secrets bundle → one Talos v1.10.3 machine config per node (multi-document YAML), built from
// templates/: the base config `talosctl gen config` would write for the node's role, then the node patch,
// the validator patch for `profile: validator`, one UserVolumeConfig per validator.storage entry and an
// EthernetConfig for validator.nic.
//
// Templates are YAML with placeholders resolved on the PARSED tree (see templates/controlplane.yaml), so
// an inventory value can never inject YAML structure; there is no expression language and nothing is
// evaluated. Rendering is deterministic: same inventory and bundle, same bytes.
//
// Kernel arguments: machine.install.extraKernelArgs is only read by GRUB installs, and only at install or
// upgrade time; systemd-boot (UEFI, the v1.10 default) ignores it. renderNodeSchematic() gives each node the
// schematic that bakes its arguments into its installer and disk image, which is what reaches systemd-boot.
import { hugepageKernelArgs } from './hugepages.ts'
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isIP } from 'node:net'
import { parseDocument, stringify } from 'yaml'
import {
  nodeSubnetOf,
  validatorNamespace,
  type Inventory,
  type InventoryNode,
  type LinkRef,
  type ValidatorProfile,
} from './inventory.ts'
import { splitNodeLabels } from './node-restriction.ts'
import { cpuManagerResetFile, memoryManagerResetFile } from './kubelet-policy.ts'
import { diskSelectorCel } from './volume-disk.ts'
import type { SecretsBundle } from '../lib/talos/secrets-bundle.ts'
import { validateAgainstTalosSchema, type SchemaIssue } from './talos-schema.ts'
import { factoryInstallerImage, parseSchematic, schematicId } from '../lib/talos/schematic.ts'
import { ethernetConfigVars, nicLinkName } from './nic.ts'
import { netProviderSysctls, validatorRuntimeSpecOverrides } from '../lib/host/solana-limits.ts'

const TEMPLATES_DIR = new URL('../templates/', import.meta.url)
const TEMPLATE_NAMES = ['controlplane', 'worker', 'node', 'validator', 'user-volume', 'ethernet', 'schematic'] as const
type TemplateName = (typeof TEMPLATE_NAMES)[number]
type Templates = Record<TemplateName, string>

let cachedTemplates: Templates | undefined
/** The repo's templates/ (read once). Pass your own to the render functions to render from elsewhere. */
function defaultTemplates(): Templates {
  cachedTemplates ??= Object.fromEntries(
    TEMPLATE_NAMES.map((n) => [n, readFileSync(new URL(`${n}.yaml`, TEMPLATES_DIR), 'utf8')]),
  ) as Templates
  return cachedTemplates
}

// ---------------------------------------------------------------- template engine

type Vars = Record<string, unknown>
type Obj = Record<string, unknown>
const WHOLE = /^\$\{([A-Za-z_][A-Za-z0-9_.]*)\}$/
const PART = /\$\{([A-Za-z_][A-Za-z0-9_.]*)\}/g

function lookup(vars: Vars, name: string, template: string): unknown {
  let v: unknown = vars
  for (const seg of name.split('.')) {
    if (v === null || typeof v !== 'object' || !(seg in (v as Obj)))
      throw new Error(`template ${template}: unknown placeholder \${${name}}`)
    v = (v as Obj)[seg]
  }
  return v
}

const REMOVE = Symbol('remove')

function substitute(node: unknown, vars: Vars, template: string): unknown {
  if (typeof node === 'string') {
    const whole = WHOLE.exec(node)
    if (whole) {
      const v = lookup(vars, whole[1], template)
      return v === undefined ? REMOVE : structuredClone(v)
    }
    return node.replace(PART, (_, name: string) => {
      const v = lookup(vars, name, template)
      if (typeof v !== 'string' && typeof v !== 'number')
        throw new Error(`template ${template}: \${${name}} inside a string must be a string or number`)
      return String(v)
    })
  }
  if (Array.isArray(node)) return node.map((x) => substitute(x, vars, template)).filter((x) => x !== REMOVE)
  if (node && typeof node === 'object') {
    const out: Obj = {}
    for (const [k, v] of Object.entries(node)) {
      const s = substitute(v, vars, template)
      if (s !== REMOVE) out[k] = s
    }
    return out
  }
  return node
}

/** Fill a template: `${name}` as a whole value takes the value (and drops the key when undefined). */
export function fillTemplate(text: string, vars: Vars, name = 'template'): Obj {
  const doc = parseDocument(text)
  if (doc.errors.length) throw new Error(`template ${name}: ${doc.errors[0].message}`)
  const value = doc.toJS() as unknown
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new Error(`template ${name}: must be a YAML mapping`)
  return substitute(value, vars, name) as Obj
}

/** Drop maps a patch left empty (e.g. a worker's patch with no control-plane fields). */
function pruneEmpty(o: Obj): Obj {
  const out: Obj = {}
  for (const [k, v] of Object.entries(o)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const p = pruneEmpty(v as Obj)
      if (Object.keys(p).length) out[k] = p
    } else out[k] = v
  }
  return out
}

/** Maps merge recursively; lists and scalars from the patch replace. */
export function mergePatch(base: Obj, patch: Obj): Obj {
  const out: Obj = { ...base }
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k]
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? mergePatch(b as Obj, v as Obj)
        : v
  }
  return out
}

// ---------------------------------------------------------------- derived values

/**
 * CPU isolation by its effects, with what Talos v1.10.3's kernel has (no NO_HZ_FULL, no RCU_NOCB_CPU: see
 * kernelArgWithoutEffect in config/inventory.ts):
 * - irqaffinity=<reservedSystemCpus>: the default affinity every IRQ gets when it is set up (kernel/irq/irqdesc.c
 *   irq_affinity_setup parses the list into irq_default_affinity, always adding the boot CPU; desc_smp_init and
 *   irq_setup_affinity start each IRQ from it; Documentation/admin-guide/kernel-parameters.txt irqaffinity=), so
 *   device IRQs land on the system's CPUs and not on the validator's. Managed IRQs (NVMe I/O queues) are spread by
 *   the kernel regardless, which is right: each completes on the CPU that submitted the I/O. Drivers that set their
 *   own affinity at probe (mlx5's completion IRQs, pci_irq.c irq_set_affinity_and_hint) are not moved by it.
 * - cpufreq.default_governor=: the kernel's default is schedutil (CONFIG_CPU_FREQ_DEFAULT_GOV_SCHEDUTIL), which
 *   lowers the clock of CPUs a busy-polling tile leaves idle between bursts; drivers/cpufreq/cpufreq.c
 *   cpufreq_init_policy applies the named governor to every policy, or for setpolicy drivers (intel_pstate,
 *   amd-pstate-epp in active mode) the performance/powersave policy of that name.
 */
export function cpuIsolationKernelArgs(v: Pick<ValidatorProfile, 'reservedSystemCpus' | 'cpuGovernor'>): string[] {
  const reserved = v.reservedSystemCpus?.trim()
  return [
    ...(reserved ? [`irqaffinity=${reserved}`] : []),
    `cpufreq.default_governor=${v.cpuGovernor ?? 'performance'}`,
  ]
}

/** All extra kernel args of the validator: hugepages first, then CPU isolation, then validator.kernelArgs. */
export const validatorKernelArgs = (v: ValidatorProfile) => [
  ...hugepageKernelArgs(v.hugepages),
  ...cpuIsolationKernelArgs(v),
  ...(v.kernelArgs ?? []),
]

/**
 * kubelet's hard eviction defaults on Linux (kubernetes pkg/kubelet/eviction/defaults_linux.go, plus imagefs.inodesFree
 * which kubelet 1.33 also defaults). Kubernetes 1.33 replaces the whole map when evictionHard is given
 * unless mergeDefaultEvictionSettings is true (it exists in 1.33.1, default false: k8s.io/kubelet v0.33.1
 * config/v1beta1/types.go:588-597, kubernetes cmd/kubelet/app/server.go:455), so a signal the inventory leaves out would be zero: render
 * these for every signal the inventory does not set.
 */
const KUBELET_EVICTION_HARD_DEFAULTS: Readonly<Record<string, string>> = {
  'memory.available': '100Mi',
  'nodefs.available': '10%',
  'nodefs.inodesFree': '5%',
  'imagefs.available': '15%',
  'imagefs.inodesFree': '5%',
}

/**
 * Talos' systemReserved defaults (internal/app/machined/pkg/controllers/k8s/kubelet_spec.go, v1.10.3: only applied when
 * systemReserved is empty; values from pkg/machinery/constants/constants.go KubeletSystemReservedPid and
 * KubeletSystemReservedEphemeralStorage). Setting systemReserved drops them, so keep those the inventory does not set.
 */
const TALOS_SYSTEM_RESERVED_KEPT: Readonly<Record<string, string>> = { pid: '100', 'ephemeral-storage': '256Mi' }

type KubeletInputs = Omit<ValidatorProfile, 'storage'>

/** evictionHard as rendered: the inventory's signals over kubelet's defaults; undefined when the inventory sets none. */
export const evictionHardFor = (v: KubeletInputs) =>
  v.evictionHard ? { ...KUBELET_EVICTION_HARD_DEFAULTS, ...v.evictionHard } : undefined

/**
 * A reservation map without its cpu when reservedSystemCPUs is set: kubelet then overwrites systemReserved.cpu with
 * the number of reserved CPUs and deletes kubeReserved.cpu (kubernetes v1.33.1 cmd/kubelet/app/server.go:794-804),
 * so a rendered cpu would only be a value the node never uses. (Inventory validation refuses one; this keeps the
 * rendered config honest for any profile.)
 */
function withoutOverriddenCpu(v: KubeletInputs, m: Record<string, string>): Record<string, string> {
  if (!v.reservedSystemCpus?.trim()) return { ...m }
  const { cpu: _dead, ...rest } = m
  return rest
}

/** systemReserved as rendered: the inventory's values plus the Talos defaults it would otherwise drop. */
export const systemReservedFor = (v: KubeletInputs) =>
  v.systemReserved ? withoutOverriddenCpu(v, { ...TALOS_SYSTEM_RESERVED_KEPT, ...v.systemReserved }) : undefined

/** kubeReserved as rendered: the inventory's values (no cpu next to reservedSystemCPUs). */
export const kubeReservedFor = (v: KubeletInputs) =>
  v.kubeReserved ? withoutOverriddenCpu(v, v.kubeReserved) : undefined

/** Taints in KubeletConfiguration.registerWithTaints form (core/v1 Taint). */
export const registerWithTaints = (v: KubeletInputs) =>
  v.taints?.length
    ? v.taints.map((t) => ({ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect }))
    : undefined

/** KubeletConfiguration fields (kubelet.config.k8s.io/v1beta1 names) for machine.kubelet.extraConfig. */
export function kubeletExtraConfig(v: KubeletInputs): Obj {
  const c: Obj = {}
  if (v.cpuManagerPolicy) c.cpuManagerPolicy = v.cpuManagerPolicy
  // Whole physical cores only: with full-pcpus-only the static policy never hands a container half an SMT core
  // (kubernetes pkg/kubelet/cm/cpumanager/policy_options.go FullPCPUsOnlyOption; GA options need no feature gate).
  if (v.cpuManagerPolicy === 'static') c.cpuManagerPolicyOptions = { 'full-pcpus-only': 'true' }
  if (v.reservedSystemCpus) c.reservedSystemCPUs = v.reservedSystemCpus
  if (v.topologyManagerPolicy) c.topologyManagerPolicy = v.topologyManagerPolicy
  if (v.topologyManagerScope) c.topologyManagerScope = v.topologyManagerScope
  const sys = systemReservedFor(v)
  if (sys) c.systemReserved = sys
  const kube = kubeReservedFor(v)
  if (kube) c.kubeReserved = kube
  const evict = evictionHardFor(v)
  if (evict) c.evictionHard = evict
  if (v.reservedMemory?.length) {
    // Per-NUMA reservations only mean something to the Static memory manager.
    c.memoryManagerPolicy = 'Static'
    c.reservedMemory = v.reservedMemory.map((r) => ({ numaNode: r.numaNode, limits: { memory: r.memory } }))
  }
  // A worker's Talos cannot add taints to its own Node later (NodeRestriction, see lib/node-restriction.ts):
  // the kubelet registers the node with them, so the validator is never schedulable without them.
  const taints = registerWithTaints(v)
  if (taints) c.registerWithTaints = taints
  return c
}

/** Talos nodeTaints: key → "value:Effect" (or "Effect" without a value). */
const talosTaints = (v: ValidatorProfile) =>
  v.taints?.length
    ? Object.fromEntries(v.taints.map((t) => [t.key, t.value ? `${t.value}:${t.effect}` : t.effect]))
    : undefined

function secretVars(s: SecretsBundle) {
  return {
    trustdToken: s.trustdinfo.token,
    osCrt: s.certs.os.crt,
    osKey: s.certs.os.key,
    clusterId: s.cluster.id,
    clusterSecret: s.cluster.secret,
    bootstrapToken: s.secrets.bootstraptoken,
    secretboxEncryptionSecret: s.secrets.secretboxencryptionsecret || undefined,
    // only bundles from before v1.3 lack secretbox; then the AES-CBC secret is what Talos uses
    aescbcEncryptionSecret: s.secrets.secretboxencryptionsecret ? undefined : s.secrets.aescbcencryptionsecret,
    k8sCrt: s.certs.k8s.crt,
    k8sKey: s.certs.k8s.key,
    aggregatorCrt: s.certs.k8saggregator.crt,
    aggregatorKey: s.certs.k8saggregator.key,
    serviceAccountKey: s.certs.k8sserviceaccount.key,
    etcdCrt: s.certs.etcd.crt,
    etcdKey: s.certs.etcd.key,
  }
}

function clusterVars(inv: Inventory) {
  const c = inv.cluster
  const host = new URL(c.endpoint).hostname.replace(/^\[|\]$/g, '')
  const sans = [host, ...(c.vip && c.vip !== host ? [c.vip] : [])]
  const v6 = isIP(host) === 6
  return {
    name: c.name,
    endpoint: c.endpoint,
    kubernetesVersion: c.kubernetesVersion,
    apiServerCertSANs: sans,
    // gen config's defaults (constants.DefaultIPv4PodNet/ServiceNet, IPv6 when the endpoint is IPv6)
    podSubnets: [v6 ? 'fc00:db8:10::/56' : '10.244.0.0/16'],
    serviceSubnets: [v6 ? 'fc00:db8:20::/112' : '10.96.0.0/12'],
    etcdExtraArgs: c.etcdQuotaBytes ? { 'quota-backend-bytes': String(c.etcdQuotaBytes) } : undefined,
    inlineManifests: inv.validator ? [validatorNamespaceManifest(validatorNamespace(inv.validator))] : [],
  }
}

/** The PodSecurity labels of the validator's namespace (k8s.io/pod-security-admission api/constants.go). */
export const PRIVILEGED_NAMESPACE_LABELS = {
  'pod-security.kubernetes.io/enforce': 'privileged',
  'pod-security.kubernetes.io/audit': 'privileged',
  'pod-security.kubernetes.io/warn': 'privileged',
}

/**
 * The validator's namespace as a Talos inline manifest. The rendered admissionControl enforces baseline everywhere
 * else, which refuses the validator's host network and capabilities; PodSecurity reads the namespace's labels. Talos's
 * ManifestApplyController creates the namespace when it is missing and never changes one that exists
 * (internal/app/machined/pkg/controllers/k8s/manifest_apply.go at v1.10.3, apply: Get, then Create on NotFound).
 */
export function validatorNamespaceManifest(name: string): { name: string; contents: string } {
  const ns = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { ...PRIVILEGED_NAMESPACE_LABELS, 'app.kubernetes.io/managed-by': 'talos-runbooks' } },
  }
  return { name: `talos-runbooks-namespace-${name}`, contents: stringify(ns) }
}

/** A port as a Talos v1.10 interfaces entry selects it: deviceSelector by MAC or PCI bus path, or its name. */
const selectLink = (l: LinkRef): Obj =>
  l.mac
    ? { deviceSelector: { hardwareAddr: l.mac.toLowerCase() } }
    : l.busPath
      ? { deviceSelector: { busPath: l.busPath } }
      : { interface: l.name }

/**
 * The node's one link as a Talos v1.10 machine.network.interfaces entry (its selector, address or DHCP, the VIP),
 * then each of its other ports with `ignore: true`: Talos would otherwise bring them up and run DHCP on any with a
 * carrier (internal/app/machined/pkg/controllers/network/operator_config.go:241-259); ignored, it leaves them down
 * and unconfigured (link_config.go:90, operator_config.go:136-142).
 */
function nodeInterfaces(inv: Inventory, n: InventoryNode): Obj[] | undefined {
  const vip = n.role === 'controlplane' && inv.cluster.vip ? { vip: { ip: inv.cluster.vip } } : {}
  const net = n.network
  if (!net) return 'vip' in vip ? [{ deviceSelector: { physical: true }, dhcp: true, ...vip }] : undefined
  const select = selectLink(net.link)
  const addressing = net.address
    ? {
        addresses: [net.address],
        ...(net.gateway
          ? { routes: [{ network: isIP(net.gateway) === 6 ? '::/0' : '0.0.0.0/0', gateway: net.gateway }] }
          : {}),
      }
    : { dhcp: true }
  return [
    { ...select, ...addressing, ...vip },
    ...(net.otherLinks ?? []).map((l) => ({ ...selectLink(l), ignore: true })),
  ]
}

function nodeVars(inv: Inventory, n: InventoryNode) {
  const subnet = nodeSubnetOf(inv.cluster, n)
  return {
    name: n.name,
    installDisk: n.installDisk,
    interfaces: nodeInterfaces(inv, n),
    validSubnets: subnet ? [subnet] : undefined,
    etcdAdvertisedSubnets: subnet && n.role === 'controlplane' ? [subnet] : undefined,
  }
}

const nonEmpty = (o: Record<string, string>) => (Object.keys(o).length ? o : undefined)

/** The machine.files entries that rewrite the resource managers' checkpoints empty at every boot, or none. */
function kubeletResetFiles(c: Record<string, unknown>) {
  const files = [
    ...(c.cpuManagerPolicy === 'static' ? [cpuManagerResetFile()] : []),
    ...(c.memoryManagerPolicy === 'Static' ? [memoryManagerResetFile()] : []),
  ]
  return files.length ? files : undefined
}

function validatorVars(v: ValidatorProfile, role: InventoryNode['role']) {
  return {
    extraKernelArgs: validatorKernelArgs(v),
    kernelModules: v.kernelModules?.length ? v.kernelModules.map((name) => ({ name })) : undefined,
    // what fdctl's net provider checks need, under the inventory's own values (lib/host/solana-limits.ts)
    sysctls: {
      ...netProviderSysctls(v.netProvider),
      ...Object.fromEntries(Object.entries(v.sysctls ?? {}).map(([k, x]) => [k, String(x)])),
    },
    kubeletExtraConfig: kubeletExtraConfig(v),
    // the static CPU manager and the Static memory manager start every boot from fresh checkpoints
    // (config/kubelet-policy.ts cpuManagerResetFile, memoryManagerResetFile)
    files: kubeletResetFiles(kubeletExtraConfig(v)),
    // Only the labels NodeRestriction lets a worker set on itself: one forbidden label makes Talos' whole update
    // (these labels included) fail forever. 05-storage-tuning applies the others with admin credentials.
    nodeLabels: nonEmpty(splitNodeLabels(v.labels).self),
    // No nodeTaints: on a worker Talos would add them with the node's credentials, which NodeRestriction refuses
    // ("is not allowed to modify taints") along with the rest of the update; registerWithTaints carries them.
    nodeTaints: role === 'controlplane' ? talosTaints(v) : undefined,
    // memlock and nofile for every CRI container on the node (only the validator runs there): Talos sets none
    // (lib/host/solana-limits.ts); containerd takes them at its next start, so a change waits for a reboot
    baseRuntimeSpecOverrides: validatorRuntimeSpecOverrides(),
  }
}

const toYaml = (o: unknown) => stringify(o, { indent: 4, indentSeq: true, lineWidth: 0 })

function header(inv: Inventory, n: InventoryNode, kernelArgs: boolean): string {
  const lines = [
    `# ${n.name} (${n.role}${n.profile ? `, ${n.profile}` : ''}) — Talos ${inv.cluster.talosVersion} machine config for cluster ${inv.cluster.name}.`,
    '# Rendered by talos-runbooks from the inventory: do not edit, re-render. Contains secrets (keep 0600).',
  ]
  if (kernelArgs)
    lines.push(
      '# machine.install.extraKernelArgs is applied by GRUB installs only, at install/upgrade time; systemd-boot',
      '# (UEFI) ignores it: bake the same args into the installer image with the Image Factory schematic.',
    )
  return lines.join('\n') + '\n'
}

/** One node's multi-document config. */
function renderNodeConfig(
  inv: Inventory,
  secrets: SecretsBundle,
  node: InventoryNode,
  templates: Templates = defaultTemplates(),
): string {
  // each node installs (and upgrades to) the installer image of its own schematic
  const vars = {
    secrets: secretVars(secrets),
    cluster: { ...clusterVars(inv), installerImage: installerImageFor(inv, node) },
    node: nodeVars(inv, node),
  }
  let main = fillTemplate(templates[node.role], vars, `${node.role}.yaml`)
  main = mergePatch(main, pruneEmpty(fillTemplate(templates.node, vars, 'node.yaml')))
  const docs: Obj[] = []
  const v = node.profile === 'validator' ? inv.validator : undefined
  if (v) {
    main = mergePatch(
      main,
      pruneEmpty(
        fillTemplate(templates.validator, { ...vars, validator: validatorVars(v, node.role) }, 'validator.yaml'),
      ),
    )
    for (const s of v.storage ?? [])
      docs.push(
        fillTemplate(
          templates['user-volume'],
          {
            volume: {
              name: s.name,
              diskSelector: diskSelectorCel(s.disk),
              minSize: s.minSize,
              maxSize: s.maxSize,
              filesystem: s.filesystem,
            },
          },
          'user-volume.yaml',
        ),
      )
    const nicName = v.nic && nicLinkName(v.nic, node.network?.link)
    if (v.nic && nicName)
      docs.push(fillTemplate(templates.ethernet, { nic: ethernetConfigVars(v.nic, nicName) }, 'ethernet.yaml'))
  }
  return header(inv, node, !!v) + [main, ...docs].map(toYaml).join('---\n')
}

/** Every node's config, by node name. Pure: no I/O beyond reading templates once. */
export function renderMachineConfigs(
  inv: Inventory,
  secrets: SecretsBundle,
  templates: Templates = defaultTemplates(),
): Map<string, string> {
  const out = new Map<string, string>()
  for (const n of inv.nodes) out.set(n.name, renderNodeConfig(inv, secrets, n, templates))
  return out
}

/** The validator's Image Factory schematic (empty list without a validator); per node: renderNodeSchematic. */
export function renderImageFactorySchematic(
  inv: Inventory,
  opts: { officialExtensions?: string[] } = {},
  templates: Templates = defaultTemplates(),
): string {
  const kernelArgs = inv.validator ? validatorKernelArgs(inv.validator) : []
  const body = fillTemplate(
    templates.schematic,
    { kernelArgs, officialExtensions: opts.officialExtensions ?? [] },
    'schematic.yaml',
  )
  const lead = templates.schematic.split('\n').filter((l) => l.startsWith('#'))
  return lead.join('\n') + '\n' + stringify(body, { indent: 2, lineWidth: 0 })
}

/**
 * The installer image a node installs and upgrades with: the validator's own (its schematic carries the huge page and
 * IOMMU args), the cluster's plain one for every other node. One image for all would put the validator's kernel args
 * on every node: `hugepages=0:16,1:16` pins 32 GiB on a 2-socket control plane and is an invalid parameter on a
 * single-NUMA one (the kernel ignores it: Documentation/admin-guide/kernel-parameters.txt, mm/hugetlb.c).
 */
export const installerImageFor = (inv: Inventory, node: InventoryNode) => installerImageOf(inv, node).image

/**
 * Which installer image a node gets and where it comes from: the inventory field that names one of its own (a custom
 * build, or a pinned factory reference), else the factory's image for the node's schematic (`field` undefined). The
 * validator never falls back to cluster.installerImage: that image does not carry its kernel args.
 */
export function installerImageOf(
  inv: Inventory,
  node: InventoryNode,
): { image: string; field?: 'validator.installerImage' | 'cluster.installerImage' } {
  if (node.profile === 'validator') {
    if (inv.validator?.installerImage) return { image: inv.validator.installerImage, field: 'validator.installerImage' }
  } else if (inv.cluster.installerImage) return { image: inv.cluster.installerImage, field: 'cluster.installerImage' }
  const { id } = renderNodeSchematic(inv, node)
  return { image: factoryInstallerImage(id, inv.cluster.talosVersion, inv.cluster.imageFactory) }
}

/** The kernel args a node's schematic carries: the validator's, none for the others. */
export const nodeKernelArgs = (inv: Inventory, node: InventoryNode) =>
  node.profile === 'validator' && inv.validator ? validatorKernelArgs(inv.validator) : []

/** A node's Image Factory schematic (YAML to POST to the factory) and the ID the factory gives it. */
export function renderNodeSchematic(
  inv: Inventory,
  node: InventoryNode,
  opts: { officialExtensions?: string[] } = {},
  templates: Templates = defaultTemplates(),
): { yaml: string; id: string } {
  const body = fillTemplate(
    templates.schematic,
    { kernelArgs: nodeKernelArgs(inv, node), officialExtensions: opts.officialExtensions ?? [] },
    'schematic.yaml',
  )
  const lead = templates.schematic.split('\n').filter((l) => l.startsWith('#'))
  const yaml = lead.join('\n') + '\n' + stringify(body, { indent: 2, lineWidth: 0 })
  return { yaml, id: schematicId(parseSchematic(yaml)) }
}

export class RenderValidationError extends Error {
  constructor(readonly problems: { node: string; issues: SchemaIssue[] }[]) {
    super(
      'rendered configs do not validate against the Talos schema:\n' +
        problems
          .flatMap((p) => p.issues.map((i) => `  ${p.node}.yaml:${i.line}:${i.column}: ${i.path}: ${i.message}`))
          .join('\n'),
    )
    this.name = 'RenderValidationError'
  }
}

/** Validate every config (when a schema path is given); throws RenderValidationError naming each problem. */
function assertConfigsValid(configs: Map<string, string>, schemaPath: string | URL): void {
  const problems = [...configs]
    .map(([node, text]) => ({ node, issues: validateAgainstTalosSchema(text, schemaPath) }))
    .filter((p) => p.issues.length)
  if (problems.length) throw new RenderValidationError(problems)
}

/**
 * Write `<outDir>/<node>.yaml` (0600) for every node, all or nothing: validate first (if `schemaPath`),
 * write every file to a temp name, then rename them into place. A failure before the renames leaves the
 * previous configs untouched and no temp files behind.
 */
export function writeRenderedConfigs(
  outDir: string,
  configs: Map<string, string>,
  opts: { schemaPath?: string | URL } = {},
): string[] {
  if (opts.schemaPath) assertConfigsValid(configs, opts.schemaPath)
  for (const name of configs.keys())
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name))
      throw new Error(`refusing to write config for node name ${JSON.stringify(name)}`)
  mkdirSync(outDir, { recursive: true, mode: 0o700 })
  const tmps: [string, string][] = []
  try {
    for (const [name, text] of configs) {
      const final = join(outDir, `${name}.yaml`)
      const tmp = join(outDir, `.${name}.yaml.tmp-${process.pid}`)
      writeFileSync(tmp, text, { mode: 0o600 })
      chmodSync(tmp, 0o600)
      tmps.push([tmp, final])
    }
  } catch (e) {
    for (const [tmp] of tmps) rmSync(tmp, { force: true })
    throw e
  }
  for (const [tmp, final] of tmps) renameSync(tmp, final)
  return tmps.map(([, final]) => final)
}
