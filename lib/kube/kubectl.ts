// Typed wrapper over kubectl for the runbooks: every call goes through exec.run (printed, dry-run aware), with the
// cluster's kubeconfig pinned so a runbook never acts on whatever context the operator's shell points at.
import { sleep } from 'zx'
import { stringify } from 'yaml'
import { CommandError, type RunResult } from '../host/exec.ts'
import { CliTool, type CallOptions, type CliToolOptions } from '../host/cli-tool.ts'
import type { SharedShell } from '../host/shared-shell.ts'

interface KubeOptions extends CliToolOptions {
  kubeconfig?: string
  context?: string
}

interface KubeRunOptions extends CallOptions {
  /** Named in errors (e.g. the node being labelled). */
  context?: string
}

interface ObjectMeta {
  name: string
  namespace?: string
  uid?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  creationTimestamp?: string
  ownerReferences?: { kind: string; name?: string }[]
  [extra: string]: unknown
}

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  [extra: string]: unknown
}

export interface KubeList<T> {
  apiVersion?: string
  kind?: string
  items: T[]
}

interface KubeCondition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  reason?: string
  message?: string
  lastTransitionTime?: string
}

export interface KubeTaint {
  key: string
  value?: string
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute'
}

export interface KubeNode extends KubeObject {
  spec?: { taints?: KubeTaint[]; unschedulable?: boolean; podCIDR?: string; providerID?: string }
  status?: {
    conditions?: KubeCondition[]
    addresses?: { type: string; address: string }[]
    capacity?: Record<string, string>
    allocatable?: Record<string, string>
    nodeInfo?: Record<string, string>
  }
}

interface KubeToleration {
  key?: string
  operator?: string
  value?: string
  effect?: string
}

export interface KubePod extends KubeObject {
  spec?: {
    nodeName?: string
    containers?: { name: string; image?: string; resources?: unknown }[]
    tolerations?: KubeToleration[]
    [extra: string]: unknown
  }
  status?: { phase?: string; conditions?: KubeCondition[]; podIP?: string; qosClass?: string; [extra: string]: unknown }
}

export interface KubeCsr extends KubeObject {
  spec?: { request?: string; signerName?: string; username?: string; usages?: string[]; groups?: string[] }
  status?: { conditions?: { type: string; status: string; reason?: string }[]; certificate?: string }
}

interface WaitOptions {
  timeoutMs: number
  intervalMs?: number
}

/** Ready condition True. */
export function isReady(node: KubeNode): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
}

/** Roles from `node-role.kubernetes.io/<role>` labels (and the legacy `kubernetes.io/role`), sorted. */
export function nodeRoles(node: KubeNode): string[] {
  const labels = node.metadata.labels ?? {}
  const roles = new Set<string>()
  for (const key of Object.keys(labels)) {
    const m = /^node-role\.kubernetes\.io\/(.+)$/.exec(key)
    if (m) roles.add(m[1]!)
  }
  if (labels['kubernetes.io/role']) roles.add(labels['kubernetes.io/role'])
  return [...roles].sort()
}

/** A CSR with neither Approved nor Denied condition. */
export function isCsrPending(csr: KubeCsr): boolean {
  return !(csr.status?.conditions ?? []).some((c) => c.type === 'Approved' || c.type === 'Denied')
}

function taintArg(t: string | KubeTaint): string {
  if (typeof t === 'string') return t
  return `${t.key}${t.value !== undefined ? `=${t.value}` : ''}:${t.effect}`
}

/**
 * Polls `probe` until it returns something other than undefined. Errors thrown by the probe count as "not yet"
 * and the last one is reported if time runs out.
 */
export async function waitFor<T>(describe: string, probe: () => Promise<T | undefined>, opts: WaitOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs
  const interval = opts.intervalMs ?? 2000
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
      lastError = undefined
    } catch (e) {
      lastError = e
    }
    const left = deadline - Date.now()
    if (left <= 0) {
      const why = lastError ? `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}` : ''
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${describe}${why}`)
    }
    await sleep(Math.min(interval, left))
  }
}

export class Kube extends CliTool {
  readonly kubeconfig?: string
  readonly context?: string

  constructor(opts: KubeOptions = {}) {
    super('kubectl', 'KUBECTL', opts)
    this.kubeconfig = opts.kubeconfig
    this.context = opts.context
  }

  buildArgs(args: string[]): string[] {
    return [
      ...(this.kubeconfig ? ['--kubeconfig', this.kubeconfig] : []),
      ...(this.context ? ['--context', this.context] : []),
      ...args,
    ]
  }

  /** The echo leaves out `--kubeconfig F` when the banner exported KUBECONFIG=F (kubectl reads it then). */
  protected override echoArgs(argv: string[], shell: SharedShell): string[] {
    const shared = argv[0] === '--kubeconfig' && argv[1] !== undefined && argv[1] === shell.kubeconfig
    return super.echoArgs(shared ? argv.slice(2) : argv, shell)
  }

  run(args: string[], opts: KubeRunOptions = {}): Promise<RunResult> {
    return this.call(this.buildArgs(args), opts, opts.context)
  }

  async getJson<T>(args: string[], opts: KubeRunOptions = {}): Promise<T> {
    const r = await this.run([...args, '-o', 'json'], opts)
    try {
      return JSON.parse(r.stdout) as T
    } catch (e) {
      throw new Error(`${r.command}: output is not JSON: ${(e as Error).message}`, { cause: e })
    }
  }

  async nodes(): Promise<KubeNode[]> {
    return (await this.getJson<KubeList<KubeNode>>(['get', 'nodes'])).items
  }

  /** undefined when the node object does not exist (not registered yet, or deleted). */
  async node(name: string): Promise<KubeNode | undefined> {
    const r = await this.run(['get', 'node', name, '-o', 'json'], { nothrow: true, context: `node ${name}` })
    if (r.exitCode !== 0) {
      if (/\(NotFound\)|not found/i.test(r.stderr)) return undefined
      throw new CommandError({ ...r, context: `node ${name}` })
    }
    try {
      return JSON.parse(r.stdout) as KubeNode
    } catch (e) {
      throw new Error(`${r.command}: output is not JSON: ${(e as Error).message}`, { cause: e })
    }
  }

  /** Pods in `namespace`, or in all namespaces when omitted. */
  async pods(namespace?: string): Promise<KubePod[]> {
    return (await this.getJson<KubeList<KubePod>>(['get', 'pods', ...(namespace ? ['-n', namespace] : ['-A'])])).items
  }

  async csrs(): Promise<KubeCsr[]> {
    return (await this.getJson<KubeList<KubeCsr>>(['get', 'csr'])).items
  }

  approveCsr(name: string): Promise<RunResult> {
    return this.run(['certificate', 'approve', name], { mutating: true, context: `csr ${name}` })
  }

  /** Sets labels; a null value removes the label. */
  label(node: string, labels: Record<string, string | null>): Promise<RunResult> {
    const args = Object.entries(labels).map(([k, v]) => (v === null ? `${k}-` : `${k}=${v}`))
    if (args.length === 0) throw new Error(`label node ${node}: no labels given`)
    return this.run(['label', 'node', node, ...args, '--overwrite'], { mutating: true, context: `node ${node}` })
  }

  /** Adds a taint ("key=value:Effect" or an object); pass "key:Effect-" (or remove: true) to remove one. */
  taint(node: string, taint: string | KubeTaint, opts: { remove?: boolean } = {}): Promise<RunResult> {
    const arg = taintArg(taint) + (opts.remove && !taintArg(taint).endsWith('-') ? '-' : '')
    const args = ['taint', 'node', node, arg, ...(arg.endsWith('-') ? [] : ['--overwrite'])]
    return this.run(args, { mutating: true, context: `node ${node}` })
  }

  /** `kubectl apply -f -` with the object(s) (or YAML text) on stdin, so nothing is written to disk. */
  apply(
    objs: KubeObject | KubeObject[] | string,
    opts: { serverSide?: boolean; fieldManager?: string } = {},
  ): Promise<RunResult> {
    const text =
      typeof objs === 'string' ? objs : (Array.isArray(objs) ? objs : [objs]).map((o) => stringify(o)).join('---\n')
    const args = ['apply', '-f', '-']
    if (opts.serverSide) args.push('--server-side')
    if (opts.fieldManager) args.push('--field-manager', opts.fieldManager)
    return this.run(args, { input: text, mutating: true })
  }

  delete(kind: string, name: string, namespace?: string): Promise<RunResult> {
    const args = ['delete', kind, name, ...(namespace ? ['-n', namespace] : []), '--ignore-not-found']
    return this.run(args, { mutating: true, context: `${kind} ${namespace ? `${namespace}/` : ''}${name}` })
  }

  waitFor<T>(describe: string, probe: () => Promise<T | undefined>, opts: WaitOptions): Promise<T> {
    return waitFor(describe, probe, opts)
  }

  /** Until the API server answers `/readyz` with `ok` (which includes its etcd check). */
  async waitForReady(timeoutMs = 5 * 60_000): Promise<void> {
    await this.waitFor(
      'the Kubernetes API to answer /readyz',
      async () => {
        const r = await this.run(['get', '--raw', '/readyz'], { nothrow: true, quiet: true })
        return r.exitCode === 0 && r.stdout.trim() === 'ok' ? true : undefined
      },
      { timeoutMs, intervalMs: 1000 },
    )
  }
}

/** The Kubernetes node that is the inventory node: same name, else an InternalIP equal to its address. */
export function findKubeNode<
  N extends { metadata: { name: string }; status?: { addresses?: { type: string; address: string }[] } },
>(nodes: N[], inv: { name: string; address: string }): N | undefined {
  return (
    nodes.find((n) => n.metadata.name === inv.name) ??
    nodes.find((n) => (n.status?.addresses ?? []).some((a) => a.type === 'InternalIP' && a.address === inv.address))
  )
}
