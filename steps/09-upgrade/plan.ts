// What 09-upgrade would change, computed from what each node runs and what the inventory renders for it. Pure: the
// observations come from steps/09-upgrade/observe.ts, so the order, the reasons and the refusals are unit-tested.
import type { Inventory, InventoryNode } from '../../config/inventory.ts'
import { installerImageFor, nodeKernelArgs } from '../../config/render.ts'
import { missingKernelArgs } from '../../lib/host/procfs.ts'
import { installerSchematicProblems } from '../../config/schematic-images.ts'
import { parseInstallerImage, type InstallerImageRef } from '../../lib/talos/schematic.ts'
import { offlineAfterBoot } from '../../lib/host/cpu-online.ts'
import { formatCpuList, parseCpuList } from '../../lib/host/numa.ts'

interface TalosVersion {
  major: number
  minor: number
  patch: number
}

function parseTalosVersion(v: string): TalosVersion | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(v.trim())
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined
}

const fmt = (v: TalosVersion) => `v${v.major}.${v.minor}.${v.patch}`

/**
 * The latest patch of each Talos minor (git tags of siderolabs/talos). Talos tests its config migrations only between
 * adjacent minors and recommends "the latest patch release of all intermediate minor releases"
 * (website/content/v1.10/talos-guides/upgrading-talos.md at v1.10.3, "Supported Upgrade Paths").
 */
const LATEST_TALOS_PATCH: Record<string, string> = {
  'v1.5': 'v1.5.6',
  'v1.6': 'v1.6.8',
  'v1.7': 'v1.7.7',
  'v1.8': 'v1.8.4',
  'v1.9': 'v1.9.6',
  'v1.10': 'v1.10.9',
  'v1.11': 'v1.11.6',
}

type UpgradePath = { ok: true } | { ok: false; why: string; path: string[] }

/** Whether Talos supports moving from → to in one upgrade; when not, the versions to go through. */
export function talosUpgradePath(fromText: string, toText: string): UpgradePath {
  const from = parseTalosVersion(fromText)
  const to = parseTalosVersion(toText)
  if (!from || !to) return { ok: false, why: `cannot compare Talos versions ${fromText} and ${toText}`, path: [] }
  if (from.major !== to.major)
    return { ok: false, why: `Talos ${fmt(from)} → ${fmt(to)} crosses a major version`, path: [] }
  if (to.minor < from.minor) {
    return {
      ok: false,
      why: `${fmt(to)} is an older minor than ${fmt(from)}: roll back with talosctl rollback instead`,
      path: [],
    }
  }
  if (to.minor - from.minor <= 1) return { ok: true }
  const path: string[] = []
  for (let m = from.minor; m < to.minor; m++) {
    const latest = LATEST_TALOS_PATCH[`v${from.major}.${m}`] ?? `the latest v${from.major}.${m} patch`
    if (!(m === from.minor && latest === fmt(from))) path.push(latest)
  }
  path.push(fmt(to))
  return {
    ok: false,
    why: `Talos ${fmt(from)} → ${fmt(to)} skips ${to.minor - from.minor - 1} minor release(s); Talos supports adjacent minors only`,
    path,
  }
}

/** The parts of an installer image reference the plan compares: the Talos version (tag) and the schematic ID. */
type ImageRef = InstallerImageRef

interface NodeTarget extends ImageRef {
  kernelArgs: string[]
}

function targetFor(inv: Inventory, node: InventoryNode): NodeTarget {
  return { ...parseInstallerImage(installerImageFor(inv, node)), kernelArgs: nodeKernelArgs(inv, node) }
}

/** What one node runs now, as read through the Talos API. */
export interface NodeObservation {
  name: string
  /** `talosctl version` Tag. */
  version?: string
  /** The "schematic" extension's version (`talosctl get extensions`); undefined without an Image Factory image. */
  schematic?: string
  /** /proc/cmdline as read from the node. */
  cmdline?: string
  /**
   * The node's CPUs (sysfs present, online) and the SMT siblings of its reserved CPUs that are online; read only when
   * the kernel args the inventory renders for it can take CPUs offline.
   */
  cpus?: { present: number[]; online: number[]; siblings: Record<number, number[]> }
  /** Why the node could not be read. */
  error?: string
}

type NodeKind = 'controlplane' | 'worker' | 'validator'

export interface NodeUpgrade {
  node: string
  address: string
  kind: NodeKind
  from: { version: string; schematic?: string }
  to: NodeTarget
  /** Why this node is upgraded, e.g. "Talos v1.10.3 → v1.10.4", "kernel args missing: hugepages=0:6,1:6". */
  reasons: string[]
}

export interface KubernetesUpgrade {
  from: string
  to: string
}

export interface UpgradePlan {
  /** In the order they are upgraded: control planes one at a time, then workers, the validator last. */
  nodes: NodeUpgrade[]
  upToDate: string[]
  kubernetes?: KubernetesUpgrade
  /** Refusals (unsupported jumps, unreadable nodes): the runbook changes nothing while any is present. */
  problems: string[]
  /**
   * Installer images that do not carry the schematic the inventory renders for their node, as 02 reports them: an
   * upgrade to such an image boots without the node's kernel args (the validator without its huge pages). The runbook
   * changes nothing while any is present.
   */
  imageProblems: string[]
}

const kindOf = (n: InventoryNode): NodeKind =>
  n.role === 'controlplane' ? 'controlplane' : n.profile === 'validator' ? 'validator' : 'worker'
const KIND_ORDER: Record<NodeKind, number> = { controlplane: 0, worker: 1, validator: 2 }

function reasonsFor(obs: NodeObservation, to: NodeTarget): string[] {
  const reasons: string[] = []
  if (obs.version !== to.version) reasons.push(`Talos ${obs.version} → ${to.version}`)
  if (to.schematic && obs.schematic !== to.schematic) {
    reasons.push(`schematic ${short(obs.schematic)} → ${short(to.schematic)}`)
  }
  const missing = missingKernelArgs(obs.cmdline ?? '', to.kernelArgs)
  if (missing.length) reasons.push(`kernel args missing from /proc/cmdline: ${missing.join(' ')}`)
  return reasons
}

const short = (id: string | undefined) => (id ? id.slice(0, 12) : '(none)')

/** Lowest version first: the cluster's Kubernetes version is what its oldest kubelet runs. */
function oldestVersion(versions: string[]): string | undefined {
  const key = (v: string) => (/^v?(\d+)\.(\d+)\.(\d+)/.exec(v) ?? []).slice(1).map(Number)
  return [...versions].sort((a, b) => {
    const [x, y] = [key(a), key(b)]
    for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
    return 0
  })[0]
}

export function planUpgrade(inv: Inventory, observed: NodeObservation[], kubeletVersions: string[] = []): UpgradePlan {
  const plan: UpgradePlan = { nodes: [], upToDate: [], problems: [], imageProblems: installerSchematicProblems(inv) }
  const byName = new Map(observed.map((o) => [o.name, o]))
  const ordered = inv.nodes
    .map((n, i) => ({ n, i }))
    .sort((a, b) => KIND_ORDER[kindOf(a.n)] - KIND_ORDER[kindOf(b.n)] || a.i - b.i)
  for (const { n } of ordered) {
    const obs = byName.get(n.name)
    if (!obs || obs.error || !obs.version) {
      plan.problems.push(`${n.name} (${n.address}): cannot read what it runs: ${obs?.error ?? 'no answer'}`)
      continue
    }
    const to = targetFor(inv, n)
    const path = talosUpgradePath(obs.version, to.version)
    if (!path.ok) {
      const via = path.path.length
        ? `; upgrade through ${path.path.join(' → ')} (set cluster.talosVersion and installerImage to each in turn)`
        : ''
      plan.problems.push(`${n.name}: ${path.why}${via}`)
      continue
    }
    const reasons = reasonsFor(obs, to)
    const offline =
      reasons.length && obs.cpus ? reservedCpusOfflineProblem(inv, n.name, obs.cpus, to.kernelArgs) : undefined
    if (offline) plan.problems.push(offline)
    if (!reasons.length) plan.upToDate.push(n.name)
    else
      plan.nodes.push({
        node: n.name,
        address: n.address,
        kind: kindOf(n),
        from: { version: obs.version, ...(obs.schematic ? { schematic: obs.schematic } : {}) },
        to,
        reasons,
      })
  }
  const running = oldestVersion(kubeletVersions)
  if (running && running !== inv.cluster.kubernetesVersion)
    plan.kubernetes = { from: running, to: inv.cluster.kubernetesVersion }
  return plan
}

/**
 * A reserved CPU that the node's new kernel args leave offline. kubelet's static CPU manager starts that boot from the
 * fresh checkpoint Talos writes (shared pool = the online CPUs), and every later start within the boot (a config apply
 * that restarts it, a crash) exits, because the reserved CPUs are not all in that pool: kubernetes v1.33.1
 * pkg/kubelet/cm/cpumanager/policy_static.go validateState, "not all reserved cpus: … are present in defaultCpuSet".
 */
export function reservedCpusOfflineProblem(
  inv: Inventory,
  node: string,
  cpus: NonNullable<NodeObservation['cpus']>,
  kernelArgs: string[],
): string | undefined {
  const wanted = inv.validator?.reservedSystemCpus ?? ''
  const reserved = parseCpuList(wanted)
  const topo = {
    present: cpus.present,
    siblings: new Map(Object.entries(cpus.siblings).map(([c, s]) => [Number(c), s])),
  }
  const offline = [
    // offline in the running boot already: its core cannot be read, so nothing says the next boot brings it up
    ...reserved
      .filter((c) => cpus.present.includes(c) && !cpus.online.includes(c) && !topo.siblings.has(c))
      .map((cpu) => ({ cpu, why: `CPU ${cpu} is offline in the running boot already` })),
    ...offlineAfterBoot(
      reserved.filter((c) => topo.siblings.has(c) || !cpus.present.includes(c)),
      kernelArgs,
      topo,
    ),
  ]
  if (!offline.length) return undefined
  const staying = reserved.filter((c) => !offline.some((o) => o.cpu === c))
  const fix = staying.length
    ? `Set validator.reservedSystemCpus to "${formatCpuList(staying)}" (the reserved CPUs that stay online)`
    : 'Reserve CPUs that stay online in validator.reservedSystemCpus'
  return (
    `${node}: reservedSystemCpus "${wanted}" names ${offline.length === 1 ? 'a CPU' : 'CPUs'} that a boot with its new kernel args leaves offline (${offline.map((o) => o.why).join('; ')}). ` +
    `kubelet would run in that boot, but every later start within it (a config apply, a crash) would fail (not all reserved cpus: "${wanted}" are present in defaultCpuSet; kubernetes v1.33.1 cpumanager/policy_static.go validateState). ` +
    `${fix}, run 02, then 09 again`
  )
}

/** The plan as the runbook prints it (--dry-run, --list, before the first node). */
export function formatPlan(plan: UpgradePlan): string {
  const lines: string[] = []
  plan.nodes.forEach((u, i) => {
    lines.push(`${i + 1}. ${u.node} (${u.kind}, ${u.address}): ${u.from.version} → ${u.to.version} with ${u.to.image}`)
    lines.push(`   why: ${u.reasons.join('; ')}`)
  })
  if (!plan.nodes.length) lines.push('Talos: every node runs what the inventory renders for it')
  else if (plan.upToDate.length) lines.push(`unchanged: ${plan.upToDate.join(', ')}`)
  lines.push(
    plan.kubernetes
      ? `Kubernetes: ${plan.kubernetes.from} → ${plan.kubernetes.to} (talosctl upgrade-k8s)`
      : 'Kubernetes: every kubelet runs the inventory version',
  )
  for (const p of [...plan.imageProblems, ...plan.problems]) lines.push(`refused: ${p}`)
  return lines.join('\n')
}
