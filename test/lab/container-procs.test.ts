// The lab kubelet's container processes as an SRE inspects them on Talos: `talosctl containers -k` for the PID, then
// `talosctl read /proc/<pid>/status` and `/proc/<pid>/limits` (lab/containers.ts, lab/proc-status.ts,
// lab/machine-api/containers.ts). w1 is the validator machine with what the product renders for it (static CPU
// manager with reservedSystemCPUs "0,16", single-numa-node, the Static memory manager, the base runtime spec's
// RLIMIT_MEMLOCK/RLIMIT_NOFILE); w2 is a plain worker without baseRuntimeSpecOverrides. All through the real talosctl
// and kubectl against the lab's Talos and Kubernetes APIs, on 127.0.143.x.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, stringify } from 'yaml'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { loadInventory } from '../../config/inventory.ts'
import { renderMachineConfigs } from '../../config/render.ts'
import { loadSecretsBundle } from '../../lib/talos/secrets-bundle.ts'
import { capMask, CONTAINERD_DEFAULT_CAPS, renderCap } from '../../lab/proc-status.ts'

const P = '127.0.143'
const CP = `${P}.11`
const V = `${P}.21`
const W = `${P}.22`
const REPO = fileURLToPath(new URL('../..', import.meta.url))
let lab: TestLab
let kubeconfig: string

type Obj = Record<string, any>

/** The validator's rendered kubelet settings, base runtime spec overrides and installer on the test lab's worker config. */
async function validatorConfig(): Promise<string> {
  const inv = loadInventory(join(REPO, 'inventory/lab.yaml'))
  const image = await lab.validatorInstaller(inv)
  const rendered = renderMachineConfigs(inv, loadSecretsBundle(lab.secretsFile)).get('validator1')!
  const m = (parseAllDocuments(rendered)[0]!.toJS() as Obj).machine
  const docs = parseAllDocuments(lab.renderConfig('worker')).map((d) => d.toJS() as Obj)
  docs[0]!.machine.kubelet = { ...docs[0]!.machine.kubelet, extraConfig: m.kubelet.extraConfig }
  if (m.files) docs[0]!.machine.files = m.files
  docs[0]!.machine.baseRuntimeSpecOverrides = m.baseRuntimeSpecOverrides
  docs[0]!.machine.install = { disk: '/dev/nvme0n1', image }
  return docs.map((d) => stringify(d)).join('---\n')
}

const talosctl = async (node: string, ...args: string[]) => {
  const r = await lab.run(['-n', node, '-e', CP, ...args])
  assert.equal(r.code, 0, `talosctl -n ${node} ${args.join(' ')}: ${r.stderr}\n${lab.explain('w1')}`)
  return r.stdout
}

function kubectl(args: string[], input?: string): string {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input, timeout: 30_000 })
  assert.equal(r.status, 0, `kubectl ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

const pod = (name: string, node: string, container: Obj) =>
  stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: node,
      tolerations: [{ key: 'solana.org/validator', operator: 'Exists', effect: 'NoSchedule' }],
      containers: [container],
    },
  })

/** The PID `talosctl containers -k` shows for the pod's container `name`, and the row it is on. */
async function containerPid(node: string, podName: string, name: string): Promise<{ pid: number; row: string }> {
  let out = ''
  await lab.until(
    `${podName}:${name} in talosctl containers -k`,
    async () => {
      out = (await lab.run(['-n', node, '-e', CP, 'containers', '-k'])).stdout
      return new RegExp(`default/${podName}:${name}:`).test(out)
    },
    60_000,
  )
  const row = out.split('\n').find((l) => l.includes(`default/${podName}:${name}:`))!
  const m = /└─ default\/\S+:\S+:([0-9a-f]{12})\s+(\S+)\s+(\d+)\s+CONTAINER_RUNNING$/.exec(row.trim())
  assert.ok(m, `row: ${row}\n${out}`)
  return { pid: Number(m[3]), row }
}

const field = (status: string, key: string) => new RegExp(`^${key}:\\t(.*)$`, 'm').exec(status)?.[1]
const limit = (limits: string, name: string) => limits.split('\n').find((l) => l.startsWith(name.padEnd(25)))

describe('container processes: talosctl containers -k, /proc/<pid>/status and limits', { timeout: 300_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 2, kubernetes: true })
    lab.useValidatorHardware('w1', (n) => (n.profile = 'validator'))
    await lab.install('cp1', lab.renderConfig('controlplane'))
    await lab.install('w1', await validatorConfig())
    await lab.install('w2', lab.renderConfig('worker'))
    const b = await lab.run(['-n', CP, '-e', CP, 'bootstrap'])
    assert.equal(b.code, 0, b.stderr)
    kubeconfig = join(lab.dir, 'kubeconfig')
    await lab.until(
      'a kubeconfig and the API server',
      async () =>
        (await lab.run(['-n', CP, '-e', CP, 'kubeconfig', '--force', kubeconfig])).code === 0 &&
        spawnSync('kubectl', ['--kubeconfig', kubeconfig, 'get', 'nodes'], { encoding: 'utf8' }).status === 0,
      90_000,
    )
    await lab.until(
      'w1 and w2 Ready',
      () => {
        const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, 'get', 'nodes'], { encoding: 'utf8' })
        return /w1\s+Ready/.test(r.stdout) && /w2\s+Ready/.test(r.stdout)
      },
      90_000,
    )
    // the pods below add capabilities, which the rendered PodSecurity config (enforce baseline) refuses in default
    kubectl(['label', 'namespace', 'default', 'pod-security.kubernetes.io/enforce=privileged'])
    kubectl(
      ['apply', '-f', '-'],
      [
        pod('validator-shape', 'w1', {
          name: 'agave',
          image: 'anzaxyz/agave:v2.2.14',
          command: ['/usr/local/bin/agave-validator', '--help'],
          resources: { limits: { cpu: '4', memory: '4Gi', 'hugepages-1Gi': '2Gi', 'hugepages-2Mi': '128Mi' } },
          securityContext: { capabilities: { add: ['IPC_LOCK', 'SYS_NICE', 'NET_ADMIN'], drop: ['MKNOD'] } },
        }),
        pod('plain', 'w2', { name: 'sleeper', image: 'busybox:1.36', command: ['sleep', 'infinity'] }),
      ].join('---\n'),
    )
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('the Guaranteed pod on the validator: sandbox and container rows, a PID, exclusive CPUs, the added caps', async () => {
    const { pid, row } = await containerPid(V, 'validator-shape', 'agave')
    assert.match(row, /docker\.io\/anzaxyz\/agave:v2\.2\.14/)
    const table = await talosctl(V, 'containers', '-k')
    assert.match(table.split('\n')[0]!, /^NODE\s+NAMESPACE\s+ID\s+IMAGE\s+PID\s+STATUS$/)
    assert.match(table, /k8s\.io\s+default\/validator-shape\s+registry\.k8s\.io\/pause:3\.10\s+\d+\s+SANDBOX_READY/)
    // the container's ID is the one Kubernetes reports
    const cid = JSON.parse(kubectl(['get', 'pod', 'validator-shape', '-o', 'json'])).status.containerStatuses[0]
      .containerID as string
    assert.ok(row.includes(`:${cid.replace('containerd://', '').slice(0, 12)}`), `${row} vs ${cid}`)

    const status = await talosctl(V, 'read', `/proc/${pid}/status`)
    assert.equal(field(status, 'Name'), 'agave-validator')
    assert.equal(field(status, 'Pid'), String(pid))
    // validator-2socket: node 0 holds the even CPUs, core c is CPUs c and c+16; 0 and 16 are reserved, so the
    // static policy gives two whole cores of node 0: {2,18} and {4,20}
    assert.equal(field(status, 'Cpus_allowed_list'), '2,4,18,20')
    assert.equal(field(status, 'Cpus_allowed'), '00140014')
    assert.equal(field(status, 'Mems_allowed_list'), '0')
    const eff = capMask([
      ...CONTAINERD_DEFAULT_CAPS.filter((c) => c !== 'CAP_MKNOD'),
      'CAP_IPC_LOCK',
      'CAP_SYS_NICE',
      'CAP_NET_ADMIN',
    ])
    assert.equal(field(status, 'CapEff'), renderCap(eff))
    assert.equal(field(status, 'CapBnd'), renderCap(eff))
    assert.equal(field(status, 'CapAmb'), '0000000000000000')

    // kubelet's CPU manager checkpoint holds the assignment; the shared pool lost those CPUs
    const cpuState = JSON.parse(await talosctl(V, 'read', '/var/lib/kubelet/cpu_manager_state'))
    const uid = JSON.parse(kubectl(['get', 'pod', 'validator-shape', '-o', 'json'])).metadata.uid
    assert.equal(cpuState.entries[uid].agave, '2,4,18,20')
    assert.equal(cpuState.defaultCpuSet, '0-1,3,5-17,19,21-31')
    const memState = JSON.parse(await talosctl(V, 'read', '/var/lib/kubelet/memory_manager_state'))
    assert.deepEqual(memState.entries[uid].agave.map((b: Obj) => `${b.type}@${b.numaAffinity}`).sort(), [
      'hugepages-1Gi@0',
      'hugepages-2Mi@0',
      'memory@0',
    ])
  })

  it("/proc/<pid>/limits of the validator's container: the base spec's memlock and nofile", async () => {
    const { pid } = await containerPid(V, 'validator-shape', 'agave')
    const limits = await talosctl(V, 'read', `/proc/${pid}/limits`)
    assert.equal(
      limits.split('\n')[0],
      'Limit                     Soft Limit           Hard Limit           Units     ',
    )
    assert.equal(
      limit(limits, 'Max locked memory'),
      'Max locked memory         2000000000           2000000000           bytes     ',
    )
    assert.equal(
      limit(limits, 'Max open files'),
      'Max open files            1048576              1048576              files     ',
    )
    assert.equal(
      limit(limits, 'Max stack size'),
      'Max stack size            8388608              unlimited            bytes     ',
    )
  })

  it('a pod on a node without the overrides: the inherited limits (8 MiB memlock), the shared CPUs', async () => {
    const { pid } = await containerPid(W, 'plain', 'sleeper')
    const limits = await talosctl(W, 'read', `/proc/${pid}/limits`)
    assert.equal(
      limit(limits, 'Max locked memory'),
      'Max locked memory         8388608              8388608              bytes     ',
    )
    const status = await talosctl(W, 'read', `/proc/${pid}/status`)
    assert.equal(field(status, 'Name'), 'sleep')
    assert.equal(field(status, 'CapEff'), '00000000a80425fb')
    assert.equal(field(status, 'Cpus_allowed_list'), '0-7')
    assert.equal(field(status, 'Mems_allowed_list'), '0')
  })

  /** The pod once kubelet has decided on it: Failed (rejected at admission) or Running. */
  async function decided(name: string): Promise<Obj> {
    let p: Obj = {}
    await lab.until(
      `${name} Failed or Running`,
      () => {
        p = JSON.parse(kubectl(['get', 'pod', name, '-o', 'json']))
        return ['Failed', 'Running'].includes(p.status?.phase)
      },
      60_000,
    )
    return p
  }

  /** The pod was rejected at admission: Failed with kubelet's reason and message, a Warning event, nothing started. */
  async function assertRejected(name: string, reason: string, message: string): Promise<void> {
    const p = await decided(name)
    assert.equal(p.status.phase, 'Failed', JSON.stringify(p.status))
    assert.equal(p.status.reason, reason)
    assert.equal(p.status.message, `Pod was rejected: ${message}`)
    assert.equal(p.status.containerStatuses, undefined)
    const events = JSON.parse(
      kubectl(['get', 'events', '--field-selector', `involvedObject.name=${name}`, '-o', 'json']),
    ).items as Obj[]
    assert.ok(
      events.some((e) => e.type === 'Warning' && e.reason === reason && e.message === message),
      JSON.stringify(events),
    )
    assert.doesNotMatch(await talosctl(V, 'containers', '-k'), new RegExp(`default/${name}`))
    const cpuState = JSON.parse(await talosctl(V, 'read', '/var/lib/kubelet/cpu_manager_state'))
    assert.equal(cpuState.entries?.[p.metadata.uid], undefined)
    // kubelet does not retry admission: still Failed a few syncs later
    await new Promise((r) => setTimeout(r, 3000))
    assert.equal(JSON.parse(kubectl(['get', 'pod', name, '-o', 'json'])).status.phase, 'Failed')
  }

  /** A Guaranteed pod on w1 asking `cpus` whole CPUs and 1 GiB (limits only: requests default to them). */
  const applyGuaranteed = (name: string, cpus: string) =>
    kubectl(
      ['apply', '-f', '-'],
      pod(name, 'w1', {
        name: 'c',
        image: 'busybox:1.36',
        command: ['sleep', 'infinity'],
        resources: { limits: { cpu: cpus, memory: '1Gi' } },
      }),
    )

  it('full-pcpus-only: a Guaranteed pod asking 3 CPUs is rejected with SMTAlignmentError', async () => {
    applyGuaranteed('odd-cpus', '3')
    await assertRejected(
      'odd-cpus',
      'SMTAlignmentError',
      'SMT Alignment Error: requested 3 cpus not multiple cpus per core = 2',
    )
  })

  it('single-numa-node: a Guaranteed pod no single NUMA node can hold is rejected with TopologyAffinityError', async () => {
    // validator-2socket has 16 CPUs per NUMA node (node 0: 14 free with 0 and 16 reserved, 4 more held by
    // validator-shape): 18 CPUs (a whole number of cores) fit the machine but not one node
    applyGuaranteed('wide', '18')
    await assertRejected('wide', 'TopologyAffinityError', 'Resources cannot be allocated with Topology locality')
    // the validator-shaped pod (4 CPUs, node 0) is untouched and still Running
    assert.equal(JSON.parse(kubectl(['get', 'pod', 'validator-shape', '-o', 'json'])).status.phase, 'Running')
  })

  it('after the pod is deleted its /proc/<pid> is gone and its CPUs return to the shared pool', async () => {
    const { pid } = await containerPid(V, 'validator-shape', 'agave')
    kubectl(['delete', 'pod', 'validator-shape', '--wait=false'])
    await lab.until(
      `/proc/${pid} gone`,
      async () => (await lab.run(['-n', V, '-e', CP, 'read', `/proc/${pid}/status`])).code !== 0,
      30_000,
    )
    const r = await lab.run(['-n', V, '-e', CP, 'read', `/proc/${pid}/status`])
    assert.match(r.stderr, /NotFound/)
    assert.doesNotMatch(await talosctl(V, 'containers', '-k'), /validator-shape/)
    const cpuState = JSON.parse(await talosctl(V, 'read', '/var/lib/kubelet/cpu_manager_state'))
    assert.equal(cpuState.entries, undefined)
    assert.equal(cpuState.defaultCpuSet, '0-31')
  })

  it('talosctl containers (the system namespace): apid, no CRI pods', async () => {
    const out = await talosctl(W, 'containers')
    assert.match(out, /system\s+apid\s+\d+\s+RUNNING/)
    assert.doesNotMatch(out, /k8s\.io|default\//)
  })
})
