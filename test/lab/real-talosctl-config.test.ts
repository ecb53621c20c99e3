// The real talosctl v1.10.3 against the lab's Talos API server (lab/talos-api) on a cluster configured with the real
// `talosctl gen config`: apply-config in each mode and patch (machined's ApplyConfiguration with Talos's own
// validation), logs, the server-side health check, and etcd backup and recovery (EtcdSnapshot, EtcdRecover,
// Bootstrap with recover_etcd). Each test states what a real machine does, with the source that says so.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createTestLab, versionFromAll, type TestLab } from '../../lab/testlab.ts'
import { portOpen } from '../../lab/processes.ts'
import { wipeEtcdData } from '../../lab/etcd-recovery.ts'
import { healNode, injectFault } from '../../lab/faults.ts'
import { rebootNode } from '../../lab/machine-power.ts'
import { labBinary } from '../../lab/tools.ts'
import { manifestObjects } from '../../lab/manifest-objects.ts'
import { renderBootstrapManifests } from '../../lab/control-plane.ts'
import { talosApiBinary } from '../../lab/go-builds.ts'
import { paths } from '../../lab/state.ts'

const P = '127.0.55'
const CP = `${P}.11`
const W = `${P}.21`
const exec = promisify(execFile)
let lab: TestLab

const etcd = () => lab.etcd('cp1', 3000)
const patch = (v: unknown) => JSON.stringify(v)

describe('the real talosctl: apply-config, patch, logs, health, etcd backup and recovery', { timeout: 420_000 }, () => {
  const saved = process.env.TALOS_LAB_DIR
  let gen: string
  const as = (args: string[]) => lab.run(['--talosconfig', join(gen, 'talosconfig'), '-e', CP, ...args])
  const workerYaml = () => join(gen, 'worker.yaml')
  /** What the worker runs and has saved, as `get machineconfig` shows them. */
  const machineConfig = async (id: 'v1alpha1' | 'persistent') => {
    const r = await as(['-n', W, 'get', 'machineconfig', id, '-o', 'yaml'])
    assert.equal(r.code, 0, r.stderr)
    return r.stdout
  }
  const swappiness = async () => (await as(['-n', W, 'read', '/proc/sys/vm/swappiness'])).stdout.trim()
  const bootedAt = () => lab.node('w1').bootedAt

  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1, cluster: 'cfgtest', kubernetes: true })
    process.env.TALOS_LAB_DIR = lab.dir
    await lab.until('the maintenance API', () => portOpen(CP, 50000))
    gen = join(lab.dir, 'gen')
    const secrets = join(lab.dir, 'real-secrets.yaml')
    assert.equal((await lab.run(['gen', 'secrets', '-o', secrets])).code, 0)
    const g = await lab.run(['gen', 'config', 'cfgtest', `https://${CP}:6443`, '--with-secrets', secrets, '-o', gen])
    assert.equal(g.code, 0, g.stderr)
    for (const [addr, file] of [
      [CP, 'controlplane.yaml'],
      [W, 'worker.yaml'],
    ] as const) {
      const a = await lab.run(['apply-config', '--insecure', '-n', addr, '--file', join(gen, file)])
      assert.equal(a.code, 0, a.stderr)
    }
    await lab.until(
      'both machines configured',
      async () => versionFromAll(await as(['-n', `${CP},${W}`, 'version']), [CP, W]),
      60_000,
    )
    const b = await as(['-n', CP, 'bootstrap'])
    assert.equal(b.code, 0, b.stderr)
    await lab.until('etcd', async () => (await as(['-n', CP, 'etcd', 'status'])).code === 0, 60_000)
  })
  after(async () => {
    await lab?.cleanup()
    if (saved === undefined) delete process.env.TALOS_LAB_DIR
    else process.env.TALOS_LAB_DIR = saved
  })

  it('--dry-run prints the mode and the config diff, and changes nothing (v1alpha1_server.go generateDiff)', async () => {
    const before = readFileSync(join(lab.dir, 'nodes/w1/config.yaml'), 'utf8')
    const swap = await swappiness()
    const r = await as([
      '-n',
      W,
      'apply-config',
      '--file',
      workerYaml(),
      '--config-patch',
      patch({ machine: { sysctls: { 'vm.swappiness': '7' } } }),
      '--dry-run',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stderr,
      /^Dry run summary:\nApplied configuration without a reboot \(skipped in dry-run\)\.\nConfig diff:\n\n--- a\n\+\+\+ b\n/,
    )
    assert.match(r.stderr, /^\+\s+sysctls:\n\+\s+vm\.swappiness: "7"$/m)
    assert.equal(readFileSync(join(lab.dir, 'nodes/w1/config.yaml'), 'utf8'), before)
    assert.equal(await swappiness(), swap)
  })

  it('auto applies a sysctl change live: no reboot, the sysctl set (CanApplyImmediate: .machine.sysctls)', async () => {
    const booted = bootedAt()
    const r = await as([
      '-n',
      W,
      'apply-config',
      '--file',
      workerYaml(),
      '--config-patch',
      patch({ machine: { sysctls: { 'vm.swappiness': '7' } } }),
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr.trim(), 'Applied configuration without a reboot')
    assert.equal(await swappiness(), '7')
    assert.equal(bootedAt(), booted)
    assert.match(await machineConfig('v1alpha1'), /vm\.swappiness: "7"/)
    assert.match(await machineConfig('persistent'), /vm\.swappiness: "7"/)
  })

  it("a config Talos refuses is refused with Talos's validation message, nothing applied", async () => {
    const before = readFileSync(join(lab.dir, 'nodes/w1/config.yaml'), 'utf8')
    const r = await as([
      '-n',
      W,
      'apply-config',
      '--file',
      workerYaml(),
      '--config-patch',
      patch({ machine: { kubelet: { nodeIP: { validSubnets: ['10.0.0.0/33'] } } } }),
    ])
    assert.equal(r.code, 1, r.stdout)
    assert.match(r.stderr, /error applying new configuration: .*code = InvalidArgument desc = 1 error occurred:/s)
    // v1alpha1_validation.go KubeletConfig.Validate; the lab's own reading of a config does not check it
    assert.match(r.stderr, /kubelet nodeIP subnet is not valid: "10\.0\.0\.0\/33"/)
    assert.equal(readFileSync(join(lab.dir, 'nodes/w1/config.yaml'), 'utf8'), before)
  })

  it('no-reboot refuses a change that needs a reboot, with the part that does as a diff', async () => {
    const before = readFileSync(join(lab.dir, 'nodes/w1/config.yaml'), 'utf8')
    const r = await as([
      '-n',
      W,
      'apply-config',
      '--file',
      workerYaml(),
      '--config-patch',
      patch({ machine: { env: { LAB_FOO: 'bar' } } }),
      '--mode',
      'no-reboot',
    ])
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      /code = InvalidArgument desc = this config change can't be applied in immediate mode\ndiff:\n--- a\n\+\+\+ b\n/,
    )
    assert.match(r.stderr, /^\+\s+LAB_FOO: bar$/m)
    // the sysctl changed too, but it is a live section: the diff shows it as context, unchanged
    assert.doesNotMatch(r.stderr, /^[+-].*swappiness/m)
    assert.equal(readFileSync(join(lab.dir, 'nodes/w1/config.yaml'), 'utf8'), before)
  })

  it('staged: saved as the persistent config, not running; the next reboot runs it', async () => {
    const r = await as([
      '-n',
      W,
      'apply-config',
      '--file',
      workerYaml(),
      '--config-patch',
      patch({ machine: { env: { LAB_FOO: 'staged' }, sysctls: { 'vm.swappiness': '7' } } }),
      '--mode',
      'staged',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr.trim(), 'Staged configuration to be applied after the next reboot')
    assert.doesNotMatch(await machineConfig('v1alpha1'), /LAB_FOO/)
    assert.match(await machineConfig('persistent'), /LAB_FOO: staged/)
    await rebootNode('w1')
    await lab.until('the worker back', async () => (await as(['-n', W, 'version'])).code === 0)
    assert.match(await machineConfig('v1alpha1'), /LAB_FOO: staged/)
  })

  it('auto with a change that needs a reboot reboots and says why (mode details + CanApplyImmediate error)', async () => {
    const booted = bootedAt()
    const r = await as([
      '-n',
      W,
      'apply-config',
      '--file',
      workerYaml(),
      '--config-patch',
      patch({ machine: { env: { LAB_FOO: 'auto' }, sysctls: { 'vm.swappiness': '7' } } }),
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stderr,
      /^Applied configuration with a reboot: this config change can't be applied in immediate mode\ndiff:\n/,
    )
    assert.match(r.stderr, /^-\s+LAB_FOO: staged\n\+\s+LAB_FOO: auto$/m)
    await lab.until('the worker rebooted', async () => bootedAt() !== booted && lab.node('w1').stage === 'running')
    await lab.until('the worker back', async () => (await as(['-n', W, 'version'])).code === 0)
    assert.match(await machineConfig('v1alpha1'), /LAB_FOO: auto/)
  })

  it('reboot mode reboots for a change that could apply live', async () => {
    const booted = bootedAt()
    const r = await as([
      '-n',
      W,
      'apply-config',
      '--file',
      workerYaml(),
      '--config-patch',
      patch({ machine: { env: { LAB_FOO: 'auto' }, sysctls: { 'vm.swappiness': '9' } } }),
      '--mode',
      'reboot',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr.trim(), 'Applied configuration with a reboot')
    await lab.until('the worker rebooted', async () => bootedAt() !== booted && lab.node('w1').stage === 'running')
    await lab.until('the worker back', async () => (await as(['-n', W, 'version'])).code === 0)
    assert.equal(await swappiness(), '9')
  })

  it('try applies live without saving, and rolls back after --timeout (RollbackToConfigAfter)', async () => {
    const r = await as([
      '-n',
      W,
      'apply-config',
      '--file',
      workerYaml(),
      '--config-patch',
      patch({ machine: { env: { LAB_FOO: 'auto' }, sysctls: { 'vm.swappiness': '11' } } }),
      '--mode',
      'try',
      // long enough for the reads below on a loaded 2-core CI machine (3 s was not: the rollback came first)
      '--timeout',
      '15s',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(
      r.stderr.trim(),
      "Applied configuration without a reboot\nThe config is applied in 'try' mode and will be automatically reverted back in 15s",
    )
    assert.equal(await swappiness(), '11')
    assert.match(await machineConfig('v1alpha1'), /vm\.swappiness: "11"/)
    assert.match(await machineConfig('persistent'), /vm\.swappiness: "9"/)
    await lab.until('the rollback', async () => (await swappiness()) === '9', 30_000)
    assert.match(await machineConfig('v1alpha1'), /vm\.swappiness: "9"/)
  })

  it('patch machineconfig reads the active config and applies the patched one; the same patch again is skipped', async () => {
    const p = patch([{ op: 'add', path: '/machine/sysctls/vm.dirty_ratio', value: '15' }])
    const r = await as(['-n', W, 'patch', 'machineconfig', '--patch', p])
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(
        `patched MachineConfigs.config.talos.dev/v1alpha1 at the node ${W}\\nApplied configuration without a reboot`,
      ),
    )
    assert.equal((await as(['-n', W, 'read', '/proc/sys/vm/dirty_ratio'])).stdout.trim(), '15')
    const again = await as(['-n', W, 'patch', 'machineconfig', '--patch', p])
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stderr, /Apply was skipped: no changes detected\./)
  })

  it("get apiserverconfig, controllermanagerconfig, schedulerconfig: the control plane's as Talos's controllers make them, none on a worker; a changed spec is a new version, a read is not", async () => {
    const yaml = async (node: string, ...args: string[]) => {
      const r = await as(['-n', node, 'get', ...args, '-o', 'yaml'])
      assert.equal(r.code, 0, r.stderr)
      return r.stdout
    }
    const api = await yaml(CP, 'apiserverconfig')
    assert.match(api, /^\s+owner: k8s\.ControlPlaneAPIServerController$/m)
    assert.match(api, /^\s+image: registry\.k8s\.io\/kube-apiserver:v1\.33\.\d+$/m)
    assert.match(api, new RegExp(`^\\s+controlPlaneEndpoint: https://${CP.replaceAll('.', '\\.')}:6443$`, 'm'))
    assert.match(api, /^\s+- https:\/\/localhost:2379$/m)
    assert.match(
      await yaml(CP, 'controllermanagerconfig'),
      /^\s+image: registry\.k8s\.io\/kube-controller-manager:v1\.33\.\d+$/m,
    )
    for (const type of ['apiserverconfigs', 'controllermanagerconfigs', 'schedulerconfigs'])
      assert.doesNotMatch(await yaml(W, type), /spec:/, `${type} on the worker`)
    const version = async () => Number(/^\s+version: (\d+)$/m.exec(await yaml(CP, 'schedulerconfig'))![1])
    const before = await version()
    assert.equal(await version(), before, 'a read changed the version')
    // a watch hears of the change by itself, as upgrade-k8s's watch does (talos_managed.go upgradeStaticPodOnNode)
    const watch = spawn(
      lab.talosctl,
      ['--talosconfig', join(gen, 'talosconfig'), '-e', CP, '-n', CP, 'get', 'schedulerconfig', '-w'],
      { env: lab.env },
    )
    let seen = ''
    watch.stdout.on('data', (d) => (seen += d))
    // `get -w` rows: NODE, the event ("+" created, " " updated: output/table.go), NAMESPACE TYPE ID VERSION
    const versionsSeen = () =>
      [...seen.matchAll(/^\S+ +([+ -]) +controlplane +SchedulerConfig +kube-scheduler +(\d+)$/gm)].map((m) => [
        m[1],
        Number(m[2]),
      ])
    try {
      await lab
        .until('the watch to start', async () => versionsSeen().length > 0, 15_000)
        .catch((e: Error) => {
          throw new Error(`${e.message}; talosctl printed: ${JSON.stringify(seen)}`)
        })
      assert.deepEqual(versionsSeen(), [['+', before]])
      const p = patch({ cluster: { scheduler: { extraArgs: { v: '2' } } } })
      const r = await as(['-n', CP, 'patch', 'machineconfig', '--patch', p])
      assert.equal(r.code, 0, r.stderr)
      await lab.until('the update on the watch', async () => versionsSeen().length > 1, 10_000)
      assert.deepEqual(versionsSeen(), [
        ['+', before],
        [' ', before + 1],
      ])
    } finally {
      watch.kill()
    }
    assert.equal(await version(), before + 1)
    assert.match(await yaml(CP, 'schedulerconfig'), /^\s+extraArgs:\n\s+v: "2"$/m)
  })

  it("get kubeletspecs and manifests: the kubelet's image and flags on every machine; Talos's bootstrap manifests on the control plane", async () => {
    const spec = await as(['-n', W, 'get', 'kubeletspecs', '-o', 'yaml'])
    assert.equal(spec.code, 0, spec.stderr)
    assert.match(spec.stdout, /^\s+owner: k8s\.KubeletSpecController$/m)
    assert.match(spec.stdout, /^\s+image: ghcr\.io\/siderolabs\/kubelet:v1\.33\.\d+$/m)
    assert.match(spec.stdout, new RegExp(`^\\s+- --node-ip=${W.replaceAll('.', '\\.')}$`, 'm'))
    assert.match(spec.stdout, /^\s+- --bootstrap-kubeconfig=\/etc\/kubernetes\/bootstrap-kubeconfig$/m)
    const list = await as(['-n', `${CP},${W}`, 'get', 'manifests'])
    assert.equal(list.code, 0, list.stderr)
    const ids = (node: string) =>
      list.stdout
        .split('\n')
        .filter((l) => l.startsWith(`${node} `))
        .map((l) => l.split(/\s+/)[3])
    for (const id of ['00-kubelet-bootstrapping-token', '05-flannel', '10-kube-proxy', '11-core-dns'])
      assert.ok(ids(CP).includes(id), `${id} in ${list.stdout}`)
    assert.deepEqual(ids(W), [], 'a worker renders no manifests')
    const proxy = await as(['-n', CP, 'get', 'manifests', '10-kube-proxy', '-o', 'yaml'])
    assert.equal(proxy.code, 0, proxy.stderr)
    assert.match(proxy.stdout, /^\s+kind: DaemonSet$/m)
    // what the lab's control plane applies (lab/manifest-objects.ts) is what the Manifest resources hold, object for
    // object: a ConfigMap whose last key is a block scalar has no trailing newline in either
    const json = await as(['-n', CP, 'get', 'manifests', '-o', 'json'])
    assert.equal(json.code, 0, json.stderr)
    const served = json.stdout
      .split(/\n(?=\{)/)
      .flatMap((doc) => (JSON.parse(doc) as { spec: { object?: object }[] }).spec)
      .map((item) => ('object' in item ? item.object : item))
    const dir = join(lab.dir, 'manifests-check')
    const applied = manifestObjects(renderBootstrapManifests(talosApiBinary(), paths.config('cp1'), dir)).objects
    const key = (o: any) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`
    assert.deepEqual(new Map(applied.map((o) => [key(o), o])), new Map(served.map((o) => [key(o), o])))
  })

  it('get services: a resource per running service with its health, as machined keeps them', async () => {
    const r = await as(['-n', `${CP},${W}`, 'get', 'services'])
    assert.equal(r.code, 0, r.stderr)
    const rows = r.stdout.trim().split('\n')
    assert.match(rows[0]!, /^NODE\s+NAMESPACE\s+TYPE\s+ID\s+VERSION\s+RUNNING\s+HEALTHY\s+HEALTH UNKNOWN$/)
    const row = (node: string, id: string) => rows.find((l) => l.startsWith(node + ' ') && l.split(/\s+/)[3] === id)
    assert.match(row(W, 'kubelet') ?? '', /\sService\s+kubelet\s+\d+\s+true\s+true\s+false$/)
    assert.match(row(CP, 'etcd') ?? '', /\sService\s+etcd\s+\d+\s+true\s+true\s+false$/)
    assert.equal(row(W, 'etcd'), undefined)
  })

  it('logs kubelet: the service log, each line prefixed by the node; an unknown log is not registered', async () => {
    const r = await as(['-n', W, 'logs', 'kubelet'])
    assert.equal(r.code, 0, r.stderr)
    const line = r.stdout.trim().split('\n').pop()!
    assert.ok(line.startsWith(`${W}: `), line)
    // Talos runs kubelet with JSON logging (kubelet_spec.go)
    assert.equal(JSON.parse(line.slice(W.length + 2)).msg, 'Starting kubelet main sync loop')
    // --tail 0: none of it (runtime.WithTailLines(0))
    const tail = await as(['-n', W, 'logs', 'kubelet', '--tail', '0'])
    assert.equal(tail.code, 0, tail.stderr)
    assert.equal(tail.stdout, '')
    const e = await as(['-n', W, 'logs', 'etcd'])
    assert.equal(e.code, 1)
    assert.match(e.stderr, /log "etcd" was not registered/)
  })

  it('logs -f kubelet follows: a kubelet restart shows up as a new line', async () => {
    const p = spawn(
      lab.talosctl,
      ['--talosconfig', join(gen, 'talosconfig'), '-e', CP, '-n', W, 'logs', '-f', 'kubelet'],
      {
        env: lab.env,
      },
    )
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (err += d))
    const lines = () => out.split('\n').filter(Boolean)
    try {
      await lab.until('the log so far', async () => lines().length > 0)
      const before = lines().length
      const r = await as(['-n', W, 'service', 'kubelet', 'restart'])
      assert.equal(r.code, 0, r.stderr)
      // the restart has written its line when the call returns; the stream reads the log every 500 ms (a loaded
      // host may delay that read, and an earlier boot's kubelet start may add a line of its own)
      await lab
        .until('a new line', async () => lines().length > before, 30_000)
        .catch((e: Error) => {
          throw new Error(
            `${e.message}; talosctl ${p.exitCode === null ? 'still runs' : `exited ${p.exitCode}`}: ${err}`,
          )
        })
      assert.ok(
        lines()
          .slice(before)
          .some((l) => /"msg":"Starting kubelet main sync loop"/.test(l)),
        lines().slice(before).join('\n'),
      )
    } finally {
      p.kill()
    }
  })

  it("health (server-side): every default check passes on a healthy lab, in Talos's order", async () => {
    const r = await as(['-n', CP, 'health', '--wait-timeout', '2m'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stderr.trim().split('\n')
    assert.match(lines[0]!, /^discovered nodes: \["127\.0\.55\.(11|21)" "127\.0\.55\.(11|21)"\]$/)
    const done = lines
      .filter((l) => /: (OK|SKIP)$/.test(l))
      .map((l) => l.replace(/^waiting for (.*): (OK|SKIP)$/, '$1'))
    assert.deepEqual(done, [
      'etcd to be healthy',
      'etcd members to be consistent across nodes',
      'etcd members to be control plane nodes',
      'apid to be ready',
      'all nodes memory sizes',
      'all nodes disk sizes',
      'no diagnostics',
      'kubelet to be healthy',
      'all nodes to finish boot sequence',
      'all k8s nodes to report',
      'all control plane static pods to be running',
      'all control plane components to be ready',
      'all k8s nodes to report ready',
      'kube-proxy to report ready',
      'coredns to report ready',
      'all k8s nodes to report schedulable',
    ])
  })

  it('health with a machine down reports the failing condition with the connection error, and exits non-zero', async () => {
    await injectFault('w1', 'down')
    try {
      await lab.until('the worker gone', async () => !(await portOpen(W, 50000)))
      const r = await as(['-n', CP, 'health', '--wait-timeout', '8s'])
      assert.equal(r.code, 1, r.stderr)
      assert.match(r.stderr, /waiting for etcd to be healthy: OK/)
      assert.match(
        r.stderr,
        new RegExp(
          `waiting for apid to be ready: 1 error occurred:\\n\\s+\\* ${W.replaceAll('.', '\\.')}: rpc error: code = Unavailable .*connection refused`,
        ),
      )
      assert.doesNotMatch(r.stderr, /waiting for all nodes memory sizes/)
      assert.match(r.stderr, /deadline exceeded/)
    } finally {
      await healNode('w1')
    }
    await lab.until('the worker back', async () => (await as(['-n', W, 'version'])).code === 0)
  })

  const snap = () => join(lab.dir, 'snap.db')

  it('etcd snapshot streams the real etcd snapshot: a file etcdctl accepts; workers refuse', async () => {
    await etcd().put('/drill/a', 'A')
    const r = await as(['-n', CP, 'etcd', 'snapshot', snap()])
    assert.equal(r.code, 0, r.stderr)
    const size = statSync(snap()).size
    assert.match(
      r.stdout,
      new RegExp(`^etcd snapshot saved to "${snap().replaceAll('.', '\\.')}" \\(${size} bytes\\)\\n`),
    )
    assert.match(r.stdout, /^snapshot info: hash [0-9a-f]{8}, revision \d+, total keys \d+, total size \d+$/m)
    const st = await exec(labBinary('etcdctl', '/usr/bin/etcdctl'), ['snapshot', 'status', '-w', 'json', snap()], {
      env: { ...process.env, ETCDCTL_API: '3' },
    })
    assert.ok((JSON.parse(st.stdout) as { totalKey: number }).totalKey > 0)
    const w = await as(['-n', W, 'etcd', 'snapshot', join(lab.dir, 'w.db')])
    assert.equal(w.code, 1)
    assert.match(w.stderr, /etcd snapshot is only available on control plane nodes/)
  })

  it('bootstrap --recover-from: refused over a data dir that is not empty; after a wipe the snapshot is restored', async () => {
    await etcd().put('/drill/b', 'B')
    const refused = await as(['-n', CP, 'bootstrap', `--recover-from=${snap()}`])
    assert.equal(refused.code, 1)
    assert.match(
      refused.stdout,
      /^recovering from snapshot ".*snap\.db": hash [0-9a-f]{8}, revision \d+, total keys \d+/,
    )
    assert.match(refused.stderr, /AlreadyExists desc = etcd data directory is not empty/)
    const worker = await as(['-n', W, 'bootstrap', `--recover-from=${snap()}`])
    assert.equal(worker.code, 1)
    assert.match(worker.stderr, /error uploading snapshot: .*etcd recover is only available on control plane nodes/s)

    // the disaster: the control plane's EPHEMERAL is wiped (talosctl reset --system-labels-to-wipe EPHEMERAL)
    await wipeEtcdData('cp1')
    const r = await as(['-n', CP, 'bootstrap', `--recover-from=${snap()}`])
    assert.equal(r.code, 0, r.stderr)
    await lab.until('etcd restored', async () => (await as(['-n', CP, 'etcd', 'status'])).code === 0, 30_000)
    assert.equal((await etcd().get('/drill/a'))?.value, 'A')
    assert.equal(await etcd().get('/drill/b'), undefined)
  })
})
