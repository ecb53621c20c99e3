// The data sources: each fetches one kind of data for ALL the nodes it is asked about with one batched call
// (`talosctl -n a,b,c ...`, `kubectl get ... -o json`). Only `talosctl read`, which the Talos API serves for one
// node per call (cmd/talosctl/cmd/talos/read.go: FailIfMultiNodes), runs per node, bounded by p-limit, and only on
// the nodes a selected check targets (the validator). Multi-node talosctl calls run with nothrow: the nodes that
// answered still count, and each node that did not gets its own error, so one dead node fails only its own checks.
import pLimit from 'p-limit'
import { parseAllDocuments } from 'yaml'
import { firstMeaningfulLine } from '../../lib/host/exec.ts'
import { readSaysMissing } from '../../lib/talos/talosctl.ts'
import { parseMounts, sysctlPath } from '../../lib/host/procfs.ts'
import {
  parseBytes,
  parseEtcdAlarms,
  parseEtcdMembers,
  parseEtcdStatus,
  parseHealth,
  parseNodeErrors,
  parseResources,
  parseService,
  parseTable,
  parseVersion,
} from '../../lib/talos/parse.ts'
import { parseEthernetStatus, type EthernetStatus } from '../../lib/talos/ethernet-status.ts'
import { controlPlaneNodes, nodeNameFor, type CheckInventory, type CheckNode } from './inventory.ts'
import {
  hugepagesBySize,
  numaPrefetch,
  numaReadOptions,
  readNumaFromFiles,
  readOnDemand,
  toNumaView,
} from './numa-view.ts'
import { hugepageKiB, hugepageNumaNodes } from '../../config/hugepages.ts'
import { storageDataDir } from '../../config/volume-data-dir.ts'
import type { NodeProbe, SourceRegistry, SourceRequest } from './runner.ts'
import type { PerNode, StorageMount } from './types.ts'
import { backupsDir, readBackupIndex } from '../../lib/talos/etcd-backups.ts'
import type { KubeCsr, KubeNode, KubePod } from '../../lib/kube/kubectl.ts'
import { parseCpuList, type NumaTopology } from '../../lib/host/numa.ts'
import { hostLimitPath, hostLimitsFor } from '../../lib/host/solana-limits.ts'
import { parseInterrupts } from '../../lib/host/interrupts.ts'

// ---- what the sources need from the outside world (lib/talos/talosctl.ts's Talosctl and lib/kube/kubectl.ts's Kube fit) ----

export interface TalosRunResult {
  command: string
  stdout: string
  stderr: string
  exitCode: number
  timedOut?: boolean
  durationMs?: number
}

interface TalosRunner {
  /** The binary, named when it is missing. */
  readonly bin?: string
  /** Its per-call timeout (--call-timeout): the probe hedges its one batched call well within it. */
  readonly timeoutMs?: number
  run(
    args: string[],
    opts?: { nodes?: string[]; nothrow?: boolean; quiet?: boolean; timeoutMs?: number },
  ): Promise<TalosRunResult>
}

interface KubeApi {
  /** `kubectl get nodes -o json`: a NodeList or its items. */
  nodes(): Promise<unknown>
  /** `kubectl get pods -A -o json`: a PodList or its items. */
  pods(namespace?: string): Promise<unknown>
  /** `kubectl get csr -o json`: a CertificateSigningRequestList or its items. */
  csrs(): Promise<unknown>
}

export interface SourceContext {
  talos: TalosRunner
  kube: KubeApi
  /** The cluster's output dir, where 10-etcd-backup keeps its snapshots (the etcdBackups source reads its index). */
  outDir?: string
  /** Parallel per-node reads. */
  readConcurrency?: number
  now?: () => number
}

type Req = SourceRequest<SourceContext>

/**
 * The window between the two reads of /proc/interrupts: one second, long enough that a NIC or disk IRQ left on a
 * validator CPU shows (they fire hundreds to thousands of times a second under load), short enough for the suite.
 */
const INTERRUPT_WINDOW_MS = 1000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * How long `talosctl health` may take, and the whole call. --wait-timeout bounds the server's whole run, every
 * condition together (machined's HealthCheck: context.WithTimeout(srv.Context(), in.WaitTimeout)), not each one: a
 * healthy cluster still walks ~16 conditions, each one or more API round trips, and on a loaded API (the
 * api-latency check warns from 1 s a list) 20 s was seen to end mid-walk on a cluster that then passed (CI, right
 * after 12 replaced cp2). A broken cluster costs this whole wait before the check fails.
 */
const HEALTH_WAIT = '60s'
const HEALTH_TIMEOUT_MS = 90_000

// ---- helpers ---------------------------------------------------------------------------------

const answering = (nodes: CheckNode[], silent: Record<string, string> = {}) => nodes.filter((n) => !(n.name in silent))

const silentAmong = (nodes: CheckNode[], silent: Record<string, string> = {}) =>
  Object.fromEntries(nodes.filter((n) => n.name in silent).map((n) => [n.name, silent[n.name]!]))

const items = <T>(x: unknown): T[] => (Array.isArray(x) ? (x as T[]) : ((x as { items?: T[] })?.items ?? []))

/**
 * One multi-node talosctl call. Returns its output and an error for each asked node that `answered` does not list:
 * the stderr lines that name the node, else talosctl's whole complaint. Throws only when talosctl itself timed out.
 */
async function batched(ctx: SourceContext, args: string[], nodes: CheckNode[]) {
  // without -n talosctl would ask the talosconfig's default node, which nobody chose
  const r: TalosRunResult = nodes.length
    ? await ctx.talos.run(args, { nodes: nodes.map((n) => n.address), nothrow: true })
    : { command: `talosctl ${args.join(' ')}`, stdout: '', stderr: '', exitCode: 0 }
  if (r.timedOut) throw new Error(`${r.command} timed out`)
  const reported = parseNodeErrors(r.stderr)
  const errorsFor = (answered: Set<string>) => {
    const out: Record<string, string> = {}
    for (const n of nodes) {
      if (answered.has(n.name)) continue
      out[n.name] =
        reported.byNode[n.address] ??
        reported.byNode[n.name] ??
        (reported.other.join('; ') ||
          (r.exitCode !== 0 ? `${r.command} exited ${r.exitCode}` : `no answer from ${n.name} in ${r.command}`))
    }
    return out
  }
  return { ...r, errorsFor }
}

/** A table parser over partial output: talosctl prints what it got before failing. */
function parsePartial<T>(parse: (s: string) => T[], stdout: string, command: string): T[] {
  if (stdout.trim() === '') return []
  try {
    return parse(stdout)
  } catch (e) {
    throw new Error(`${command}: ${(e as Error).message}`, { cause: e })
  }
}

class ReadError extends Error {
  constructor(
    message: string,
    readonly missing: boolean,
  ) {
    super(message)
  }
}

async function readOne(ctx: SourceContext, node: CheckNode, path: string): Promise<string> {
  const r = await ctx.talos.run(['read', path], { nodes: [node.address], nothrow: true, quiet: true })
  if (r.exitCode !== 0 || r.timedOut) {
    const why = r.timedOut ? 'timed out' : firstMeaningfulLine(r.stderr) || `exit ${r.exitCode}`
    throw new ReadError(
      `talosctl -n ${node.address} read ${path}: ${why}`,
      !r.timedOut && readSaysMissing(r.stderr, path),
    )
  }
  return r.stdout
}

/**
 * Read several files on one node in parallel; a missing file is undefined (sysfs trees have optional files). The
 * first read that fails otherwise (a dead node, a timeout) fails them all: the reads not started yet are not made.
 */
async function readMany(
  ctx: SourceContext,
  node: CheckNode,
  paths: string[],
): Promise<Map<string, string | undefined>> {
  const limit = pLimit(ctx.readConcurrency ?? 8)
  const out = new Map<string, string | undefined>()
  let failure: unknown
  await Promise.all(
    paths.map((p) =>
      limit(async () => {
        if (failure) return
        try {
          out.set(p, await readOne(ctx, node, p))
        } catch (e) {
          // only a file that is not there is optional; a timeout or a dead node must not read as "0"
          if (e instanceof ReadError && e.missing) out.set(p, undefined)
          else failure ??= e
        }
      }),
    ),
  )
  if (failure) throw failure
  return out
}

/** Run fn for each node in parallel; a throw becomes that node's error. */
async function perNode<T>(
  ctx: SourceContext,
  nodes: CheckNode[],
  fn: (n: CheckNode) => Promise<T>,
): Promise<PerNode<T>> {
  const limit = pLimit(ctx.readConcurrency ?? 8)
  const out: PerNode<T> = { values: {}, errors: {} }
  await Promise.all(
    nodes.map((n) =>
      limit(async () => {
        try {
          out.values[n.name] = await fn(n)
        } catch (e) {
          out.errors[n.name] = (e as Error).message
        }
      }),
    ),
  )
  return out
}

const readFile = (path: string) => async (req: Req) => perNode(req.ctx, req.nodes, (n) => readOne(req.ctx, n, path))

// Both the numa and hugepagesSysfs sources need the same sysfs tree: read it once per node per run.
const numaCache = new WeakMap<Req['ctx'], Map<string, Promise<NumaTopology>>>()
function numaTopology(ctx: SourceContext, node: CheckNode, expectedNodes: number, hugepageSizesKiB: number[]) {
  let m = numaCache.get(ctx)
  if (!m) numaCache.set(ctx, (m = new Map()))
  let p = m.get(node.name)
  if (!p) {
    const opts = numaReadOptions(hugepageSizesKiB)
    p = readOnDemand(
      (read) => readNumaFromFiles(read, opts),
      (paths) => readMany(ctx, node, paths),
      { prefetch: numaPrefetch(expectedNodes, hugepageSizesKiB) },
    )
    m.set(node.name, p)
  }
  return p
}

/** The inventory's huge page sizes in KiB: the pools the checks read (1 GiB when there is no validator). */
const hugepageSizesKiB = (inv: CheckInventory) =>
  (inv.validator?.hugepages ?? [{ size: '1Gi' as const }]).map((p) => hugepageKiB(p.size))

/** How many NUMA nodes the inventory expects on a node (the validator's per-NUMA huge pages list one per node). */
const expectedNumaNodes = (inv: CheckInventory, n: CheckNode) =>
  n.profile === 'validator' ? hugepageNumaNodes(inv.validator?.hugepages ?? []) : 0

/** The machine config's documents (talosctl prints the MachineConfig spec as a YAML string) → the v1alpha1 one. */
/* eslint-disable @typescript-eslint/no-explicit-any -- the machine config is walked by path, as YAML */
export function machineDocument(spec: unknown): Record<string, any> | undefined {
  if (spec && typeof spec === 'object') return spec as Record<string, any>
  if (typeof spec !== 'string') return undefined
  for (const d of parseAllDocuments(spec)) {
    const v = d.toJS() as Record<string, any> | null
    if (v && typeof v === 'object' && 'machine' in v) return v
  }
  return undefined
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** `talosctl ls -l <dir>`: the row for the directory itself (NAME "."). */
export function ownerFromLs(stdout: string, address: string): { uid: number; gid: number; mode: string } | undefined {
  const row = parseTable(stdout).find(
    (r) => (r.NODE === undefined || r.NODE === '' || r.NODE === address) && r.NAME === '.',
  )
  return row ? { uid: Number(row.UID), gid: Number(row.GID), mode: row.MODE! } : undefined
}

/**
 * Whether `talosctl ls -l dir`'s stderr says dir does not exist on `address`: machined's List fails with `lstat <dir>:
 * no such file or directory`, under the node's name in a multi-node call (parseNodeErrors), alone for one node.
 */
export function lsSaysMissing(stderr: string, dir: string, address: string, nodeCount: number): boolean {
  const e = parseNodeErrors(stderr)
  const text = e.byNode[address] ?? (nodeCount === 1 ? stderr : '')
  return text.includes(dir) && /no such file or directory/i.test(text)
}

/** `talosctl mounts` (formatters.RenderMounts): sizes in GB (1e9) with two decimals. */
export function parseTalosMounts(
  stdout: string,
): { node?: string; mountedOn: string; sizeBytes: number; availableBytes: number }[] {
  return parseTable(stdout).map((r) => ({
    ...(r.NODE ? { node: r.NODE } : {}),
    mountedOn: r['MOUNTED ON']!,
    sizeBytes: Math.round(Number(r['SIZE(GB)']) * 1e9),
    availableBytes: Math.round(Number(r['AVAILABLE(GB)']) * 1e9),
  }))
}

const errorList = (e: string | string[]) =>
  Array.isArray(e)
    ? e
    : e
        .split(/,\s*/)
        .map((s) => s.trim())
        .filter(Boolean)
const bytes = (v: number | string) => (typeof v === 'number' ? v : parseBytes(v))

// ---- who answers ----------------------------------------------------------------------------

/** A shell's "command not found" (what zx's $ reports when the binary is missing or not executable). */
const TOOL_MISSING = 127

/**
 * When single-node calls start racing the probe's batched call: a third of the call timeout. Not sooner: on a busy
 * machine a healthy 100-node call can take seconds, and racing it early would only add 100 more processes.
 */
const hedgeDelay = (timeoutMs = 30_000) => timeoutMs / 3

/**
 * Who answers, in ONE `talosctl -n a,b,c version`: apid fans it out and reports per node (parseVersion's servers,
 * parseNodeErrors' errors), so the number of calls stays flat as nodes are added. A multi-node call waits for its
 * slowest node, so a hung node would hold the whole answer to the call timeout: when the batched call has not
 * answered within hedgeDelay it is raced by one call per node (at most 8 at once, none started after the batched
 * call answered), and a hung node costs one call timeout plus the hedge, not one per source. Node name → why it
 * did not answer. A missing talosctl throws: that is not the nodes' fault.
 */
export const probeTalos: NodeProbe<SourceContext> = async (nodes, ctx) => {
  let answered: TalosRunResult | undefined
  const batch = ctx.talos
    .run(['version'], { nodes: nodes.map((n) => n.address), nothrow: true, quiet: true })
    .then((r) => (answered = r.timedOut ? undefined : r))
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, hedgeDelay(ctx.talos.timeoutMs))))
  await Promise.race([batch, late])
  if (!answered) {
    const singles = await probeEach(nodes, ctx, () => answered !== undefined)
    await batch
    if (!answered)
      return verdictOf(
        singles.filter((v) => v !== undefined),
        ctx,
      )
  }
  clearTimeout(timer)
  const r = answered
  return verdictOf(
    nodes.map((n) => ({ node: n, ...batchVerdict(r, n) })),
    ctx,
  )
}

function verdictOf(verdicts: ({ node: CheckNode } & Verdict)[], ctx: SourceContext): Record<string, string> {
  const missing = verdicts.find((v) => v.toolMissing)?.why
  if (missing !== undefined) {
    const bin = ctx.talos.bin ?? 'talosctl'
    throw new Error(
      `talosctl is missing: ${bin} cannot be run (${missing}); install talosctl v1.10.3 or set $TALOSCTL to it. No Talos check could run.`,
    )
  }
  return Object.fromEntries(verdicts.flatMap((v) => (v.why === undefined ? [] : [[v.node.name, v.why]])))
}

interface Verdict {
  /** Why the node did not answer; undefined when it did. */
  why?: string
  toolMissing?: boolean
}

const timeoutWhy = (r: TalosRunResult) => `no answer within ${r.durationMs ?? '?'} ms (--call-timeout)`

/** One node's verdict from the batched `version`: it answered when its server section is there. */
function batchVerdict(r: TalosRunResult, n: CheckNode): Verdict {
  if (r.exitCode === TOOL_MISSING) return { why: firstMeaningfulLine(r.stderr), toolMissing: true }
  const servers = parseVersion(r.stdout).servers
  if (servers.some((s) => s.node === n.address || s.node === n.name)) return {}
  const errors = parseNodeErrors(r.stderr)
  return {
    why:
      errors.byNode[n.address] ??
      errors.byNode[n.name] ??
      (errors.other.join('; ') || `${r.command} exited ${r.exitCode} without an answer from ${n.address}`),
  }
}

/**
 * The fallback: `talosctl -n <node> version` per node, in parallel, each bounded by the call timeout; a node whose
 * turn comes after `stop()` turned true is not asked (undefined).
 */
async function probeEach(
  nodes: CheckNode[],
  ctx: SourceContext,
  stop: () => boolean,
): Promise<(({ node: CheckNode } & Verdict) | undefined)[]> {
  const limit = pLimit(Math.max(ctx.readConcurrency ?? 8, 8))
  return Promise.all(
    nodes.map((n) =>
      limit(async () => {
        if (stop()) return undefined
        const r = await ctx.talos.run(['version'], { nodes: [n.address], nothrow: true, quiet: true })
        if (r.exitCode === 0 && !r.timedOut) return { node: n }
        if (r.exitCode === TOOL_MISSING) return { node: n, why: firstMeaningfulLine(r.stderr), toolMissing: true }
        return {
          node: n,
          why: r.timedOut ? timeoutWhy(r) : firstMeaningfulLine(r.stderr) || `${r.command} exited ${r.exitCode}`,
        }
      }),
    ),
  )
}

// ---- the sources -----------------------------------------------------------------------------

export const SOURCES: SourceRegistry<SourceContext> = {
  k8sNodes: {
    name: 'k8sNodes',
    // cluster.api-latency judges how long the list took: not while dozens of talosctl calls share this CPU
    timed: true,
    fetch: async ({ ctx }) => {
      const now = ctx.now ?? performance.now.bind(performance)
      const t0 = now()
      const list = await ctx.kube.nodes()
      return { items: items<KubeNode>(list), latencyMs: now() - t0 }
    },
  },

  k8sPods: {
    name: 'k8sPods',
    fetch: async ({ ctx }) => ({ items: items<KubePod>(await ctx.kube.pods()) }),
  },

  k8sCsrs: {
    name: 'k8sCsrs',
    fetch: async ({ ctx }) => ({ items: items<KubeCsr>(await ctx.kube.csrs()), readAt: Date.now() }),
  },

  etcdStatus: {
    name: 'etcdStatus',
    asksNodes: true,
    nodesAsked: (inv) => controlPlaneNodes(inv),
    fetch: async ({ ctx, inv, silent }) => {
      const cps = answering(controlPlaneNodes(inv), silent)
      const silentCps = silentAmong(controlPlaneNodes(inv), silent)
      if (cps.length === 0) return { rows: [], nodeErrors: silentCps }
      const r = await batched(ctx, ['etcd', 'status'], cps)
      const parsed = parsePartial(parseEtcdStatus, r.stdout, r.command)
      const rows = parsed.map((x) => ({
        node: nodeNameFor(inv, x.node ?? (cps.length === 1 ? cps[0]!.address : '')),
        memberId: x.memberId,
        dbSize: bytes(x.dbSize),
        dbSizeInUse: bytes(x.dbSizeInUse),
        raftIndex: x.raftIndex,
        raftTerm: x.raftTerm,
        raftAppliedIndex: x.raftAppliedIndex,
        leader: x.leader,
        learner: x.learner,
        errors: errorList(x.errors),
      }))
      return { rows, nodeErrors: { ...silentCps, ...r.errorsFor(new Set(rows.map((x) => x.node))) } }
    },
  },

  talosHealth: {
    name: 'talosHealth',
    // Talos's own cluster health check (pkg/cluster/check DefaultClusterChecks, run server-side by the node asked:
    // cmd/talosctl/cmd/talos/health.go healthOnServer), told the inventory's nodes instead of discovering them. It polls
    // each condition until --wait-timeout: bounded here so a broken cluster fails the check instead of stalling the suite.
    asksNodes: true,
    nodesAsked: (inv) => controlPlaneNodes(inv),
    fetch: async ({ ctx, inv, silent }) => {
      // only control planes that answered the probe are asked: a silent one would cost the whole HEALTH_TIMEOUT_MS
      const cps = answering(controlPlaneNodes(inv), silent)
      if (!cps.length) throw new Error('no control plane answers, so none can run talosctl health')
      const workers = inv.nodes.filter((n) => n.role !== 'controlplane')
      const args = [
        'health',
        '--wait-timeout',
        HEALTH_WAIT,
        '--control-plane-nodes',
        cps.map((n) => n.address).join(','),
      ]
      if (workers.length) args.push('--worker-nodes', workers.map((n) => n.address).join(','))
      const errors: string[] = []
      for (const cp of cps) {
        const r = await ctx.talos.run(args, { nodes: [cp.address], nothrow: true, timeoutMs: HEALTH_TIMEOUT_MS })
        const report = parseHealth(r.stderr)
        // a node that cannot run the check at all (down, refused) is not the cluster's verdict: ask the next one
        if (report.checks.length || (r.exitCode === 0 && !r.timedOut))
          return { from: cp.name, command: r.command, exitCode: r.timedOut ? -1 : r.exitCode, report }
        errors.push(`${cp.name}: ${r.timedOut ? 'timed out' : r.stderr.trim().split('\n')[0] || `exit ${r.exitCode}`}`)
      }
      throw new Error(`no control plane ran talosctl health (${errors.join('; ')})`)
    },
  },

  etcdMembers: {
    name: 'etcdMembers',
    asksNodes: true,
    nodesAsked: (inv) => controlPlaneNodes(inv),
    // Any healthy member knows the list: ask one, and the next only if it does not answer.
    fetch: async ({ ctx, inv, silent }) => {
      const errors = Object.entries(silentAmong(controlPlaneNodes(inv), silent)).map(([n, why]) => `${n}: ${why}`)
      for (const cp of answering(controlPlaneNodes(inv), silent)) {
        const r = await ctx.talos.run(['etcd', 'members'], { nodes: [cp.address], nothrow: true })
        if (r.exitCode === 0 && !r.timedOut) {
          const members = parsePartial(parseEtcdMembers, r.stdout, r.command).map(
            ({ id, hostname, peerUrls, clientUrls, learner }) => ({ id, hostname, peerUrls, clientUrls, learner }),
          )
          return { members, from: cp.name }
        }
        errors.push(`${cp.name}: ${r.timedOut ? 'timed out' : r.stderr.trim().split('\n')[0] || `exit ${r.exitCode}`}`)
      }
      throw new Error(
        `no control plane listed etcd members (${errors.join('; ') || 'no control planes in the inventory'})`,
      )
    },
  },

  etcdBackups: {
    name: 'etcdBackups',
    // a file on this machine, not a node: asks nobody
    fetch: async ({ ctx }) => {
      if (!ctx.outDir) throw new Error('no output dir known, so no etcd backup index to read')
      return { dir: backupsDir(ctx.outDir), entries: readBackupIndex(ctx.outDir), readAt: Date.now() }
    },
  },

  etcdAlarms: {
    name: 'etcdAlarms',
    asksNodes: true,
    nodesAsked: (inv) => controlPlaneNodes(inv),
    fetch: async ({ ctx, inv, silent }) => {
      const cps = answering(controlPlaneNodes(inv), silent)
      if (cps.length === 0)
        throw new Error(
          `no control plane answers: ${Object.entries(silentAmong(controlPlaneNodes(inv), silent))
            .map(([n, why]) => `${n}: ${why}`)
            .join('; ')}`,
        )
      const r = await batched(ctx, ['etcd', 'alarm', 'list'], cps)
      const alarms = parsePartial(parseEtcdAlarms, r.stdout, r.command).map((a) => ({
        node: nodeNameFor(inv, a.node ?? cps[0]?.address ?? ''),
        memberId: a.memberId,
        alarm: a.alarm,
      }))
      // Alarms are cluster-wide: any member that answered reports them all. Only when none could is there no data.
      if (r.exitCode !== 0) {
        const errs = r.errorsFor(new Set())
        const silent = cps.filter((n) => r.stderr.includes(n.address) || r.stderr.includes(n.name))
        if (silent.length === 0 || silent.length === cps.length)
          throw new Error(`${r.command}: ${Object.values(errs)[0] ?? `exit ${r.exitCode}`}`)
      }
      return { alarms }
    },
  },

  services: {
    name: 'services',
    asksNodes: true,
    fetch: async ({ ctx, inv, nodes }) => {
      const r = await batched(ctx, ['service'], nodes)
      const rows = parsePartial(parseService, r.stdout, r.command).map((s) => ({
        node: nodeNameFor(inv, s.node ?? (nodes.length === 1 ? nodes[0]!.address : '')),
        id: s.id,
        state: s.state,
        health: s.health,
      }))
      return { rows, nodeErrors: r.errorsFor(new Set(rows.map((x) => x.node))) }
    },
  },

  cmdline: { name: 'cmdline', asksNodes: true, fetch: readFile('/proc/cmdline') },
  meminfo: { name: 'meminfo', asksNodes: true, fetch: readFile('/proc/meminfo') },
  modules: { name: 'modules', asksNodes: true, fetch: readFile('/proc/modules') },
  // Talos ships the kernel's modules.builtin under /usr/lib/modules/<release>/ (Dockerfile at v1.10.3: hack/modules-amd64.txt
  // lists it; the integration tests read /usr/lib/modules/<release>/modules.dep the same way, internal/integration/base/api.go)
  modulesBuiltin: {
    name: 'modulesBuiltin',
    asksNodes: true,
    fetch: async (req) =>
      perNode(req.ctx, req.nodes, async (n) => {
        const release = (await readOne(req.ctx, n, '/proc/sys/kernel/osrelease')).trim()
        return readOne(req.ctx, n, `/usr/lib/modules/${release}/modules.builtin`)
      }),
  },
  tcpCongestion: {
    name: 'tcpCongestion',
    asksNodes: true,
    fetch: readFile('/proc/sys/net/ipv4/tcp_available_congestion_control'),
  },

  sysctls: {
    name: 'sysctls',
    asksNodes: true,
    // KernelParamStatus (id "proc.sys.<key>", spec.current) for every node in one `get`; nodes whose API does
    // not serve the resource fall back to reading the inventory's keys from /proc/sys.
    fetch: async ({ ctx, inv, nodes }) => {
      const out: PerNode<Record<string, string>> = { values: {}, errors: {} }
      if (nodes.length === 0) return out
      const r = await batched(ctx, ['get', 'kernelparamstatus', '-o', 'json'], nodes)
      let resources: ReturnType<typeof parseResources<{ current?: string }>>
      try {
        resources = parseResources<{ current?: string }>(r.stdout)
      } catch {
        resources = []
      }
      for (const res of resources) {
        const name = nodeNameFor(inv, res.node || (nodes.length === 1 ? nodes[0]!.address : ''))
        const key = res.metadata.id.replace(/^proc\.sys\./, '')
        ;(out.values[name] ??= {})[key] = String(res.spec?.current ?? '').trim()
      }
      const keys = Object.keys(inv.validator?.sysctls ?? {})
      const fallback = nodes.filter((n) => !out.values[n.name] || keys.some((k) => !(k in out.values[n.name]!)))
      const read = await perNode(ctx, fallback, async (n) => {
        const files = await readMany(ctx, n, keys.map(sysctlPath))
        return Object.fromEntries(
          keys.flatMap((k) => (files.get(sysctlPath(k)) === undefined ? [] : [[k, files.get(sysctlPath(k))!.trim()]])),
        )
      })
      for (const n of fallback) {
        if (read.values[n.name]) out.values[n.name] = { ...read.values[n.name], ...out.values[n.name] }
        else if (!out.values[n.name]) out.errors[n.name] = read.errors[n.name] ?? r.errorsFor(new Set())[n.name]!
      }
      return out
    },
  },

  criBaseSpec: {
    name: 'criBaseSpec',
    asksNodes: true,
    fetch: readFile('/etc/cri/conf.d/base-spec.json'),
  },

  ethernetStatus: {
    name: 'ethernetStatus',
    asksNodes: true,
    // every link of every node in one `get`: EthernetStatusController writes one per ethernet link (v1.10.3
    // controllers/network/ethernet_status.go), id = link name
    fetch: async ({ ctx, inv, nodes }) => {
      const out: PerNode<Record<string, EthernetStatus>> = { values: {}, errors: {} }
      if (nodes.length === 0) return out
      const r = await batched(ctx, ['get', 'ethernetstatus', '-o', 'json'], nodes)
      for (const res of parsePartial((s) => parseResources(s), r.stdout, r.command)) {
        const name = nodeNameFor(inv, res.node || (nodes.length === 1 ? nodes[0]!.address : ''))
        ;(out.values[name] ??= {})[res.metadata.id] = parseEthernetStatus(res.spec)
      }
      // a node that answered with no ethernet links at all still answered: an empty map, not an error
      const answered = new Set(Object.keys(out.values))
      for (const [n, e] of Object.entries(r.errorsFor(answered)))
        if (r.exitCode === 0 && !r.stderr.trim()) out.values[n] = {}
        else out.errors[n] = e
      return out
    },
  },

  hostLimits: {
    name: 'hostLimits',
    asksNodes: true,
    // read from /proc/sys, not KernelParamStatus: Talos reports only the params it set, and these must hold either way
    fetch: ({ ctx, inv, nodes }) =>
      perNode(ctx, nodes, async (n) => {
        const limits = hostLimitsFor(inv.validator?.netProvider)
        const files = await readMany(
          ctx,
          n,
          limits.map((l) => hostLimitPath(l.key)),
        )
        return Object.fromEntries(
          limits.flatMap((l) => {
            const v = files.get(hostLimitPath(l.key))
            return v === undefined ? [] : [[l.key, v.trim()]]
          }),
        )
      }),
  },

  numa: {
    name: 'numa',
    asksNodes: true,
    fetch: ({ ctx, inv, nodes }) =>
      perNode(ctx, nodes, async (n) =>
        toNumaView(await numaTopology(ctx, n, expectedNumaNodes(inv, n), hugepageSizesKiB(inv))),
      ),
  },

  hugepagesSysfs: {
    name: 'hugepagesSysfs',
    asksNodes: true,
    fetch: ({ ctx, inv, nodes }) =>
      perNode(ctx, nodes, async (n) =>
        hugepagesBySize(
          await numaTopology(ctx, n, expectedNumaNodes(inv, n), hugepageSizesKiB(inv)),
          hugepageSizesKiB(inv),
        ),
      ),
  },

  // One read per reserved CPU (kernel Documentation/admin-guide/cputopology.rst: thread_siblings_list), per node. An
  // offline CPU has no topology directory and is left out (kubelet.reserved-cpus-online judges it).
  threadSiblings: {
    name: 'threadSiblings',
    asksNodes: true,
    fetch: ({ ctx, inv, nodes }) =>
      perNode(ctx, nodes, async (n) => {
        const cpus = parseCpuList(inv.validator?.reservedSystemCpus ?? '')
        const path = (c: number) => `/sys/devices/system/cpu/cpu${c}/topology/thread_siblings_list`
        const texts = await readMany(ctx, n, cpus.map(path))
        return Object.fromEntries(
          cpus.flatMap((c) => (texts.get(path(c)) === undefined ? [] : [[c, texts.get(path(c))!]])),
        )
      }),
  },

  // Documentation/ABI/stable/sysfs-devices-system-cpu: online
  cpuOnline: { name: 'cpuOnline', asksNodes: true, fetch: readFile('/sys/devices/system/cpu/online') },

  // /proc/interrupts names the device IRQs (its numeric rows, kernel/irq/proc.c show_interrupts); /proc/irq/<n>/ has
  // their affinity (Documentation/core-api/irq/irq-affinity.rst). A few hundred small reads on a big machine.
  irqAffinity: {
    name: 'irqAffinity',
    asksNodes: true,
    fetch: ({ ctx, nodes }) =>
      perNode(ctx, nodes, async (n) => {
        const rows = parseInterrupts(await readOne(ctx, n, '/proc/interrupts')).rows.filter((r) => r.irq !== undefined)
        // effective_affinity_list first (x86 has it: CONFIG_GENERIC_IRQ_EFFECTIVE_AFF_MASK); smp_affinity_list only
        // where it is missing: one talosctl call per file, so half the calls on a machine with hundreds of IRQs
        const eff = (irq: number) => `/proc/irq/${irq}/effective_affinity_list`
        const smp = (irq: number) => `/proc/irq/${irq}/smp_affinity_list`
        const effective = await readMany(
          ctx,
          n,
          rows.map((r) => eff(r.irq!)),
        )
        const lacking = rows.filter((r) => effective.get(eff(r.irq!)) === undefined)
        const allowed = await readMany(
          ctx,
          n,
          lacking.map((r) => smp(r.irq!)),
        )
        // an IRQ freed since /proc/interrupts was read has no directory any more: it is not there to judge
        return rows.flatMap((r) => {
          const e = effective.get(eff(r.irq!))
          const a = allowed.get(smp(r.irq!))
          if (e === undefined && a === undefined) return []
          return [
            {
              irq: r.irq!,
              actions: r.actions,
              ...(e === undefined ? { smpAffinity: a!.trim() } : { effectiveAffinity: e.trim() }),
            },
          ]
        })
      }),
  },

  // cpufreq's per-policy sysfs (Documentation/admin-guide/pm/cpufreq.rst): cpuN/cpufreq links to its policy
  cpuGovernors: {
    name: 'cpuGovernors',
    asksNodes: true,
    fetch: ({ ctx, nodes }) =>
      perNode(ctx, nodes, async (n) => {
        const cpus = parseCpuList(await readOne(ctx, n, '/sys/devices/system/cpu/online'))
        const path = (c: number) => `/sys/devices/system/cpu/cpu${c}/cpufreq/scaling_governor`
        const files = await readMany(ctx, n, cpus.map(path))
        return Object.fromEntries(cpus.map((c) => [c, files.get(path(c))?.trim() ?? null]))
      }),
  },

  interruptSample: {
    name: 'interruptSample',
    asksNodes: true,
    fetch: ({ ctx, nodes }) =>
      perNode(ctx, nodes, async (n) => {
        const now = ctx.now ?? performance.now.bind(performance)
        const before = await readOne(ctx, n, '/proc/interrupts')
        const t0 = now()
        await sleep(INTERRUPT_WINDOW_MS)
        const after = await readOne(ctx, n, '/proc/interrupts')
        return { before, after, windowMs: now() - t0 }
      }),
  },

  // Documentation/ABI/testing/sysfs-devices-system-cpu: isolated (isolcpus=), nohz_full (only with CONFIG_NO_HZ_FULL)
  cpuIsolationSysfs: {
    name: 'cpuIsolationSysfs',
    asksNodes: true,
    fetch: ({ ctx, nodes }) =>
      perNode(ctx, nodes, async (n) => {
        const files = await readMany(ctx, n, ['/sys/devices/system/cpu/isolated', '/sys/devices/system/cpu/nohz_full'])
        return {
          isolated: files.get('/sys/devices/system/cpu/isolated') ?? null,
          nohzFull: files.get('/sys/devices/system/cpu/nohz_full') ?? null,
        }
      }),
  },

  kubeletConfig: {
    name: 'kubeletConfig',
    asksNodes: true,
    fetch: async ({ ctx, inv, nodes }) => {
      const out: PerNode<Record<string, unknown>> = { values: {}, errors: {} }
      if (nodes.length === 0) return out
      const r = await batched(ctx, ['get', 'machineconfig', '-o', 'json'], nodes)
      for (const res of parsePartial((s) => parseResources(s), r.stdout, r.command)) {
        const name = nodeNameFor(inv, res.node || (nodes.length === 1 ? nodes[0]!.address : ''))
        const doc = machineDocument(res.spec)
        if (!doc) out.errors[name] = `the machine config of ${name} has no v1alpha1 document`
        else out.values[name] = (doc.machine?.kubelet?.extraConfig as Record<string, unknown> | undefined) ?? {}
      }
      const errs = r.errorsFor(new Set([...Object.keys(out.values), ...Object.keys(out.errors)]))
      for (const [n, e] of Object.entries(errs)) out.errors[n] = e
      return out
    },
  },

  storage: {
    name: 'storage',
    asksNodes: true,
    fetch: async ({ ctx, inv, nodes }) => {
      const volumes = inv.validator?.storage ?? []
      const all = nodes.map((n) => n.address)
      // All at once: free space for every node and volume in one call (an API without `mounts` just leaves it
      // unknown), ownership with one `ls -l` per volume for all nodes (the data directory's own row, NAME "."; not
      // the mount root's, which Talos resets to root:root 0755 at every mount: config/inventory.ts
      // StorageSpec.dataDir), and each node's /proc/mounts.
      const [free, lsOut, mountsOf] = await Promise.all([
        nodes.length
          ? ctx.talos.run(['mounts'], { nodes: all, nothrow: true, quiet: true }).catch(() => undefined)
          : undefined,
        Promise.all(
          volumes.map((v) =>
            ctx.talos.run(['ls', '-l', storageDataDir(v)], { nodes: all, nothrow: true, quiet: true }),
          ),
        ),
        perNode(ctx, nodes, async (n) => parseMounts(await readOne(ctx, n, '/proc/mounts'))),
      ])
      let sizes: ReturnType<typeof parseTalosMounts> = []
      try {
        if (free && free.exitCode === 0) sizes = parseTalosMounts(free.stdout)
      } catch {
        sizes = []
      }
      const ls = new Map(volumes.map((v, i) => [v.mountPoint, lsOut[i]!]))
      return perNode(ctx, nodes, async (n): Promise<StorageMount[]> => {
        const mounts = mountsOf.values[n.name]
        if (!mounts) throw new Error(mountsOf.errors[n.name] ?? `no /proc/mounts from ${n.name}`)
        return volumes.map((v) => {
          const m = mounts.filter((x) => x.mountPoint === v.mountPoint).at(-1)
          const dataDir = storageDataDir(v)
          const lsR = ls.get(v.mountPoint)
          const owner = ownerFromLs(lsR?.stdout ?? '', n.address)
          const missing = !owner && lsR !== undefined && lsSaysMissing(lsR.stderr, dataDir, n.address, nodes.length)
          const s = sizes.find(
            (x) => x.mountedOn === v.mountPoint && (!x.node || x.node === n.address || x.node === n.name),
          )
          return {
            name: v.name,
            mountPoint: v.mountPoint,
            dataDir,
            ...(m ? { filesystem: m.fsType, source: m.device } : {}),
            ...(owner ? { owner } : {}),
            ...(missing ? { dataDirMissing: true } : {}),
            ...(s ? { sizeBytes: s.sizeBytes, availableBytes: s.availableBytes } : {}),
          }
        })
      })
    },
  },
}
