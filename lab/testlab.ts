// Test fixture for the lab: a throw-away lab dir with N machines in maintenance mode on a loopback range, served by
// the lab's machine API daemon (the machine model, lab/machine-api/) and its Talos API server (lab/talos-api/), and
// driven by the REAL talosctl v1.10.3 (lab/go-builds.ts realTalosctl): its `gen secrets` and `gen config` make the
// PKI, the talosconfig and the base machine configs, and every test command is that binary with the lab's talosconfig.
import { spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseDocument, stringify } from 'yaml'
import { renderNodeSchematic } from '../config/render.ts'
import type { Inventory } from '../config/inventory.ts'
import { factoryInstallerImage } from '../lib/talos/schematic.ts'
import { registerSchematic } from './factory.ts'
import { EtcdClient } from './etcd-client.ts'
import { cacheDir, realTalosctl } from './go-builds.ts'
import { hardwareProfile } from './hardware.ts'
import { killGroup, portOpen, stopPid } from './processes.ts'
import { createSysroot } from './sysroot.ts'
import { type LabCluster, type LabNode, type Role } from './state.ts'
import { startKubelets, startMachineApiDaemon, startTalosApi } from './daemons.ts'

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** What a test adds to the machine config `gen config` made for a role. */
export interface ConfigExtras {
  sysctls?: Record<string, string>
  modules?: string[]
  extraKernelArgs?: string[]
  labels?: Record<string, string>
  /** UserVolumeConfig documents; `match` is the CEL disk selector (e.g. `disk.transport == "nvme"`). */
  userVolumes?: { name: string; match: string }[]
}

export interface TestLab {
  dir: string
  /** The environment of every talosctl the lab runs: TALOSCONFIG, TALOS_LAB_DIR and a HOME of its own. */
  env: NodeJS.ProcessEnv
  /** The real talosctl binary. */
  talosctl: string
  secretsFile: string
  talosconfig: string
  nodes: { name: string; address: string; role: Role }[]
  run(args: string[], opts?: { env?: NodeJS.ProcessEnv }): Promise<RunResult>
  node(name: string): LabNode
  /** A client of the machine's etcd with the admin certificate its etcd service was started with (as machined's). */
  etcd(name: string, timeoutMs?: number): EtcdClient
  update(name: string, fn: (n: LabNode) => void): void
  /** The machine config of `gen config` for the role, with the extras set. */
  renderConfig(role: Role, extra?: ConfigExtras): string
  /**
   * Installs a machine in maintenance mode as an operator does (`apply-config --insecure`), then waits until it
   * answers its authenticated API: machined takes the config and installs after it answered
   * (internal/app/maintenance/server.go ApplyConfiguration). Throws with talosctl's stderr when it refuses.
   */
  install(name: string, config: string): Promise<void>
  /**
   * What the lab knows of a machine that did not answer as expected, for an assertion's message: its stage, power
   * and faults, and the Talos API server's last log lines (when it stopped and started serving each machine).
   */
  explain(name: string): string
  /** POST /schematics to this lab's Image Factory, as an operator (or 01/09) does; the schematic's ID. */
  registerSchematic(yaml: string): Promise<string>
  /**
   * The installer image of the validator's schematic rendered from `inv`, registered with this lab's factory (which
   * must compute the same ID as the product).
   */
  validatorInstaller(inv: Inventory): Promise<string>
  /** Resolves once ok() is true; throws naming `what` after timeoutMs. */
  until(what: string, ok: () => Promise<boolean> | boolean, timeoutMs?: number): Promise<void>
  /**
   * Gives machine `name` the lab validator's hardware (validator-2socket: two sockets, SMT, NVMe drives, two NIC
   * ports), UEFI firmware (kernel args only from the installer's schematic), install disk /dev/nvme0n1 and a fresh
   * rescue sysroot for that hardware; `set` adjusts the node further. Before its install.
   */
  useValidatorHardware(name: string, set?: (n: LabNode) => void): void
  /** The machine's boot id read through its API (what talosctl's --wait compares); undefined while it does not answer. */
  bootId(address: string): Promise<string | undefined>
  /**
   * Resolves once the machine answers on a boot other than `before` (a reboot, an upgrade, an apply that reboots:
   * machined answers the call before it goes down). Default 90 s.
   */
  waitNewBoot(address: string, before: string, timeoutMs?: number): Promise<void>
  /** `talosctl service <id>` STATE on the machine (Running, Preparing, Waiting, …); undefined when it does not answer. */
  serviceState(address: string, id: string): Promise<string | undefined>
  cleanup(): Promise<void>
}

/**
 * Whether a `talosctl -n a,b version` answered for every node: talosctl exits 0 when at least one node answered and
 * only warns about the others (a go-multierror on stderr), so the exit code alone does not say all of them did.
 */
export const versionFromAll = (r: RunResult, nodes: string[]): boolean =>
  r.code === 0 && nodes.every((n) => new RegExp(`NODE:\\s+${n.replaceAll('.', '\\.')}\\s`).test(r.stdout))

export function runBinary(bin: string, args: string[], env: NodeJS.ProcessEnv, cwd = tmpdir()): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { env, cwd })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
}

/**
 * Poll `fn` until it returns a value (anything but undefined or false), or throw naming what it waited for. The
 * first retry comes after 100 ms, each next one 1.5× later, at most 1 s apart: most polls start talosctl or kubectl
 * (0.2–0.3 s of CPU each), and at a fixed 100 ms a wait of a minute kept a core of the 2-core CI machine busy.
 */
export async function pollUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (let pause = 100; ; pause = Math.min(1000, pause * 1.5)) {
    const v = await fn()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, pause))
  }
}

async function until(what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  await pollUntil(what, ok, timeoutMs)
}

/**
 * Runs fn with these variables in process.env ($TALOS_LAB_DIR: the lab's modules find their state, and the
 * processes they start inherit them), then puts the environment back.
 */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k]
      else process.env[k] = x
    }
  }
  set(vars)
  try {
    return await fn()
  } finally {
    set(saved)
  }
}

function labMachines(prefix: string, controlPlanes: number, workers: number) {
  return [
    ...Array.from({ length: controlPlanes }, (_, i) => ({
      name: `cp${i + 1}`,
      address: `${prefix}.${11 + i}`,
      role: 'controlplane' as Role,
    })),
    ...Array.from({ length: workers }, (_, i) => ({
      name: `w${i + 1}`,
      address: `${prefix}.${21 + i}`,
      role: 'worker' as Role,
    })),
  ]
}

/** lab.json and one machine per node, booted into Talos maintenance mode from its ISO (no config, rescue cmdline). */
function writeLabState(dir: string, cluster: LabCluster, nodes: TestLab['nodes'], kubernetes: boolean): void {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'lab.json'), JSON.stringify(cluster, null, 2))
  const rescue = 'console=ttyS0 rescue'
  for (const n of nodes) {
    const hw = hardwareProfile(n.role === 'controlplane' ? 'controlplane' : 'worker')
    const node: LabNode = {
      name: n.name,
      address: n.address,
      role: n.role,
      stage: 'maintenance',
      talosVersion: 'v1.10.3',
      hardware: hw,
      installDisk: hw.disks[0].dev,
      cmdline: rescue,
      configVersion: 0,
      bootstrapped: false,
      etcd: { clientUrl: `https://${n.address}:2379`, peerUrl: `https://${n.address}:2380` },
      kubeApi: { url: `https://${n.address}:6443` },
      // Kubernetes is not under test here: keep it stopped so bootstrap exercises etcd only
      faults: kubernetes ? {} : { apiDown: true },
      bootedAt: new Date().toISOString(),
    }
    mkdirSync(join(dir, 'nodes', n.name), { recursive: true })
    writeFileSync(join(dir, 'nodes', n.name, 'node.json'), JSON.stringify(node, null, 2))
    createSysroot(join(dir, 'nodes', n.name, 'root'), hw, { cmdline: rescue, hostname: n.name })
  }
}

/** A config of `gen config` with the extras set in place (comments and key order kept) and user volumes appended. */
function withExtras(base: string, extra: ConfigExtras): string {
  const doc = parseDocument(base)
  if (extra.sysctls) doc.setIn(['machine', 'sysctls'], extra.sysctls)
  if (extra.modules)
    doc.setIn(
      ['machine', 'kernel', 'modules'],
      extra.modules.map((name) => ({ name })),
    )
  if (extra.extraKernelArgs) doc.setIn(['machine', 'install', 'extraKernelArgs'], extra.extraKernelArgs)
  if (extra.labels) doc.setIn(['machine', 'nodeLabels'], extra.labels)
  const volumes = (extra.userVolumes ?? []).map((u) =>
    stringify({
      apiVersion: 'v1alpha1',
      kind: 'UserVolumeConfig',
      name: u.name,
      provisioning: { diskSelector: { match: u.match }, minSize: '1GiB' },
      filesystem: { type: 'xfs' },
    }),
  )
  return [String(doc), ...volumes].join('---\n')
}

export async function createTestLab(opts: {
  prefix: string
  controlPlanes: number
  workers: number
  cluster?: string
  /** The cluster endpoint (default: the first node's address, so no VIP is elected). */
  endpoint?: string
  /** How long a cold pull of an installer image takes (lab/registry.ts; default: the lab's simulated link speed). */
  imagePullMs?: number
  /**
   * How long a control plane's etcd with an empty data dir waits to join before it fails (lab/node-services.ts
   * etcdJoinTimeoutMs; default Talos's 30 minutes).
   */
  etcdJoinTimeoutMs?: number
  /** How long after each boot the CRI is up and the clock synchronised (lab/node-services.ts criUpAt, timeSyncedAt). */
  criUpMs?: number
  timeSyncMs?: number
  /**
   * Run Kubernetes: the real control plane once etcd is up (lab/real-kube-node.ts) and the kubelet agents
   * (lab/real-kubelets.ts). Default: kept stopped, so bootstrap exercises etcd only.
   */
  kubernetes?: boolean
}): Promise<TestLab> {
  const talosctl = realTalosctl()
  const dir = mkdtempSync(join(tmpdir(), 'talos-lab-'))
  const clusterName = opts.cluster ?? 'testlab'
  const secretsFile = join(dir, 'secrets.yaml')
  const talosconfig = join(dir, 'talosconfig')
  const genDir = join(dir, 'testlab-gen')
  // a HOME of its own (talosctl's config and caches), the built binaries of this one (the lab CLI's heal starts etcd,
  // whose certificates talos-api issues)
  const home = { HOME: dir, TALOS_RUNBOOKS_CACHE: cacheDir() }
  const env: NodeJS.ProcessEnv = { ...process.env, TALOS_LAB_DIR: dir, TALOSCONFIG: talosconfig, ...home }
  const joinTimeout =
    opts.etcdJoinTimeoutMs === undefined ? process.env.TALOS_LAB_ETCD_JOIN_TIMEOUT_MS : String(opts.etcdJoinTimeoutMs)
  // the lab CLI (heal, fault) reconciles etcd too: it must see the same join timeout as the daemons
  if (joinTimeout !== undefined) env.TALOS_LAB_ETCD_JOIN_TIMEOUT_MS = joinTimeout
  const nodes = labMachines(opts.prefix, opts.controlPlanes, opts.workers)
  const cluster: LabCluster = {
    name: clusterName,
    inventory: 'test',
    endpoint: opts.endpoint ?? `https://${nodes[0].address}:6443`,
    createdAt: new Date().toISOString(),
    nodes: nodes.map((n) => n.name),
    processes: [],
  }
  writeLabState(dir, cluster, nodes, !!opts.kubernetes)

  const talos = async (...args: string[]) => {
    const r = await runBinary(talosctl, args, env)
    if (r.code !== 0) throw new Error(`talosctl ${args.join(' ')} failed: ${r.stderr}`)
  }
  await talos('gen', 'secrets', '-o', secretsFile)
  await talos(
    'gen',
    'config',
    clusterName,
    cluster.endpoint,
    '--with-secrets',
    secretsFile,
    '--with-docs=false',
    '--with-examples=false',
    '-o',
    genDir,
  )
  // the talosconfig points at the first control plane, as an operator's does after `talosctl config endpoint/node`
  copyFileSync(join(genDir, 'talosconfig'), talosconfig)
  await talos('--talosconfig', talosconfig, 'config', 'endpoint', nodes[0].address)
  await talos('--talosconfig', talosconfig, 'config', 'node', nodes[0].address)
  const base = {
    controlplane: readFileSync(join(genDir, 'controlplane.yaml'), 'utf8'),
    worker: readFileSync(join(genDir, 'worker.yaml'), 'utf8'),
  }

  const lab: TestLab = {
    dir,
    env,
    talosctl,
    secretsFile,
    talosconfig,
    nodes,
    run: (args, o) => runBinary(talosctl, args, { ...env, ...(o?.env ?? {}) }),
    node: (name) => JSON.parse(readFileSync(join(dir, 'nodes', name, 'node.json'), 'utf8')),
    etcd: (name, timeoutMs) =>
      new EtcdClient(lab.node(name).etcd.clientUrl, join(dir, 'nodes', name, 'etcd-pki'), timeoutMs),
    update: (name, fn) => {
      const f = join(dir, 'nodes', name, 'node.json')
      const n = JSON.parse(readFileSync(f, 'utf8'))
      fn(n)
      writeFileSync(f, JSON.stringify(n, null, 2))
    },
    renderConfig: (role, extra = {}) => withExtras(base[role], extra),
    install: async (name, config) => {
      const address = nodes.find((n) => n.name === name)!.address
      const f = join(dir, `${name}-install.yaml`)
      writeFileSync(f, config, { mode: 0o600 })
      const r = await lab.run(['-n', address, 'apply-config', '--insecure', '-f', f])
      if (r.code !== 0) throw new Error(`apply-config --insecure on ${name} failed: ${r.stderr}`)
      await until(
        `${name} answering its authenticated API`,
        async () => (await lab.run(['-e', address, '-n', address, 'version'])).code === 0,
        60_000,
      )
    },
    explain: (name) => {
      let state = `${name}: no state`
      try {
        const n = lab.node(name)
        state = `${name}: stage ${n.stage}, power ${n.power ?? 'on'}, faults ${JSON.stringify(n.faults)}`
      } catch {}
      let log = '(no talos-api.log)'
      try {
        const lines = readFileSync(join(dir, 'talos-api.log'), 'utf8').trim().split('\n')
        // a Go panic or fatal error (grpc-go does not recover a handler's panic: the whole server stops) starts its
        // long goroutine dump with the cause, which the last lines would miss
        const crash = lines.findIndex((l) => /^(panic: |fatal error: )/.test(l))
        log = crash >= 0 ? lines.slice(Math.max(0, crash - 5), crash + 25).join('\n') : lines.slice(-20).join('\n')
      } catch {}
      return `${state}\ntalos-api.log, ${/^(panic: |fatal error: )/m.test(log) ? 'where it crashed' : 'last lines'}:\n${log}`
    },
    registerSchematic: (yaml) => withEnv({ TALOS_LAB_DIR: dir }, async () => registerSchematic(yaml)),
    validatorInstaller: async (inv) => {
      const { yaml, id } = renderNodeSchematic(
        inv,
        inv.nodes.find((n) => n.profile === 'validator')!,
      )
      const registered = await lab.registerSchematic(yaml)
      if (registered !== id) throw new Error(`the lab's factory computed schematic ${registered}, the product ${id}`)
      return factoryInstallerImage(id, inv.cluster.talosVersion)
    },
    until,
    useValidatorHardware: (name, set) => {
      const hw = hardwareProfile('validator-2socket')
      lab.update(name, (n) => {
        n.hardware = hw
        n.installDisk = '/dev/nvme0n1'
        n.firmware = 'uefi'
        set?.(n)
      })
      createSysroot(join(dir, 'nodes', name, 'root'), hw, { cmdline: 'console=ttyS0 rescue', hostname: name })
    },
    bootId: async (address) => {
      const r = await lab.run(['-n', address, 'read', '/proc/sys/kernel/random/boot_id'])
      return r.code === 0 ? r.stdout.trim() : undefined
    },
    waitNewBoot: (address, before, timeoutMs = 90_000) =>
      until(
        `${address} back on a new boot`,
        async () => {
          const now = await lab.bootId(address)
          return now !== undefined && now !== before
        },
        timeoutMs,
      ),
    serviceState: async (address, id) =>
      /STATE\s+(\w+)/.exec((await lab.run(['-n', address, 'service', id])).stdout)?.[1],
    cleanup: async () => {
      try {
        const c = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as LabCluster
        for (const p of c.processes) (await stopPid(p.pid, 2000, 'SIGKILL'), killGroup(p.pid))
      } catch {}
      for (const n of nodes) {
        try {
          const s = lab.node(n.name)
          await stopPid(s.etcd.pid, 2000, 'SIGKILL')
          await stopPid(s.kubeApi.pid, 2000, 'SIGKILL')
          killGroup(s.kubeApi.pid)
        } catch {}
      }
      // TALOS_TEST_KEEP_LABS=1 keeps a test's lab directory (its logs) for a look after a failure
      if (process.env.TALOS_TEST_KEEP_LABS !== '1') rmSync(dir, { recursive: true, force: true })
      else console.error(`kept ${dir}`)
    },
  }
  try {
    const pull = opts.imagePullMs === undefined ? process.env.TALOS_LAB_IMAGE_PULL_MS : String(opts.imagePullMs)
    await withEnv(
      {
        TALOS_LAB_DIR: dir,
        TALOS_LAB_IMAGE_PULL_MS: pull,
        TALOS_LAB_ETCD_JOIN_TIMEOUT_MS: joinTimeout,
        TALOS_LAB_CRI_UP_MS: opts.criUpMs === undefined ? process.env.TALOS_LAB_CRI_UP_MS : String(opts.criUpMs),
        TALOS_LAB_TIME_SYNC_MS:
          opts.timeSyncMs === undefined ? process.env.TALOS_LAB_TIME_SYNC_MS : String(opts.timeSyncMs),
      },
      async () => {
        await startMachineApiDaemon()
        await startTalosApi()
        if (opts.kubernetes) startKubelets()
      },
    )
    await until('every machine listening on :50000', async () =>
      (await Promise.all(nodes.map((n) => portOpen(n.address, 50000)))).every(Boolean),
    )
  } catch (e) {
    await lab.cleanup()
    throw e
  }
  return lab
}
