// Typed wrapper over the talosctl binary (real, or the lab's talosctl-compatible CLI): builds the exact argv,
// prints it redacted, skips mutating calls on --dry-run, and returns parsed, node-tagged results.
import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { chmod } from 'node:fs/promises'
import { CommandError, type RunResult } from '../host/exec.ts'
import { CliTool, type CallOptions, type CliToolOptions } from '../host/cli-tool.ts'
import { talosconfigEndpoints, type SharedShell } from '../host/shared-shell.ts'
import {
  formatGoDuration,
  parseContainers,
  parseEtcdAlarms,
  parseEtcdMembers,
  parseEtcdStatus,
  parseGoDuration,
  parseHealth,
  parseResources,
  parseService,
  parseNodeErrors,
  parseVersion,
  type ContainerRow,
  type EtcdAlarmRow,
  type EtcdMemberRow,
  type EtcdStatusRow,
  type HealthReport,
  type ServiceStatus,
  type TalosResource,
  type VersionReport,
} from './parse.ts'

interface TalosctlOptions extends CliToolOptions {
  talosconfig?: string
  /** Overrides the talosconfig endpoints (`-e`). */
  endpoints?: string[]
  /** Address → inventory name, so errors say "cp2 (127.0.10.12)". */
  nodeNames?: Record<string, string>
}

interface TalosctlRunOptions extends CallOptions {
  nodes?: string[]
  /** Maintenance API: talosctl dials the node itself (`-n` becomes the endpoint); no talosconfig, no `-e`. */
  insecure?: boolean
  /** A command that talks to no node (`gen ...`, `config ...`): no global flags at all. */
  local?: boolean
}

type ApplyMode = 'auto' | 'no-reboot' | 'reboot' | 'staged' | 'try'

interface DiskSpec {
  dev_path: string
  size: number
  pretty_size?: string
  io_size?: number
  sector_size?: number
  readonly: boolean
  cdrom: boolean
  model?: string
  serial?: string
  modalias?: string
  wwid?: string
  uuid?: string
  bus_path?: string
  sub_system?: string
  transport?: string
  rotational?: boolean
  secondary_disks?: string[]
  symlinks?: string[]
}

interface MachineStatusSpec {
  /** booting, installing, maintenance, running, rebooting, shutting down, upgrading, ... */
  stage: string
  status: { ready: boolean; unmetConditions?: { name: string; reason: string }[] | null }
}

/** runtime.Version (pkg/machinery/resources/runtime/version.go): the running Talos tag, maintenance mode included. */
interface VersionSpec {
  version: string
}

interface MemberSpec {
  nodeId: string
  addresses: string[]
  hostname: string
  machineType: string
  operatingSystem: string
  controlPlane?: { apiServerPort: number }
}

interface HealthOptions {
  /** The node that runs the server-side check (`-n`). */
  node: string
  controlPlaneNodes?: string[]
  workerNodes?: string[]
  /** Go duration ("10m") or milliseconds; default 10 minutes. */
  waitTimeout?: string | number
  /** Return the report of a failed check instead of throwing. */
  nothrow?: boolean
}

interface HealthResult extends HealthReport {
  exitCode: number
  command: string
}

/** Each asked node that `answered` does not hold → its own error, else what the call said as a whole. */
function unanswered(r: RunResult, nodes: string[], answered: Set<string>): Record<string, string> {
  const e = parseNodeErrors(r.stderr)
  const whole = e.other.join('; ') || (r.exitCode !== 0 ? `${r.command} exited ${r.exitCode}` : 'no answer')
  return Object.fromEntries(nodes.filter((n) => !answered.has(n)).map((n) => [n, e.byNode[n] ?? whole]))
}

export class Talosctl extends CliTool {
  readonly talosconfig?: string
  readonly endpoints?: string[]
  private readonly nodeNames: Record<string, string>

  constructor(opts: TalosctlOptions = {}) {
    super('talosctl', 'TALOSCTL', opts)
    this.talosconfig = opts.talosconfig
    this.endpoints = opts.endpoints
    this.nodeNames = opts.nodeNames ?? {}
  }

  /** The full argv after the binary. `--insecure` goes after the subcommand: talosctl defines it per command. */
  buildArgs(args: string[], opts: Pick<TalosctlRunOptions, 'nodes' | 'insecure' | 'local'> = {}): string[] {
    if (opts.local) return [...args]
    const nodes = opts.nodes ?? []
    if (opts.insecure) {
      if (nodes.length !== 1) {
        throw new Error(
          `talosctl ${args.join(' ')} --insecure: the maintenance API takes exactly one node, got ${nodes.length}`,
        )
      }
      return ['-n', nodes[0]!, ...args, '--insecure']
    }
    const out: string[] = []
    if (this.talosconfig) out.push('--talosconfig', this.talosconfig)
    if (this.endpoints?.length) out.push('-e', this.endpoints.join(','))
    if (nodes.length) out.push('-n', nodes.join(','))
    return [...out, ...args]
  }

  /**
   * The echo leaves out `--talosconfig F` when the banner exported TALOSCONFIG=F, and then `-e` when it names the
   * endpoints F's current context already has (talosctl dials those when -e is absent): `talosctl -n a service etcd`.
   * An `-e` that differs (one node as its own endpoint) stays, so the pasted line still dials the same apid.
   */
  protected override echoArgs(argv: string[], shell: SharedShell): string[] {
    let rest = argv
    let config: string | undefined
    if (rest[0] === '--talosconfig' && rest[1] !== undefined) {
      config = rest[1]
      if (config === shell.talosconfig) rest = rest.slice(2)
    }
    if (config && rest[0] === '-e' && rest[1] !== undefined) {
      const inFile = talosconfigEndpoints(config)
      if (inFile && inFile.join(',') === rest[1]) rest = rest.slice(2)
    }
    return super.echoArgs(rest, shell)
  }

  describeNodes(nodes: string[]): string {
    return nodes.map((n) => (this.nodeNames[n] ? `${this.nodeNames[n]} (${n})` : n)).join(', ')
  }

  private found?: boolean
  /** Whether the binary is there at all (a missing talosctl is reported as such by the call itself). */
  private binaryFound(): boolean {
    this.found ??= this.bin.includes('/')
      ? existsSync(this.bin)
      : (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, this.bin)))
    return this.found
  }

  run(args: string[], opts: TalosctlRunOptions = {}): Promise<RunResult> {
    const nodes = opts.nodes ?? []
    const where = nodes.length ? this.describeNodes(nodes) : undefined
    // talosctl writes an empty talosconfig where --talosconfig points when nothing is there (pkg/machinery/client/
    // config Open → creates the default file): before 02 made one, such a call would leave a file behind, even on a
    // dry run, and only say "talos config file is empty"
    if (!opts.local && !opts.insecure && this.talosconfig && !existsSync(this.talosconfig) && this.binaryFound()) {
      const r: RunResult = {
        command: `talosctl ${this.buildArgs(args, opts).join(' ')}`,
        stdout: '',
        stderr: `the talosconfig ${this.talosconfig} does not exist yet (no such file or directory; 02-configure generates it): talosctl was not run, it would write an empty one there\n`,
        exitCode: 1,
        durationMs: 0,
      }
      return opts.nothrow ? Promise.resolve(r) : Promise.reject(new CommandError({ ...r, context: where }))
    }
    return this.call(this.buildArgs(args, opts), opts, where)
  }

  // One call for all nodes (apid fans it out), except in maintenance mode, which reaches one node per call.
  private async eachCall<T>(
    nodes: string[],
    insecure: boolean | undefined,
    call: (batch: string[]) => Promise<T[]>,
  ): Promise<T[]> {
    if (!insecure) return call(nodes)
    const out: T[] = []
    for (const node of nodes) out.push(...(await call([node])))
    return out
  }

  private static tag<T extends { node?: string }>(rows: T[], batch: string[]): (T & { node: string })[] {
    // without a NODE column (maintenance mode, or talosctl printing no metadata) the rows are the single node's
    return rows.map((r) => ({ ...r, node: r.node || (batch.length === 1 ? batch[0]! : '') }))
  }

  // ------------------------------------------------------------ read-only

  async version(nodes: string[], opts: { insecure?: boolean } = {}): Promise<VersionReport> {
    const reports = await this.eachCall(nodes, opts.insecure, async (batch) => {
      const r = await this.run(['version'], { nodes: batch, insecure: opts.insecure })
      const v = parseVersion(r.stdout)
      return [{ ...v, servers: Talosctl.tag(v.servers, batch) }]
    })
    return { ...(reports[0]?.client ? { client: reports[0].client } : {}), servers: reports.flatMap((r) => r.servers) }
  }

  async get<T = unknown>(
    type: string,
    nodes: string[],
    opts: { insecure?: boolean; namespace?: string; id?: string } = {},
  ): Promise<TalosResource<T>[]> {
    const args = [
      'get',
      type,
      ...(opts.id ? [opts.id] : []),
      ...(opts.namespace ? ['--namespace', opts.namespace] : []),
      '-o',
      'json',
    ]
    return this.eachCall(nodes, opts.insecure, async (batch) => {
      const r = await this.run(args, { nodes: batch, insecure: opts.insecure })
      let parsed: TalosResource<T>[]
      try {
        parsed = parseResources<T>(r.stdout)
      } catch (e) {
        throw new Error(`${r.command}: ${(e as Error).message}`, { cause: e })
      }
      return Talosctl.tag(parsed, batch)
    })
  }

  disks(nodes: string[], opts: { insecure?: boolean } = {}) {
    return this.get<DiskSpec>('disks', nodes, opts)
  }

  machineStatus(nodes: string[], opts: { insecure?: boolean } = {}) {
    return this.get<MachineStatusSpec>('machinestatus', nodes, opts)
  }

  /**
   * The Talos version each node runs, from its `Version` resource. In maintenance mode this is the only way to ask:
   * the maintenance API serves the Version method to os:admin only (v1.10.3 internal/app/maintenance/server.go
   * Version → assertAdminRole: "API is not implemented in maintenance mode"), but resources to a plain client, and
   * machined's VersionController writes this one on every boot (controllers/runtime/version.go). The full type name,
   * since `version` alone is also a talosctl command's name.
   */
  async talosVersions(nodes: string[], opts: { insecure?: boolean } = {}): Promise<{ node: string; tag: string }[]> {
    const rs = await this.get<VersionSpec>('Versions.runtime.talos.dev', nodes, opts)
    return rs.map((r) => ({ node: r.node, tag: r.spec.version }))
  }

  /**
   * Talos's own validation of a machine config file, as the machine will judge it: `talosctl validate --config FILE
   * --mode metal --strict` (cmd/talosctl/cmd/talos/validate.go; --strict also fails on warnings and unknown keys).
   * undefined when valid, else what talosctl said.
   */
  async validate(file: string): Promise<string | undefined> {
    const r = await this.run(['validate', '--config', file, '--mode', 'metal', '--strict'], {
      local: true,
      nothrow: true,
      quiet: true,
    })
    if (r.exitCode === 0) return undefined
    // the shell's "command not found": there is no talosctl to ask, which is not a verdict on the config
    if (r.exitCode === 127) throw new Error(`${this.bin}: not found (${r.stderr.trim()})`)
    return `${r.stderr}${r.stdout}`.trim() || `talosctl validate exited ${r.exitCode}`
  }

  members(nodes: string[]) {
    return this.get<MemberSpec>('members', nodes)
  }

  async etcdStatus(nodes: string[]): Promise<(EtcdStatusRow & { node: string })[]> {
    const r = await this.run(['etcd', 'status'], { nodes })
    return Talosctl.tag(parseEtcdStatus(r.stdout), nodes)
  }

  /** The member list as `node` sees it. */
  async etcdMembers(node: string): Promise<(EtcdMemberRow & { node: string })[]> {
    const r = await this.run(['etcd', 'members'], { nodes: [node] })
    return Talosctl.tag(parseEtcdMembers(r.stdout), [node])
  }

  async etcdAlarms(nodes: string[]): Promise<(EtcdAlarmRow & { node: string })[]> {
    const r = await this.run(['etcd', 'alarm', 'list'], { nodes })
    return Talosctl.tag(parseEtcdAlarms(r.stdout), nodes)
  }

  /** `talosctl service` for all services, or `talosctl service <id>` (with its events) when id is given. */
  /**
   * `service [id]` on several nodes in one call, without failing for the ones that do not answer: apid reports them
   * per node (talosctl prints a WARNING and exits 0, or exits 1 when none answered). Node → why it did not answer.
   */
  async serviceEach(
    nodes: string[],
    id?: string,
  ): Promise<{ rows: (ServiceStatus & { node: string })[]; errors: Record<string, string> }> {
    const r = await this.run(['service', ...(id ? [id] : [])], { nodes, nothrow: true })
    if (r.timedOut) throw new CommandError({ ...r, context: this.describeNodes(nodes) })
    const rows = Talosctl.tag(parseService(r.stdout), nodes)
    return { rows, errors: unanswered(r, nodes, new Set(rows.map((x) => x.node))) }
  }

  /**
   * `service <id>` of each node: one call for all (apid reports each node's failure on its own); only when that call
   * hangs (a node that accepts and never answers holds it) or fails as a whole is each node asked alone. Node → its
   * status, or why it has none.
   */
  async serviceOfEach(nodes: string[], id: string): Promise<Map<string, ServiceStatus | Error>> {
    const out = new Map<string, ServiceStatus | Error>()
    if (nodes.length === 0) return out
    const batch = await this.serviceEach(nodes, id).catch(() => undefined)
    await Promise.all(
      nodes.map(async (node) => {
        const row = batch?.rows.find((r) => r.node === node)
        if (row) return out.set(node, row)
        if (batch) return out.set(node, new Error(batch.errors[node] ?? `${node} has no ${id} service`))
        const alone = await this.service([node], id).then(
          ([r]) => r ?? new Error(`${node} has no ${id} service`),
          (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
        )
        out.set(node, alone)
      }),
    )
    return out
  }

  /**
   * `get <type> [id] -o json` on several nodes in one call, keeping what the nodes that answered returned (talosctl
   * prints their resources and exits 1 when some node failed). Node → why it returned nothing, for the others.
   */
  async getEach<T = unknown>(
    type: string,
    nodes: string[],
    opts: { id?: string } = {},
  ): Promise<{ resources: TalosResource<T>[]; errors: Record<string, string> }> {
    const r = await this.run(['get', type, ...(opts.id ? [opts.id] : []), '-o', 'json'], { nodes, nothrow: true })
    if (r.timedOut) throw new CommandError({ ...r, context: this.describeNodes(nodes) })
    let resources: TalosResource<T>[]
    try {
      resources = Talosctl.tag(parseResources<T>(r.stdout), nodes)
    } catch (e) {
      throw new Error(`${r.command}: ${(e as Error).message}`, { cause: e })
    }
    return { resources, errors: unanswered(r, nodes, new Set(resources.map((x) => x.node))) }
  }

  async service(nodes: string[], id?: string): Promise<(ServiceStatus & { node: string })[]> {
    const r = await this.run(['service', ...(id ? [id] : [])], { nodes })
    return Talosctl.tag(parseService(r.stdout), nodes)
  }

  /** Server-side `talosctl health` run by `node`; its progress goes to stderr and is parsed from there. */
  async health(opts: HealthOptions): Promise<HealthResult> {
    const waitMs =
      typeof opts.waitTimeout === 'string' ? parseGoDuration(opts.waitTimeout) : (opts.waitTimeout ?? 600_000)
    const args = ['health', '--wait-timeout', formatGoDuration(waitMs)]
    if (opts.controlPlaneNodes?.length) args.push('--control-plane-nodes', opts.controlPlaneNodes.join(','))
    if (opts.workerNodes?.length) args.push('--worker-nodes', opts.workerNodes.join(','))
    const r = await this.run(args, { nodes: [opts.node], timeoutMs: waitMs + 30_000, nothrow: true })
    const report = parseHealth(r.stderr)
    const result: HealthResult = {
      ...report,
      ok: report.ok && r.exitCode === 0,
      exitCode: r.exitCode,
      command: r.command,
    }
    if ((r.exitCode !== 0 || r.timedOut) && !opts.nothrow) {
      const failing = report.checks.find((c) => c.status === 'error' || c.status === 'running')
      const detail = failing ? `${failing.name}: ${failing.message.split('\n').join(' ')}` : report.errors[0]
      throw new CommandError({ ...r, context: this.describeNodes([opts.node]), timeoutMs: waitMs + 30_000, detail })
    }
    return result
  }

  /** `talosctl containers`, with `-k` the CRI's (k8s.io) containers: pods' sandboxes and containers with their PIDs. */
  async containers(node: string, opts: { kubernetes?: boolean } = {}): Promise<ContainerRow[]> {
    const r = await this.run(['containers', ...(opts.kubernetes ? ['-k'] : [])], { nodes: [node] })
    return parseContainers(r.stdout)
  }

  /**
   * The names `talosctl ls DIR` lists below DIR on one node (machined List: the root ".", then its entries); [] when DIR
   * does not exist. Throws for any other failure.
   */
  async lsNames(node: string, dir: string): Promise<string[]> {
    const r = await this.run(['ls', dir], { nodes: [node], nothrow: true, quiet: true })
    if (r.exitCode !== 0 || r.timedOut) {
      if (/no such file or directory/.test(r.stderr)) return []
      throw new CommandError({ ...r, context: `talosctl ls ${dir} on ${node}` })
    }
    // cmd/talosctl/cmd/talos/list.go: "NODE NAME" goes through a tabwriter flushed at the end, while a row of an answer
    // without node metadata is printed at once (the header comes last); with metadata, each row is "NODE   NAME"
    return r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^NODE\s+NAME$/.test(l) && !/^WARNING: /.test(l))
      .map((l) => l.split(/\s{2,}|\t/).pop()!)
      .filter((name) => name !== '.')
  }

  async read(node: string, path: string): Promise<string> {
    return (await this.run(['read', path], { nodes: [node] })).stdout
  }

  /**
   * The kernel's boot ID, new at every boot: how `talosctl upgrade/reboot --wait` tell that the node went down and came
   * back (v1.10.3 cmd/talosctl/pkg/talos/action/tracker.go getBootID, BootIDChangedPostCheckFn).
   */
  async bootId(node: string): Promise<string> {
    return (await this.read(node, '/proc/sys/kernel/random/boot_id')).trim()
  }

  /** A file's content, or undefined when it does not exist (a sysfs file of an offline CPU). Throws for anything else. */
  async readOptional(node: string, path: string): Promise<string | undefined> {
    const r = await this.run(['read', path], { nodes: [node], nothrow: true, quiet: true })
    if (r.exitCode === 0 && !r.timedOut) return r.stdout
    if (!r.timedOut && readSaysMissing(r.stderr, path)) return undefined
    throw new CommandError({ ...r, context: `talosctl read ${path} on ${node}` })
  }

  /** Writes the admin kubeconfig to `path` (0600). merge defaults to false: talosctl's default merges into ~/.kube. */
  async kubeconfig(node: string, path: string, opts: { force?: boolean; merge?: boolean } = {}): Promise<RunResult> {
    const args = ['kubeconfig', path, `--merge=${opts.merge ?? false}`, ...(opts.force ? ['--force'] : [])]
    // it writes a local file: a dry run prints the command and writes nothing
    const r = await this.run(args, { nodes: [node], mutating: true })
    if (!r.skipped) await chmod(path, 0o600)
    return r
  }

  // ------------------------------------------------------------ mutating

  /** With dryRun, talosctl's own `--dry-run` reports what would change and nothing is applied. */
  applyConfig(
    node: string,
    file: string,
    opts: { insecure?: boolean; mode?: ApplyMode; dryRun?: boolean } = {},
  ): Promise<RunResult> {
    const args = [
      'apply-config',
      '--file',
      file,
      ...(opts.mode ? ['--mode', opts.mode] : []),
      ...(opts.dryRun ? ['--dry-run'] : []),
    ]
    return this.run(args, { nodes: [node], insecure: opts.insecure, mutating: !opts.dryRun })
  }

  /**
   * `talosctl bootstrap`; with recoverFrom, `--recover-from=FILE`: talosctl reads the snapshot's status locally, uploads
   * it and machined restores etcd from it (cmd/talosctl/cmd/talos/bootstrap.go at v1.10.3). `recoverSkipHashCheck` is
   * for a `db` file copied out of a data dir, which has no sha256 trailer.
   */
  bootstrap(node: string, opts: { recoverFrom?: string; recoverSkipHashCheck?: boolean } = {}): Promise<RunResult> {
    const args = [
      'bootstrap',
      ...(opts.recoverFrom ? [`--recover-from=${opts.recoverFrom}`] : []),
      ...(opts.recoverSkipHashCheck ? ['--recover-skip-hash-check'] : []),
    ]
    return this.run(args, { nodes: [node], mutating: true })
  }

  /**
   * `talosctl reset --system-labels-to-wipe EPHEMERAL --reboot --graceful=… --wait=false`: wipe /var (etcd's data dir
   * on a control plane) and reboot, keeping the machine config. graceful=false does not leave etcd first, the
   * disaster-recovery way (website/content/v1.10/advanced/disaster-recovery.md); --wait draws a progress UI, so
   * callers poll instead.
   */
  resetEphemeral(node: string, opts: { graceful: boolean; timeoutMs?: number }): Promise<RunResult> {
    const args = [
      'reset',
      '--system-labels-to-wipe',
      'EPHEMERAL',
      '--reboot',
      `--graceful=${opts.graceful}`,
      '--wait=false',
    ]
    return this.run(args, { nodes: [node], mutating: true, timeoutMs: opts.timeoutMs })
  }

  /** wait defaults to false: talosctl's own waiting draws a progress UI; runbooks poll instead. */
  reboot(
    nodes: string[],
    opts: { wait?: boolean; mode?: 'default' | 'powercycle'; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    const args = ['reboot', `--wait=${opts.wait ?? false}`, ...(opts.mode ? ['--mode', opts.mode] : [])]
    return this.run(args, { nodes, mutating: true, timeoutMs: opts.timeoutMs })
  }

  shutdown(nodes: string[], opts: { force?: boolean; wait?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    const args = ['shutdown', `--wait=${opts.wait ?? false}`, ...(opts.force ? ['--force'] : [])]
    return this.run(args, { nodes, mutating: true, timeoutMs: opts.timeoutMs })
  }

  /**
   * `talosctl etcd remove-member <ID>` through `node` (a healthy member): removes a member that cannot leave by itself
   * (a dead machine); Talos says to use it only then ("Always prefer etcd leave", cmd/talosctl/cmd/talos/etcd.go at
   * v1.10.3). ID is the hex ID `etcd members` prints (etcdresource.ParseMemberID).
   */
  etcdRemoveMember(node: string, id: string): Promise<RunResult> {
    return this.run(['etcd', 'remove-member', id], { nodes: [node], mutating: true })
  }

  /**
   * `talosctl upgrade --image IMAGE --wait=false`: the node installs IMAGE and reboots into it. --wait defaults to true
   * and draws talosctl's progress UI (cmd/talosctl/cmd/talos/track.go at v1.10.3); the runbook polls instead.
   * --preserve is hidden and false by default (upgrade.go); Talos v1.10 keeps the EPHEMERAL partition either way.
   */
  upgrade(node: string, image: string, opts: { timeoutMs?: number } = {}): Promise<RunResult> {
    return this.run(['upgrade', '--image', image, '--wait=false'], {
      nodes: [node],
      mutating: true,
      timeoutMs: opts.timeoutMs,
    })
  }

  /**
   * `talosctl upgrade-k8s --to VERSION` through one control-plane node; with dryRun its own `--dry-run` (which also
   * reports resources whose APIs the new version deprecates): nothing changes, though talosctl re-applies each control
   * plane's config unchanged (v1.10.3 pkg/cluster/kubernetes/talos_managed.go patchKubeProxy returns no error in a dry
   * run, so patch.go applies, mode no-reboot). Output (the plan) on stdout.
   * upgrade-k8s patches every node's machine config with the new images, and by default re-encodes it with every
   * field's documentation and commented examples (cmd/talosctl/cmd/talos/upgrade-k8s.go: --with-docs and
   * --with-examples default to true); off here, so each config stays as 02 rendered it, images aside.
   */
  upgradeK8s(node: string, to: string, opts: { dryRun?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    const args = [
      'upgrade-k8s',
      '--to',
      to,
      '--with-docs=false',
      '--with-examples=false',
      ...(opts.dryRun ? ['--dry-run'] : []),
    ]
    return this.run(args, { nodes: [node], mutating: !opts.dryRun, timeoutMs: opts.timeoutMs ?? 30 * 60_000 })
  }

  /** `talosctl rollback`: boot the previous (A/B) image again. */
  rollback(node: string): Promise<RunResult> {
    return this.run(['rollback'], { nodes: [node], mutating: true })
  }

  /** `talosctl etcd snapshot FILE` from one control-plane node; the file is made 0600 (it holds every secret). */
  async etcdSnapshot(node: string, file: string): Promise<RunResult> {
    const r = await this.run(['etcd', 'snapshot', file], { nodes: [node], mutating: true })
    if (!r.skipped) await chmod(file, 0o600)
    return r
  }

  /**
   * `talosctl gen secrets -o FILE`: the cluster's secrets bundle, 0600. `throwaway`: FILE is in a dry run's private temp
   * dir (a bundle to render configs with, never used by a node), so it is generated on --dry-run too.
   */
  async genSecrets(outFile: string, opts: { force?: boolean; throwaway?: boolean } = {}): Promise<RunResult> {
    const r = await this.run(['gen', 'secrets', '-o', outFile, ...(opts.force ? ['--force'] : [])], {
      local: true,
      mutating: !opts.throwaway,
    })
    if (!r.skipped) await chmod(outFile, 0o600)
    return r
  }

  /**
   * A talosconfig for an existing secrets bundle: `gen config --with-secrets F --output-types talosconfig -o FILE`,
   * then `config endpoint` / `config node` on it (gen config writes it 0644; it is made 0600).
   */
  async genTalosconfig(o: {
    cluster: string
    /** The Kubernetes API URL, https://host:6443 (gen config requires it even for a talosconfig). */
    endpoint: string
    secrets: string
    outFile: string
    endpoints?: string[]
    nodes?: string[]
    force?: boolean
  }): Promise<RunResult[]> {
    const results = [
      await this.run(
        [
          'gen',
          'config',
          o.cluster,
          o.endpoint,
          '--with-secrets',
          o.secrets,
          '--output-types',
          'talosconfig',
          '-o',
          o.outFile,
          ...(o.force ? ['--force'] : []),
        ],
        { local: true, mutating: true },
      ),
    ]
    if (o.endpoints?.length) {
      results.push(
        await this.run(['--talosconfig', o.outFile, 'config', 'endpoint', ...o.endpoints], {
          local: true,
          mutating: true,
        }),
      )
    }
    if (o.nodes?.length) {
      results.push(
        await this.run(['--talosconfig', o.outFile, 'config', 'node', ...o.nodes], { local: true, mutating: true }),
      )
    }
    if (!results[0]!.skipped) await chmod(o.outFile, 0o600)
    return results
  }
}

/**
 * `talosctl read PATH` failed because the file is not there. machined's Read answers os.IsNotExist with codes.NotFound
 * (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:1347-1351 at v1.10.3); talosctl's own complaints
 * (a missing talosconfig: "failed to open config file ...: no such file or directory") name another path.
 */
export function readSaysMissing(stderr: string, path: string): boolean {
  return /code = NotFound/.test(stderr) || stderr.includes(`${path}: no such file or directory`)
}
