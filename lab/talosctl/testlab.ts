// Test fixture for the lab talosctl: a throw-away lab dir with N nodes in maintenance mode on a loopback range,
// real PKI from `talosctl gen secrets`, a talosconfig from `gen config`, minimal v1alpha1 configs, and a runner
// that drives lab/bin/talosctl as a child process. Used by test/lab/talosctl-cli.test.ts and etcd-cluster.test.ts.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml, stringify } from 'yaml'
import { hardwareProfile } from '../hardware.ts'
import { createSysroot } from '../sysroot.ts'
import { stopPid } from '../processes.ts'
import { REPO_ROOT, type LabCluster, type LabNode, type Role } from '../state.ts'

export const TALOSCTL = join(REPO_ROOT, 'lab/bin/talosctl')

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export interface TestLab {
  dir: string
  env: NodeJS.ProcessEnv
  secretsFile: string
  talosconfig: string
  nodes: { name: string; address: string; role: Role }[]
  run(args: string[], opts?: { env?: NodeJS.ProcessEnv }): Promise<RunResult>
  node(name: string): LabNode
  update(name: string, fn: (n: LabNode) => void): void
  renderConfig(
    role: Role,
    extra?: {
      sysctls?: Record<string, string>
      modules?: string[]
      extraKernelArgs?: string[]
      labels?: Record<string, string>
      userVolumes?: { name: string; match: string }[]
    },
  ): string
  cleanup(): Promise<void>
}

export function runTalosctl(args: string[], env: NodeJS.ProcessEnv, cwd = tmpdir()): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(TALOSCTL, args, { env, cwd })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
}

export async function createTestLab(opts: {
  prefix: string
  controlPlanes: number
  workers: number
  cluster?: string
  /** The cluster endpoint (default: the first node's address, so no VIP is elected). */
  endpoint?: string
  /** Run the lab API servers once etcd is up (default: kept stopped, so bootstrap exercises etcd only). */
  kubeApi?: boolean
}): Promise<TestLab> {
  const dir = mkdtempSync(join(tmpdir(), 'talosctl-lab-'))
  const clusterName = opts.cluster ?? 'testlab'
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TALOS_LAB_DIR: dir,
    TALOSCONFIG: join(dir, 'talosconfig'),
    HOME: dir,
  }
  const nodes = [
    ...Array.from({ length: opts.controlPlanes }, (_, i) => ({
      name: `cp${i + 1}`,
      address: `${opts.prefix}.${11 + i}`,
      role: 'controlplane' as Role,
    })),
    ...Array.from({ length: opts.workers }, (_, i) => ({
      name: `w${i + 1}`,
      address: `${opts.prefix}.${21 + i}`,
      role: 'worker' as Role,
    })),
  ]
  const cluster: LabCluster = {
    name: clusterName,
    inventory: 'test',
    endpoint: opts.endpoint ?? `https://${nodes[0].address}:6443`,
    createdAt: new Date().toISOString(),
    nodes: nodes.map((n) => n.name),
    processes: [],
  }
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
      etcd: { clientUrl: `http://${n.address}:2379`, peerUrl: `http://${n.address}:2380` },
      kubeApi: { url: `https://${n.address}:6443` },
      // the lab API server is not under test here: keep it stopped so bootstrap exercises etcd only
      faults: opts.kubeApi ? {} : { apiDown: true },
      bootedAt: new Date().toISOString(),
    }
    mkdirSync(join(dir, 'nodes', n.name), { recursive: true })
    writeFileSync(join(dir, 'nodes', n.name, 'node.json'), JSON.stringify(node, null, 2))
    createSysroot(join(dir, 'nodes', n.name, 'root'), hw, { cmdline: rescue, hostname: n.name })
  }
  const secretsFile = join(dir, 'secrets.yaml')
  const talosconfig = join(dir, 'talosconfig')
  const g = await runTalosctl(['gen', 'secrets', '-o', secretsFile], env)
  if (g.code !== 0) throw new Error(`gen secrets failed: ${g.stderr}`)
  const c = await runTalosctl(
    [
      'gen',
      'config',
      clusterName,
      cluster.endpoint,
      '--with-secrets',
      secretsFile,
      '--output-types',
      'talosconfig',
      '-o',
      talosconfig,
      '-e',
      nodes[0].address,
      '-n',
      nodes[0].address,
    ],
    env,
  )
  if (c.code !== 0) throw new Error(`gen config failed: ${c.stderr}`)
  const bundle = parseYaml(readFileSync(secretsFile, 'utf8'))

  const lab: TestLab = {
    dir,
    env,
    secretsFile,
    talosconfig,
    nodes,
    run: (args, o) => runTalosctl(args, { ...env, ...(o?.env ?? {}) }),
    node: (name) => JSON.parse(readFileSync(join(dir, 'nodes', name, 'node.json'), 'utf8')),
    update: (name, fn) => {
      const f = join(dir, 'nodes', name, 'node.json')
      const n = JSON.parse(readFileSync(f, 'utf8'))
      fn(n)
      writeFileSync(f, JSON.stringify(n, null, 2))
    },
    renderConfig: (role, extra = {}) => {
      const v1 = {
        version: 'v1alpha1',
        machine: {
          type: role,
          token: bundle.trustdinfo.token,
          ca: { crt: bundle.certs.os.crt, key: role === 'controlplane' ? bundle.certs.os.key : '' },
          install: {
            disk: '/dev/sda',
            image: 'ghcr.io/siderolabs/installer:v1.10.3',
            extraKernelArgs: extra.extraKernelArgs ?? [],
          },
          sysctls: extra.sysctls ?? {},
          kernel: { modules: (extra.modules ?? []).map((name) => ({ name })) },
          nodeLabels: extra.labels ?? {},
        },
        cluster: {
          clusterName,
          controlPlane: { endpoint: cluster.endpoint },
          ca: { crt: bundle.certs.k8s.crt, key: bundle.certs.k8s.key },
          token: bundle.secrets.bootstraptoken,
        },
      }
      const docs = [
        v1,
        ...(extra.userVolumes ?? []).map((u) => ({
          apiVersion: 'v1alpha1',
          kind: 'UserVolumeConfig',
          name: u.name,
          provisioning: { diskSelector: { match: u.match }, minSize: '1GiB' },
          filesystem: { type: 'xfs' },
        })),
      ]
      return docs.map((d) => stringify(d)).join('---\n')
    },
    cleanup: async () => {
      for (const n of nodes) {
        try {
          const s = lab.node(n.name)
          await stopPid(s.etcd.pid, 2000, 'SIGKILL')
          await stopPid(s.kubeApi.pid, 2000, 'SIGKILL')
        } catch {}
      }
      try {
        const c2 = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as LabCluster
        for (const p of c2.processes) await stopPid(p.pid, 2000, 'SIGKILL')
      } catch {}
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return lab
}
