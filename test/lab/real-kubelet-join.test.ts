// Issue #23, stage 1: lab/kubelet-agent/ joins the REAL kube-apiserver, kube-controller-manager and kube-scheduler
// v1.33.1 as Talos's kubelet does. Set up as real-kube-apiserver.test.ts (real `talosctl gen secrets`, the product's
// machine configs for inventory/lab.yaml, cp1's control plane as Talos v1.10.3 renders it, etcd with TLS), plus the
// kubelet-bootstrapping manifests Talos applies at bootstrap. Then validator1 and worker1 get a kubelet agent each,
// on a sysroot made from their lab hardware profile and kernel command line; nothing below writes a CSR decision, a
// Node or a pod status for them: the controller-manager, the scheduler, 04's approveCsrs and the agents do.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { findKubeComponent, KUBERNETES_BUILDS, talosApiBinary } from '../../lab/go-builds.ts'
import {
  flagValue,
  kubeletBootstrapping,
  renderBootstrapManifests,
  type RenderedControlPlane,
} from '../../lab/control-plane.ts'
import { guardedWorkload, startRealControlPlane, type RealControlPlane } from '../../lab/real-control-plane.ts'
import { loadInventory } from '../../config/inventory.ts'
import { REPO_ROOT } from '../../config/cluster.ts'
import { Kube, type KubePod } from '../../lib/kube/kubectl.ts'
import { approveCsrs } from '../../steps/join.ts'
import { cordonAndDrain } from '../../steps/09-upgrade/talos.ts'
import { parseLabInventory } from '../../lab/lab-inventory.ts'
import { hardwareProfile } from '../../lab/hardware.ts'
import { createSysroot } from '../../lab/sysroot.ts'
import { installCmdline, parseMachineConfig } from '../../lab/machine-config.ts'
import { parseCpuList } from '../../lib/host/numa.ts'
import { startKubeletAgent, type KubeletAgent } from '../../lab/kubelet-agent/index.ts'
import { controlPlaneStaticPods } from '../../lab/kubelet-agent/static-pods.ts'
import { missingStaticPods } from '../../steps/static-pods.ts'
import { permissionsPodManifest } from '../../steps/05-storage-tuning/steps.ts'
import { storageDataDir } from '../../config/volume-data-dir.ts'
import { ownerOf } from '../../lab/file-owners.ts'
import { nodeClient, syncNode, type NodeApplySpec } from '../../lab/machine-api/node-apply.ts'
import { ApiClient } from '../../lab/kubelet-agent/client.ts'
import { currentPair } from '../../lab/kubelet-agent/certificates.ts'
import { nodeShape, readSysroot } from '../../lab/node-shape.ts'

const IP = '127.0.137.11' // cp1 in this test; 127.0.137.x is this test's range
const built = (name: string) => findKubeComponent(KUBERNETES_BUILDS.find((b) => b.name === name)!)
const missing = KUBERNETES_BUILDS.map((b) => b.name).filter((n) => !built(n))
const skip = missing.length > 0 && `${missing.join(', ')} v1.33.1 not built: run \`npm run lab:preflight\``

let dir = ''
let cp: RenderedControlPlane
let plane: RealControlPlane | undefined
let admin = ''
const configs = new Map<string, string>()
const inventory = loadInventory(join(REPO_ROOT, 'inventory/lab.yaml'))
const labInventory = parseLabInventory(readFileSync(join(REPO_ROOT, 'inventory/lab.yaml'), 'utf8'))
const agents = new Map<string, KubeletAgent>()
const log = (m: string) => process.stderr.write(`  [kubelet-agent] ${m}\n`)

function kubectl(kubeconfig: string, args: string[], input?: string) {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input })
  return { status: r.status, out: r.stdout, err: r.stderr }
}
function ok(args: string[], input?: string, kubeconfig = admin): string {
  const r = kubectl(kubeconfig, args, input)
  assert.equal(r.status, 0, `kubectl ${args.join(' ')}: ${r.err}`)
  return r.out
}
const getJson = (args: string[]) => JSON.parse(ok([...args, '-o', 'json'])) as Record<string, any>

/** Poll fn until it returns a value, or fail with what it last saw. */
async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = fn()
    if (v !== undefined) return v
    assert.ok(Date.now() < deadline, `${what}: not after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

const v1alpha1 = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, any>)
    .find((o) => o?.machine)!
const registerWithTaints = () =>
  v1alpha1(configs.get('validator1')!).machine.kubelet.extraConfig.registerWithTaints as {
    key: string
    value: string
    effect: string
  }[]

/** What validator1's kubelet started (lab/containers.ts, beside its sysroot) and its CPU manager's checkpoint. */
const nodeDir = (n: string) => join(dir, 'nodes', n)
const containersOf = (n: string) =>
  JSON.parse(readFileSync(join(nodeDir(n), 'containers.json'), 'utf8')).containers as {
    podUid: string
    name: string
    id: string
    exclusiveCpus?: number[]
    memoryBlocks?: { numaAffinity: number[]; type: string; size: number }[]
  }[]
const cpuManagerState = (n: string) =>
  JSON.parse(readFileSync(join(nodeDir(n), 'root/var/lib/kubelet/cpu_manager_state'), 'utf8')) as {
    defaultCpuSet: string
    entries?: Record<string, Record<string, string>>
  }

before(async () => {
  if (skip) return
  dir = mkdtempSync(join(tmpdir(), 'real-kubelet-join-'))
  plane = await startRealControlPlane({ inventory, node: 'cp1', ip: IP, dir })
  cp = plane.cp
  for (const [node, text] of plane.configs) configs.set(node, text)
  admin = plane.adminKubeconfig
  // what Talos's manifest controller applies once the cluster is bootstrapped, as its ManifestController renders it
  const manifests = renderBootstrapManifests(talosApiBinary(), join(dir, 'cp1.yaml'), join(dir, 'manifests'))
  ok(['apply', '-f', '-'], kubeletBootstrapping(manifests))
})

after(async () => {
  for (const a of agents.values()) await a.stop()
  await plane?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** A lab machine of the inventory with a sysroot booted as Talos boots it with its config (lab/machine-install.ts). */
function machine(name: string, configText: string) {
  const inv = labInventory.nodes.find((n) => n.name === name)!
  const hardware = hardwareProfile(inv.hardware)
  const root = join(dir, 'nodes', name, 'root')
  const cmdline = installCmdline(parseMachineConfig(configText), [], 'bios')
  createSysroot(root, hardware, { cmdline, hostname: name, installDisk: inv.installDisk })
  const m = {
    name,
    address: inv.address,
    role: inv.role,
    hardware,
    installDisk: inv.installDisk,
    talosVersion: 'v1.10.3',
  }
  return { machine: m, root }
}

async function startAgent(
  name: string,
  configText: string,
  parsed?: Record<string, any>,
  staticPods?: Record<string, any>[],
): Promise<KubeletAgent> {
  const { machine: m, root } = machine(name, configText)
  const agent = await startKubeletAgent({
    machine: m,
    config: parsed ?? configText,
    sysroot: root,
    staticPods,
    servers: [`https://${IP}:${flagValue(cp.args, 'secure-port')}`],
    caFile: join(cp.dir, 'secrets', 'ca.crt'),
    log,
  })
  agents.set(name, agent)
  return agent
}

test(
  'the kubelets bootstrap with the token: client CSRs approved and signed by kube-controller-manager, Nodes from the hardware',
  { skip },
  async () => {
    const token = v1alpha1(configs.get('cp1')!).cluster.token as string
    // as rendered: Talos does not set serverTLSBootstrap (kubelet_spec.go), the product's templates/node.yaml does
    for (const n of ['validator1', 'worker1'])
      assert.equal(v1alpha1(configs.get(n)!).machine.kubelet.extraConfig.serverTLSBootstrap, true, n)
    const validator = await startAgent('validator1', configs.get('validator1')!)
    const worker = await startAgent('worker1', configs.get('worker1')!)

    for (const a of [validator, worker]) {
      assert.ok(a.clientCsr, `${a.nodeName} filed a client CSR`)
      const csr = getJson(['get', 'csr', a.clientCsr])
      assert.equal(csr.spec.signerName, 'kubernetes.io/kube-apiserver-client-kubelet')
      assert.equal(csr.spec.username, `system:bootstrap:${token.split('.')[0]}`)
      assert.ok((csr.spec.groups as string[]).includes('system:bootstrappers:nodes'))
      // approved by the csrapproving controller (its reason), signed by csrsigning with the cluster CA
      assert.deepEqual(
        (csr.status.conditions as { type: string; reason: string }[]).map((c) => `${c.type}/${c.reason}`),
        ['Approved/AutoApproved'],
      )
      const cert = new X509Certificate(Buffer.from(csr.status.certificate, 'base64'))
      const ca = new X509Certificate(readFileSync(join(cp.dir, 'secrets', 'ca.crt')))
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'signed by the cluster CA')
      assert.equal(cert.subject, `O=system:nodes\nCN=system:node:${a.nodeName}`)
      // and the agent uses it: its kubeconfig is the node
      assert.equal(
        ok(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], undefined, a.kubeconfig),
        `system:node:${a.nodeName}`,
      )
    }

    const node = getJson(['get', 'node', 'validator1'])
    assert.deepEqual(
      node.spec.taints.filter((t: { key: string }) => !t.key.startsWith('node.kubernetes.io/')),
      registerWithTaints(),
    )
    for (const [k, v] of Object.entries({
      'kubernetes.io/hostname': 'validator1',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      'beta.kubernetes.io/arch': 'amd64',
    }))
      assert.equal(node.metadata.labels[k], v)
    // allocatable from the simulated hardware and the inventory: 1 GiB pages per NUMA node as the kernel command
    // line reserved them; CPUs of validator-2socket less reservedSystemCpus
    const pool = inventory.validator!.hugepages.find((p: { size: string }) => p.size === '1Gi')!
    const pages = (pool.perNumaNode as number[]).reduce((a, b) => a + b, 0)
    assert.equal(node.status.allocatable['hugepages-1Gi'], `${pages}Gi`)
    const cpus = hardwareProfile('validator-2socket').numaCpus.flat().length
    const reserved = parseCpuList(inventory.validator!.reservedSystemCpus!).length
    assert.equal(node.status.capacity.cpu, String(cpus))
    assert.equal(node.status.allocatable.cpu, String(cpus - reserved))
    assert.equal(node.status.nodeInfo.kubeletVersion, 'v1.33.1')
    assert.deepEqual(node.status.addresses, [
      { type: 'InternalIP', address: '127.0.10.21' },
      { type: 'Hostname', address: 'validator1' },
    ])
    // Ready as posted, and the node lifecycle controller lifts the not-ready taint TaintNodesByCondition put on
    for (const n of ['validator1', 'worker1'])
      await until(`${n} Ready without node.kubernetes.io/not-ready`, () => {
        const s = ok([
          'get',
          'node',
          n,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.spec.taints[*].key}',
        ])
        return s.startsWith('True') && !s.includes('not-ready') ? s : undefined
      })
    // the lease is there and held by the node
    const lease = getJson(['-n', 'kube-node-lease', 'get', 'lease', 'validator1'])
    assert.equal(lease.spec.holderIdentity, 'validator1')
    assert.equal(lease.metadata.ownerReferences[0].uid, node.metadata.uid)
  },
)

test(
  "serving certificates: each kubelet's CSR stays Pending until 04's approveCsrs, then the agent has its certificate",
  { skip },
  async () => {
    const agentsByName = ['validator1', 'worker1'].map((n) => [n, agents.get(n)!] as const)
    const names = new Map<string, string>()
    for (const [n, a] of agentsByName) names.set(n, await until(`${n} filed its serving CSR`, () => a.servingCsr()))
    const servingCsrs = (getJson(['get', 'csr']).items as any[]).filter(
      (c) => c.spec.signerName === 'kubernetes.io/kubelet-serving',
    )
    assert.deepEqual(
      servingCsrs.map((c) => `${c.metadata.name} ${c.spec.username}`).sort(),
      [...names].map(([n, csr]) => `${csr} system:node:${n}`).sort(),
    )

    // nobody approves kubelet-serving CSRs on their own: still pending a while later, and no agent has a certificate
    await new Promise((r) => setTimeout(r, 5000))
    for (const [n, a] of agentsByName) {
      assert.equal(getJson(['get', 'csr', names.get(n)!]).status.conditions, undefined, n)
      assert.equal(a.servingCertificate(), undefined, n)
    }

    const decisions = await approveCsrs({ kube: new Kube({ kubeconfig: admin }) }, inventory.nodes)
    assert.deepEqual(
      decisions
        .filter((d) => d.approve)
        .map((d) => d.name)
        .sort(),
      [...names.values()].sort(),
    )
    const ca = new X509Certificate(readFileSync(join(cp.dir, 'secrets', 'ca.crt')))
    for (const [n, a] of agentsByName) {
      const pem = await until(`${n} has its serving certificate`, () => a.servingCertificate(), 30_000)
      const cert = new X509Certificate(pem)
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), `${n}: signed by the cluster CA`)
      const address = inventory.nodes.find((x) => x.name === n)!.address
      assert.deepEqual(cert.subjectAltName?.split(', ').sort(), [`DNS:${n}`, `IP Address:${address}`])
    }
  },
)

test("NodeRestriction: worker1's own credential (the agent's kubeconfig) cannot taint its Node", { skip }, () => {
  const worker = agents.get('worker1')!
  // it can read and label what kubelets may (its own Node)
  assert.equal(ok(['get', 'node', 'worker1', '-o', 'name'], undefined, worker.kubeconfig).trim(), 'node/worker1')
  const r = kubectl(worker.kubeconfig, ['taint', 'node', 'worker1', 'solana.org/extra=true:NoSchedule'])
  assert.notEqual(r.status, 0)
  assert.match(r.err, /node "worker1" is not allowed to modify taints/)
  assert.equal(ok(['get', 'node', 'worker1', '-o', 'jsonpath={.spec.taints}']), '')
})

test(
  'a Guaranteed pod with whole CPUs and 1 GiB pages is bound to validator1 by the real scheduler and run by its agent',
  { skip },
  async () => {
    ok(['create', 'namespace', 'solana'])
    await until('the default service account', () =>
      kubectl(admin, ['-n', 'solana', 'get', 'serviceaccount', 'default']).status === 0 ? true : undefined,
    )
    const taint = registerWithTaints()[0]!
    const resources = { cpu: '4', memory: '4Gi', 'hugepages-1Gi': '2Gi' }
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'guaranteed', namespace: 'solana' },
      spec: {
        tolerations: [{ key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect }],
        containers: [
          { name: 'c', image: 'registry.k8s.io/pause:3.10', resources: { requests: resources, limits: resources } },
        ],
      },
    }
    ok(['create', '-f', '-'], JSON.stringify(pod))
    const p = await until('the pod Running', () => {
      const got = getJson(['-n', 'solana', 'get', 'pod', 'guaranteed'])
      return got.status.phase === 'Running' ? got : undefined
    })
    // worker1 has no huge pages: only validator1 fits
    assert.equal(p.spec.nodeName, 'validator1')
    assert.equal(p.status.qosClass, 'Guaranteed')
    assert.equal(p.status.hostIP, '127.0.10.21')
    assert.ok(p.status.containerStatuses[0].state.running, 'its container reported running')
    // kubelet's CPU and memory managers (as lab/containers.ts models them): 4 exclusive CPUs, whole cores of one NUMA
    // node without the reserved ones, in the checkpoint too; the 1 GiB pages from that node; the status names the
    // container the node runs
    const c = containersOf('validator1').find((x) => x.podUid === p.metadata.uid && x.name === 'c')
    assert.ok(c, 'validator1 runs the container')
    assert.equal(p.status.containerStatuses[0].containerID, `containerd://${c.id}`)
    const { machine: vm } = machine('validator1', configs.get('validator1')!)
    const numa = vm.hardware.numaCpus.findIndex((cpus) => cpus.includes(c.exclusiveCpus![0]!))
    assert.equal(c.exclusiveCpus?.length, 4)
    assert.ok(
      c.exclusiveCpus.every((x) => vm.hardware.numaCpus[numa]!.includes(x)),
      'one NUMA node',
    )
    const reserved = parseCpuList(v1alpha1(configs.get('validator1')!).machine.kubelet.extraConfig.reservedSystemCPUs)
    assert.ok(!c.exclusiveCpus.some((x) => reserved.includes(x)), 'none of the reserved CPUs')
    const state = cpuManagerState('validator1')
    assert.deepEqual(parseCpuList(state.entries?.[p.metadata.uid]?.c ?? ''), c.exclusiveCpus)
    assert.ok(!parseCpuList(state.defaultCpuSet).some((x) => c.exclusiveCpus!.includes(x)), 'taken from the pool')
    assert.deepEqual(
      c.memoryBlocks?.find((b) => b.type === 'hugepages-1Gi'),
      { numaAffinity: [numa], type: 'hugepages-1Gi', size: 2 * 1024 ** 3 },
    )
    const ready = (p.status.conditions as { type: string; status: string }[]).find((c) => c.type === 'Ready')
    assert.equal(ready?.status, 'True')
    // not host network: an address of the Node's podCIDR (kube-controller-manager's node IPAM)
    const cidr = ok(['get', 'node', 'validator1', '-o', 'jsonpath={.spec.podCIDR}'])
    assert.match(cidr, /^10\.244\.\d+\.0\/24$/)
    assert.equal(p.status.podIP.split('.').slice(0, 3).join('.'), cidr.split('.').slice(0, 3).join('.'))

    // a graceful delete (30 s) is finished by the agent: terminal status, then gone with grace 0
    const t0 = Date.now()
    ok(['-n', 'solana', 'delete', 'pod', 'guaranteed', '--wait=false'])
    await until(
      'the pod gone',
      () => (kubectl(admin, ['-n', 'solana', 'get', 'pod', 'guaranteed']).status !== 0 ? true : undefined),
      20_000,
    )
    assert.ok(Date.now() - t0 < 20_000, 'deleted by the kubelet before its grace period ran out')
    // its containers are gone, and its CPUs are back in the shared pool
    assert.equal(containersOf('validator1').filter((x) => x.podUid === p.metadata.uid).length, 0)
    assert.equal(cpuManagerState('validator1').entries?.[p.metadata.uid], undefined)
  },
)

test(
  "kubelet's admission on validator1: 3 CPUs under full-pcpus-only are rejected (SMTAlignmentError), never started",
  { skip },
  async () => {
    const extra = v1alpha1(configs.get('validator1')!).machine.kubelet.extraConfig
    assert.equal(extra.cpuManagerPolicyOptions?.['full-pcpus-only'], 'true', 'as the product renders the validator')
    const taint = registerWithTaints()[0]!
    const resources = { cpu: '3', memory: '1Gi' }
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'odd-cpus', namespace: 'solana' },
      spec: {
        nodeSelector: { 'kubernetes.io/hostname': 'validator1' },
        tolerations: [{ key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect }],
        containers: [
          { name: 'c', image: 'registry.k8s.io/pause:3.10', resources: { requests: resources, limits: resources } },
        ],
      },
    }
    ok(['create', '-f', '-'], JSON.stringify(pod))
    const p = await until('the pod Failed', () => {
      const got = getJson(['-n', 'solana', 'get', 'pod', 'odd-cpus'])
      return got.status.phase === 'Failed' ? got : undefined
    })
    assert.equal(p.spec.nodeName, 'validator1', 'the scheduler bound it: only the kubelet refuses')
    assert.equal(p.status.reason, 'SMTAlignmentError')
    assert.match(
      p.status.message,
      /^Pod was rejected: SMT Alignment Error: requested 3 cpus not multiple cpus per core = 2/,
    )
    assert.equal(containersOf('validator1').filter((x) => x.podUid === p.metadata.uid).length, 0)
    // kubelet records the event and the status apart (its event broadcaster and status manager): either may come first
    const ev = await until('a Warning event from the kubelet', () =>
      (
        getJson(['-n', 'solana', 'get', 'events', '--field-selector', 'involvedObject.name=odd-cpus']).items as any[]
      ).find((e) => e.reason === 'SMTAlignmentError'),
    )
    assert.equal(ev.type, 'Warning')
    assert.deepEqual(ev.source, { component: 'kubelet', host: 'validator1' })
    ok(['-n', 'solana', 'delete', 'pod', 'odd-cpus', '--wait=false'])
  },
)

test(
  "05's storage-permissions pod runs to completion on validator1: its data directories get their owner and mode",
  {
    skip,
  },
  async () => {
    const profile = inventory.validator!
    const want = profile.storage!
    const root = join(nodeDir('validator1'), 'root')
    // the volumes are mounted there (hostPath type Directory)
    for (const w of want) mkdirSync(join(root, w.mountPoint), { recursive: true })
    ok(['create', '-f', '-'], JSON.stringify(permissionsPodManifest('validator1', want, profile.taints ?? [])))
    const p = await until('the pod finished', () => {
      const got = getJson(['-n', 'kube-system', 'get', 'pod', 'validator-storage-permissions'])
      return ['Succeeded', 'Failed'].includes(got.status.phase) ? got : undefined
    })
    assert.equal(p.status.phase, 'Succeeded', JSON.stringify(p.status.containerStatuses))
    for (const w of want) {
      const got = ownerOf(root, storageDataDir(w))
      if (w.owner) assert.deepEqual([got?.uid, got?.gid], [w.owner.uid, w.owner.gid], storageDataDir(w))
      if (w.mode) assert.equal(Number.parseInt(got!.mode, 8), Number.parseInt(String(w.mode), 8), storageDataDir(w))
    }
    ok(['-n', 'kube-system', 'delete', 'pod', 'validator-storage-permissions'])
  },
)

test(
  "cp1's kubelet makes mirror pods of Talos's static pods: what 03 waits for, owned by the Node; NodeRestriction holds",
  { skip },
  async () => {
    const cfg = v1alpha1(configs.get('cp1')!)
    await startAgent('cp1', configs.get('cp1')!, undefined, controlPlaneStaticPods(cp, cfg))
    const pods = await until('the mirror pods Running', () => {
      const got = getJson(['-n', 'kube-system', 'get', 'pods']).items as KubePod[]
      return missingStaticPods(['cp1'], got).length === 0 ? got : undefined
    })
    const node = getJson(['get', 'node', 'cp1'])
    const apiserver = pods.find((p) => p.metadata.name === 'kube-apiserver-cp1') as Record<string, any>
    assert.deepEqual(apiserver.metadata.ownerReferences, [
      { apiVersion: 'v1', kind: 'Node', name: 'cp1', uid: node.metadata.uid, controller: true },
    ])
    assert.equal(apiserver.metadata.annotations['kubernetes.io/config.source'], 'file')
    assert.equal(apiserver.spec.priority, 2000000000, "system-cluster-critical's value")
    assert.deepEqual(apiserver.spec.containers[0].resources.requests, { cpu: '200m', memory: '512Mi' })
    assert.ok(apiserver.spec.containers[0].command.includes('--secure-port=' + flagValue(cp.args, 'secure-port')))
    assert.ok(
      apiserver.spec.containers[0].command.some((a: string) =>
        a.includes('/system/secrets/kubernetes/kube-apiserver/'),
      ),
      "Talos's paths in the command",
    )
    // a kubelet may make mirror pods only for its own node
    const forged: Record<string, any> = { ...apiserver, metadata: { ...apiserver.metadata, name: 'forged-cp1' } }
    delete forged.metadata.uid
    delete forged.metadata.resourceVersion
    delete forged.metadata.creationTimestamp
    delete forged.status
    const r = kubectl(agents.get('worker1')!.kubeconfig, ['create', '-f', '-'], JSON.stringify(forged))
    assert.notEqual(r.status, 0)
    assert.match(r.err, /node "worker1" can only create pods with spec.nodeName set to itself/)
  },
)

/** Talos's NodeApplyController's wants for `name` with this config (labels, annotations, taints: labinfo.ts). */
function applySpec(name: string, cfg: Record<string, any>): NodeApplySpec {
  const { machine: m, root } = machine(name, configs.get(name)!)
  const s = nodeShape(m, cfg, readSysroot(root))
  return { labels: s.configLabels, annotations: s.configAnnotations, taints: s.configTaints }
}

test(
  "Talos's NodeApplyController on the real API: a worker's kubelet credential may set labels but no taint, cp1's admin one both",
  { skip },
  async () => {
    const server = new URL(`https://${IP}:${flagValue(cp.args, 'secure-port')}`)
    const ca = readFileSync(join(cp.dir, 'secrets', 'ca.crt'), 'utf8')
    const pair = currentPair(join(nodeDir('worker1'), 'root/var/lib/kubelet/pki'), 'kubelet-client')!
    const kubelet = new ApiClient(server, ca, { cert: pair.certPem, key: pair.keyPem })
    const cfg = structuredClone(v1alpha1(configs.get('worker1')!))
    cfg.machine.nodeLabels = { ...(cfg.machine.nodeLabels ?? {}), 'solana.org/pool': 'rpc' }
    cfg.machine.nodeAnnotations = { 'solana.org/rack': 'r7' }
    try {
      const want = applySpec('worker1', cfg)
      await syncNode(nodeClient(kubelet), 'worker1', { ...want, taints: [] })
      const n = getJson(['get', 'node', 'worker1'])
      assert.equal(n.metadata.labels['solana.org/pool'], 'rpc')
      assert.equal(n.metadata.annotations['solana.org/rack'], 'r7')
      assert.ok(JSON.parse(n.metadata.annotations['talos.dev/owned-labels']).includes('solana.org/pool'))

      // machine.nodeTaints on a worker: NodeRestriction refuses the whole update, retried for 10 s (here 1 s)
      cfg.machine.nodeTaints = { 'solana.org/dedicated': 'true:NoSchedule' }
      const refused = await syncNode(nodeClient(kubelet), 'worker1', applySpec('worker1', cfg), 1000).then(
        () => undefined,
        (e: Error) => e.message,
      )
      assert.match(refused ?? 'applied', /node "worker1" is not allowed to modify taints/)
      assert.equal(ok(['get', 'node', 'worker1', '-o', 'jsonpath={.spec.taints}']), '')
    } finally {
      kubelet.close()
    }

    // cp1, as Talos renders it: the control-plane role label and taint (the taint registered by kubelet is taken over)
    const adminCert = join(dir, 'node-apply-admin')
    const admin = plane!.kubeconfigFor('node-apply-admin', 'admin', ['system:masters'])
    assert.ok(admin)
    const certPem = readFileSync(`${adminCert}.crt`, 'utf8')
    const keyPem = readFileSync(`${adminCert}.key`, 'utf8')
    const client = new ApiClient(server, ca, { cert: certPem, key: keyPem })
    try {
      await syncNode(nodeClient(client), 'cp1', applySpec('cp1', v1alpha1(configs.get('cp1')!)))
      const n = getJson(['get', 'node', 'cp1'])
      assert.equal(n.metadata.labels['node-role.kubernetes.io/control-plane'], '')
      assert.equal(n.metadata.labels['node.kubernetes.io/exclude-from-external-load-balancers'], '')
      assert.deepEqual(n.spec.taints, [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }])
      assert.equal(n.metadata.annotations['talos.dev/owned-taints'], '["node-role.kubernetes.io/control-plane"]')
    } finally {
      client.close()
    }
  },
)

test(
  "09's drain respects a PodDisruptionBudget over pods the agents run, and completes once it allows",
  { skip },
  async () => {
    const taint = registerWithTaints()[0]!
    const { replicaSet, budget: pdb } = guardedWorkload('solana', taint)
    // both replicas on validator1 first: worker1 cordoned while they are scheduled
    ok(['cordon', 'worker1'])
    ok(['create', '-f', '-'], JSON.stringify(replicaSet))
    const running = () =>
      (getJson(['-n', 'solana', 'get', 'pods', '-l', 'app=guarded']).items as any[]).filter(
        (p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp,
      )
    await until('two guarded pods running on validator1', () => {
      const r = running()
      return r.length === 2 && r.every((p) => p.spec.nodeName === 'validator1') ? r : undefined
    })
    ok(['uncordon', 'worker1'])
    ok(['create', '-f', '-'], JSON.stringify(pdb))
    const budget = () =>
      ok([
        '-n',
        'solana',
        'get',
        'pdb',
        'guarded',
        '-o',
        'jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed}',
      ])
    await until('the budget counted (2 healthy, none allowed)', () => (budget() === '2/0' ? true : undefined))

    const kube = new Kube({ kubeconfig: admin })
    const refused = await cordonAndDrain({ kube }, 'validator1', 6000).then(
      () => undefined,
      (e: Error) => e,
    )
    assert.ok(refused, 'the drain must fail while the budget allows no disruption')
    assert.match(
      String((refused as { stderr?: string }).stderr ?? refused.message),
      /Cannot evict pod as it would violate the pod's disruption budget/,
    )
    assert.equal(running().filter((p) => p.spec.nodeName === 'validator1').length, 2)

    // one disruption allowed: each eviction is finished by validator1's agent, the replacement runs on worker1, and the
    // drain goes through
    ok(['-n', 'solana', 'patch', 'pdb', 'guarded', '--type=merge', '-p', '{"spec":{"minAvailable":1}}'])
    await until('one disruption allowed', () => (budget().endsWith('/1') ? true : undefined))
    await cordonAndDrain({ kube }, 'validator1', 90_000)
    const after = running()
    assert.equal(after.length, 2)
    assert.ok(
      after.every((p) => p.spec.nodeName === 'worker1'),
      'both replicas now run on worker1',
    )
    ok(['uncordon', 'validator1'])
  },
)

test(
  'a stopped kubelet: the lease is no longer renewed and the node lifecycle controller marks Ready Unknown',
  { skip },
  async () => {
    const gracePeriod = flagValue(cp.controllerManager!.args, 'node-monitor-grace-period')
    assert.equal(gracePeriod, undefined, "Talos sets none: kube-controller-manager's default, 50 s")
    const renew = () => ok(['-n', 'kube-node-lease', 'get', 'lease', 'validator1', '-o', 'jsonpath={.spec.renewTime}'])
    // the agent renews every 10 s while it runs
    const first = renew()
    await until('the lease renewed', () => (renew() !== first ? true : undefined), 20_000)
    await agents.get('validator1')!.stop()
    agents.delete('validator1')
    const last = renew()
    const ready = () =>
      getJson(['get', 'node', 'validator1']).status.conditions.find((c: { type: string }) => c.type === 'Ready') as {
        status: string
        reason: string
      }
    const cond = await until(
      'validator1 Ready Unknown',
      () => (ready().status === 'Unknown' ? ready() : undefined),
      90_000,
    )
    assert.equal(cond.reason, 'NodeStatusUnknown')
    assert.equal(renew(), last, 'no renewal after stop')
    // worker1's agent still runs: its node stays Ready
    assert.equal(
      ok(['get', 'node', 'worker1', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']),
      'True',
    )
  },
)
