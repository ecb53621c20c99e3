// The lab Kubernetes API against the REAL kubectl and a REAL etcd: a 3-node lab on 127.0.60.x written
// by hand (lab.json, node.json, machine configs with a real CA, sysroot files), one API server for cp1.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { X509Certificate } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml, stringify } from 'yaml'
import { generateCa, issueCert, b64 } from '../../lab/pki.ts'
import { formatBinary, humanDuration, parseQuantity } from '../../lab/kube-api/quantity.ts'
import { strategicMerge } from '../../lab/kube-api/patch.ts'
import { stopPid, waitForPort, tsEntry } from '../../lab/processes.ts'
import { buildAdminKubeconfig } from '../../lab/kube-api/kubeconfig.ts'
import type { LabCluster, LabNode } from '../../lab/state.ts'

const ETCD = '127.0.60.11'
const VIP = '127.0.60.10'
const dir = mkdtempSync(join(tmpdir(), 'kube-api-test-'))
const labDir = join(dir, 'lab')
const home = join(dir, 'home')
const kubeconfig = join(dir, 'kubeconfig')
const procs: ChildProcess[] = []
const ca = generateCa('kubernetes')

interface NodeDef {
  name: string
  address: string
  role: 'controlplane' | 'worker'
  cpus: number[][]
  memMiB: number[]
  huge1G?: number[]
  cfg: Record<string, unknown>
}

const NODES: NodeDef[] = [
  { name: 'cp1', address: '127.0.60.11', role: 'controlplane', cpus: [[0, 1, 2, 3]], memMiB: [8192], cfg: {} },
  // cp2's API server shares cp1's etcd member (one etcd keeps the test light); it competes for the VIP
  { name: 'cp2', address: '127.0.60.12', role: 'controlplane', cpus: [[0, 1, 2, 3]], memMiB: [8192], cfg: {} },
  {
    name: 'validator1',
    address: '127.0.60.21',
    role: 'worker',
    cpus: [
      [0, 2, 4, 6],
      [1, 3, 5, 7],
    ],
    memMiB: [32768, 32768],
    huge1G: [4, 4],
    cfg: {
      // as lib/render.ts renders a worker validator: the taint through registerWithTaints, no machine.nodeTaints
      nodeLabels: { 'solana.org/role': 'validator' },
      kubelet: {
        extraConfig: {
          serverTLSBootstrap: true,
          systemReserved: { cpu: '1000m', memory: '2Gi' },
          kubeReserved: { cpu: '1000m', memory: '1Gi' },
          evictionHard: { 'memory.available': '500Mi' },
          registerWithTaints: [{ key: 'solana.org/validator', value: 'true', effect: 'NoSchedule' }],
        },
      },
    },
  },
  { name: 'worker1', address: '127.0.60.22', role: 'worker', cpus: [[0, 1, 2, 3]], memMiB: [16384], cfg: {} },
]

function writeLab(): void {
  const cluster: LabCluster = {
    name: 'kube-api-test',
    inventory: 'test',
    endpoint: `https://${VIP}:6443`,
    createdAt: new Date().toISOString(),
    nodes: NODES.map((n) => n.name),
    processes: [],
  }
  mkdirSync(labDir, { recursive: true })
  writeFileSync(join(labDir, 'lab.json'), JSON.stringify(cluster))
  for (const d of NODES) {
    const nd = join(labDir, 'nodes', d.name)
    const node: LabNode = {
      name: d.name,
      address: d.address,
      role: d.role,
      ...(d.huge1G ? { profile: 'validator' } : {}),
      stage: 'running',
      talosVersion: 'v1.10.3',
      hardware: {
        numaCpus: d.cpus,
        numaMemoryMiB: d.memMiB,
        distances: d.cpus.map((_, i) => d.cpus.map((_, j) => (i === j ? 10 : 21))),
        disks: [
          {
            dev: '/dev/sda',
            sizeBytes: 128 * 2 ** 30,
            model: 'LAB DISK',
            serial: `S-${d.name}`,
            transport: 'sata',
            rotational: false,
          },
        ],
      },
      installDisk: '/dev/sda',
      cmdline: '',
      configVersion: 1,
      bootstrapped: d.name === 'cp1',
      etcd: { clientUrl: `http://${ETCD}:2379`, peerUrl: `http://${d.address}:2380` },
      kubeApi: { url: `https://${d.address}:6443` },
      faults: {},
    }
    mkdirSync(nd, { recursive: true })
    writeFileSync(join(nd, 'node.json'), JSON.stringify(node))
    const machine = {
      type: d.role,
      network: { hostname: d.name },
      // as the product renders every node (templates/node.yaml): kubelet asks for a CA-signed serving certificate
      kubelet: { image: 'ghcr.io/siderolabs/kubelet:v1.33.1', extraConfig: { serverTLSBootstrap: true } },
      ...d.cfg,
    }
    const config = {
      version: 'v1alpha1',
      machine,
      cluster: {
        clusterName: 'kube-api-test',
        controlPlane: { endpoint: `https://${VIP}:6443` },
        ca: { crt: b64(ca.crt), key: b64(ca.key) },
        apiServer: { image: 'registry.k8s.io/kube-apiserver:v1.33.1', certSANs: [VIP] },
      },
    }
    writeFileSync(
      join(nd, 'config.yaml'),
      stringify(config) + '---\napiVersion: v1alpha1\nkind: KmsgLogConfig\nname: dummy\nurl: udp://127.0.0.1:1\n',
      { mode: 0o600 },
    )
    const root = join(nd, 'root')
    const memKb = d.memMiB.reduce((a, b) => a + b, 0) * 1024 - 123456
    mkdirSync(join(root, 'proc'), { recursive: true })
    const totalHuge = (d.huge1G ?? []).reduce((a, b) => a + b, 0)
    writeFileSync(
      join(root, 'proc/meminfo'),
      `MemTotal:       ${memKb} kB\nMemFree:        ${memKb - 1000000} kB\nHugePages_Total:    ${totalHuge}\nHugepagesize:    1048576 kB\n`,
    )
    d.cpus.forEach((_, i) => {
      for (const [size, pages] of [
        ['1048576kB', d.huge1G?.[i] ?? 0],
        ['2048kB', 0],
      ] as const) {
        const hp = join(root, `sys/devices/system/node/node${i}/hugepages/hugepages-${size}`)
        mkdirSync(hp, { recursive: true })
        writeFileSync(join(hp, 'nr_hugepages'), `${pages}\n`)
      }
    })
  }
}

function kubectl(
  args: string[],
  input?: string,
  kc = kubeconfig,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      ['--kubeconfig', kc, '--request-timeout=20s', ...args],
      { env: { ...process.env, HOME: home, KUBECONFIG: kc }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
      },
    )
    if (input !== undefined) child.stdin!.end(input)
  })
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input)
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`)
  return r.stdout
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
}

function start(cmd: string, args: string[], log: string): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TALOS_LAB_DIR: labDir } })
  const chunks: string[] = []
  child.stdout!.on('data', (d) => chunks.push(String(d)))
  child.stderr!.on('data', (d) => chunks.push(String(d)))
  child.on('exit', () => existsSync(dir) && writeFileSync(join(dir, log), chunks.join('')))
  ;(child as ChildProcess & { output: string[] }).output = chunks
  procs.push(child)
  return child
}

let etcd: ChildProcess
let api: ChildProcess
let api2: ChildProcess

before(async () => {
  mkdirSync(home, { recursive: true })
  writeLab()
  etcd = start(
    'etcd',
    [
      '--name',
      'cp1',
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client-urls',
      `http://${ETCD}:2379`,
      '--advertise-client-urls',
      `http://${ETCD}:2379`,
      '--listen-peer-urls',
      `http://${ETCD}:2380`,
      '--initial-advertise-peer-urls',
      `http://${ETCD}:2380`,
      '--initial-cluster',
      `cp1=http://${ETCD}:2380`,
      '--initial-cluster-state',
      'new',
    ],
    'etcd.log',
  )
  await waitForPort(ETCD, 2379, 15_000)
  const e = tsEntry('lab/kube-api/server.ts', ['--node', 'cp1', '--lab-dir', labDir])
  api = start(e.cmd, e.args, 'kube-api.log')
  await waitForPort('127.0.60.11', 6443, 30_000)
  await waitForPort(VIP, 6443, 30_000)
  const e2 = tsEntry('lab/kube-api/server.ts', ['--node', 'cp2', '--lab-dir', labDir])
  api2 = start(e2.cmd, e2.args, 'kube-api-cp2.log')
  await waitForPort('127.0.60.12', 6443, 30_000)
  writeFileSync(
    kubeconfig,
    buildAdminKubeconfig({
      clusterName: 'kube-api-test',
      endpoint: `https://${VIP}:6443`,
      caCrtPem: ca.crt,
      caKeyPem: ca.key,
    }),
    { mode: 0o600 },
  )
})

after(async () => {
  for (const p of procs.reverse()) await stopPid(p.pid, 3000)
  if (!process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true })
})

function httpsGet(path: string, host = VIP): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port: 6443, path, rejectUnauthorized: false, timeout: 5000 }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

const podYaml = (name: string, huge: string, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  tolerations:
  - {key: solana.org/validator, operator: Equal, value: "true", effect: NoSchedule}
${extra}  containers:
  - name: agave
    image: anzaxyz/agave:v2.2.14
    resources:
      limits: {cpu: "2", memory: 4Gi, hugepages-1Gi: ${huge}}
`

describe('pure helpers', () => {
  it('formats ages and quantities as Kubernetes does', () => {
    assert.equal(humanDuration(45_000), '45s')
    assert.equal(humanDuration(5 * 60_000 + 30_000), '5m30s')
    assert.equal(humanDuration(3 * 3600_000 + 5 * 60_000), '3h5m')
    assert.equal(parseQuantity('1Gi'), 2 ** 30)
    assert.equal(parseQuantity('1500m'), 1.5)
    assert.equal(formatBinary(8 * 2 ** 30), '8Gi')
  })
  it('strategic merge patches lists by key and deletes with null', () => {
    const cur = {
      metadata: { labels: { a: '1', b: '2' } },
      spec: {
        containers: [
          { name: 'x', image: 'i:1' },
          { name: 'y', image: 'j:1' },
        ],
      },
    }
    const out = strategicMerge(cur, {
      metadata: { labels: { a: null, c: '3' } },
      spec: { containers: [{ name: 'y', image: 'j:2' }] },
    }) as any
    assert.deepEqual(out.metadata.labels, { b: '2', c: '3' })
    assert.deepEqual(
      out.spec.containers.map((c: any) => c.image),
      ['i:1', 'j:2'],
    )
  })
})

describe('lab kube-api with the real kubectl', () => {
  it('serves discovery and version, and lists the lab nodes Ready with roles and real columns', async () => {
    const v = JSON.parse(await ok(['version', '-o', 'json']))
    assert.equal(v.serverVersion.gitVersion, 'v1.33.1')
    const out = await eventually('3 Ready nodes', async () => {
      const o = await ok(['get', 'nodes', '-o', 'wide'])
      return (o.match(/ Ready /g) ?? []).length === 4 ? o : undefined
    })
    const lines = out.trim().split('\n')
    assert.match(
      lines[0],
      /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP\s+EXTERNAL-IP\s+OS-IMAGE\s+KERNEL-VERSION\s+CONTAINER-RUNTIME$/,
    )
    assert.match(
      out,
      /cp1\s+Ready\s+control-plane\s+\S+\s+v1\.33\.1\s+127\.0\.60\.11\s+<none>\s+Talos \(v1\.10\.3\)\s+\S+\s+containerd:\/\/2\.0\.5/,
    )
    assert.match(out, /validator1\s+Ready\s+<none>\s+\S+\s+v1\.33\.1\s+127\.0\.60\.21/)
    const v1 = JSON.parse(await ok(['get', 'node', 'validator1', '-o', 'json']))
    assert.equal(v1.status.capacity['hugepages-1Gi'], '8Gi')
    assert.equal(v1.status.allocatable['hugepages-1Gi'], '8Gi')
    assert.equal(v1.status.capacity.cpu, '8')
    assert.equal(v1.status.allocatable.cpu, '6') // 8 - systemReserved 1 - kubeReserved 1
    const capMem = parseQuantity(v1.status.capacity.memory)
    assert.equal(
      parseQuantity(v1.status.allocatable.memory),
      capMem - 2 * 2 ** 30 - 2 ** 30 - 500 * 2 ** 20 - 8 * 2 ** 30,
    )
    assert.equal(v1.metadata.labels['solana.org/role'], 'validator')
    assert.deepEqual(v1.spec.taints, [{ key: 'solana.org/validator', value: 'true', effect: 'NoSchedule' }])
    const cp1 = JSON.parse(await ok(['get', 'node', 'cp1', '-o', 'json']))
    assert.ok(
      cp1.spec.taints.some((t: any) => t.key === 'node-role.kubernetes.io/control-plane' && t.effect === 'NoSchedule'),
    )
    const ns = await ok(['get', 'namespaces', '-o', 'name'])
    for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
      assert.match(ns, new RegExp(`namespace/${n}\\n`))
    const sys = await eventually('static pods', async () => {
      const o = await ok(['get', 'pods', '-n', 'kube-system'])
      return /kube-apiserver-cp1\s+1\/1\s+Running/.test(o) ? o : undefined
    })
    assert.match(sys, /kube-scheduler-cp1\s+1\/1\s+Running/)
  })

  it('keeps labels and taints set with kubectl label/taint', async () => {
    assert.match(await ok(['label', 'node', 'worker1', 'team=ops']), /node\/worker1 labeled/)
    assert.match(await ok(['taint', 'node', 'worker1', 'dedicated=ops:NoSchedule']), /node\/worker1 tainted/)
    await new Promise((r) => setTimeout(r, 1500)) // several controller passes
    const w = JSON.parse(await ok(['get', 'node', 'worker1', '-o', 'json']))
    assert.equal(w.metadata.labels.team, 'ops')
    assert.equal(w.metadata.labels['kubernetes.io/hostname'], 'worker1')
    assert.deepEqual(w.spec.taints, [{ key: 'dedicated', value: 'ops', effect: 'NoSchedule' }])
    assert.match(await ok(['get', 'nodes', '-l', 'team=ops', '-o', 'name']), /^node\/worker1\n$/)
  })

  it("NodeRestriction: a node's credentials may set allowed labels on itself, never its taints, other nodes or restricted labels", async () => {
    // the kubelet's credentials: CN system:node:worker1, O system:nodes, from the cluster CA
    const kc = parseYaml(
      buildAdminKubeconfig({
        clusterName: 'kube-api-test',
        endpoint: `https://${VIP}:6443`,
        caCrtPem: ca.crt,
        caKeyPem: ca.key,
      }),
    )
    const node = issueCert(ca, { cn: 'system:node:worker1', org: ['system:nodes'], usage: 'client' })
    kc.users[0].user = { 'client-certificate-data': b64(node.crt), 'client-key-data': b64(node.key) }
    const kcFile = join(dir, 'kubeconfig-worker1')
    writeFileSync(kcFile, stringify(kc), { mode: 0o600 })
    const asNode = (args: string[]) => kubectl(args, undefined, kcFile)
    const first = await asNode(['label', 'node', 'worker1', 'solana.org/tier=a'])
    assert.match(first.stdout, /node\/worker1 labeled/, first.stderr)
    assert.match(
      (await asNode(['label', 'node', 'worker1', 'node.kubernetes.io/pool=a'])).stdout,
      /node\/worker1 labeled/,
    )
    const taint = await asNode(['taint', 'node', 'worker1', 'x=y:NoSchedule'])
    assert.notEqual(taint.code, 0)
    assert.match(
      taint.stderr,
      /Error from server \(Forbidden\): nodes "worker1" is forbidden: node "worker1" is not allowed to modify taints/,
    )
    const role = await asNode(['label', 'node', 'worker1', 'node-role.kubernetes.io/validator='])
    assert.match(
      role.stderr,
      /nodes "worker1" is forbidden: is not allowed to modify labels: node-role\.kubernetes\.io\/validator/,
    )
    const restricted = await asNode(['label', 'node', 'worker1', 'node-restriction.kubernetes.io/solana=true'])
    assert.match(restricted.stderr, /is not allowed to modify labels: node-restriction\.kubernetes\.io\/solana/)
    const other = await asNode(['label', 'node', 'validator1', 'a=b'])
    assert.match(
      other.stderr,
      /nodes "validator1" is forbidden: node "worker1" is not allowed to modify node "validator1"/,
    )
    assert.match((await asNode(['get', 'pods'])).stderr, /Forbidden/)
    // the validator registered with its taint (registerWithTaints), not through Talos' sync
    const v1 = JSON.parse(await ok(['get', 'node', 'validator1', '-o', 'json']))
    assert.deepEqual(v1.spec.taints, [{ key: 'solana.org/validator', value: 'true', effect: 'NoSchedule' }])
    await ok(['label', 'node', 'worker1', 'solana.org/tier-', 'node.kubernetes.io/pool-'])
  })

  /**
   * The Talos sync runs in the VIP holder's controllers only (lab/kube-api/server.ts). A holder whose etcd probe fails
   * for 2 s on a loaded machine gives the VIP up without resigning, and the next holder waits out the election lease:
   * Talos's 60 s (lab/kube-api/vip-election.ts). So a pass can be a lease and a campaign round away.
   */
  const SYNC_WAIT_MS = 150_000
  const apiLogs = () => [api, api2].map((p) => (p as ChildProcess & { output: string[] }).output.join(''))
  /** eventually(), and on a timeout both API servers' last lines (who held the VIP, what the controllers said). */
  const synced = <T>(what: string, fn: () => Promise<T | undefined>) =>
    eventually(what, fn, SYNC_WAIT_MS).catch((e: Error) => {
      const tails = apiLogs().map(
        (l, i) => `--- api${i ? 2 : ''} (last lines):\n${l.split('\n').slice(-15).join('\n')}`,
      )
      throw new Error(`${e.message}\n${tails.join('\n')}`, { cause: e })
    })
  const roleLabel = async () =>
    JSON.parse(await ok(['get', 'node', 'worker1', '-o', 'json'])).metadata.labels['solana.org/role']

  it("Talos on a worker writes machine.nodeTaints with the node's credentials: refused, labels of the same update too", async () => {
    const f = join(labDir, 'nodes', 'worker1', 'config.yaml')
    const before = readFileSync(f, 'utf8')
    writeFileSync(
      f,
      before.replace(
        '  network:\n',
        "  nodeLabels:\n    solana.org/role: spare\n  nodeTaints:\n    solana.org/spare: 'true:NoSchedule'\n  network:\n",
      ),
      { mode: 0o600 },
    )
    try {
      await synced(
        'the refusal in the API server log',
        async () =>
          // either API server's controllers may run the sync: look in both logs
          /node worker1: Talos node label\/taint update refused: nodes "worker1" is forbidden: node "worker1" is not allowed to modify taints/.test(
            apiLogs().join(''),
          ) || undefined,
      )
      const w = JSON.parse(await ok(['get', 'node', 'worker1', '-o', 'json']))
      assert.equal(w.metadata.labels['solana.org/role'], undefined)
      assert.ok(!(w.spec.taints ?? []).some((t: any) => t.key === 'solana.org/spare'))
      // labels alone are within what the node may set: Talos applies them
      writeFileSync(f, before.replace('  network:\n', '  nodeLabels:\n    solana.org/role: spare\n  network:\n'), {
        mode: 0o600,
      })
      await synced('worker1 labelled by Talos', async () => (await roleLabel()) === 'spare' || undefined)
    } finally {
      writeFileSync(f, before, { mode: 0o600 })
    }
    await synced('label gone with the config', async () => (await roleLabel()) === undefined || undefined)
  })

  it('files pending kubelet-serving CSRs and signs them once approved', async () => {
    const out = await ok(['get', 'csr'])
    assert.match(out.split('\n')[0], /^NAME\s+AGE\s+SIGNERNAME\s+REQUESTOR\s+REQUESTEDDURATION\s+CONDITION$/)
    for (const n of ['cp1', 'validator1', 'worker1'])
      assert.match(out, new RegExp(`kubernetes.io/kubelet-serving\\s+system:node:${n}\\s+<none>\\s+Pending`))
    const list = JSON.parse(await ok(['get', 'csr', '-o', 'json']))
    const csr = list.items.find((c: any) => c.spec.username === 'system:node:worker1')
    assert.match(await ok(['certificate', 'approve', csr.metadata.name]), /approved/)
    const issued = await eventually('certificate issued', async () => {
      const c = JSON.parse(await ok(['get', 'csr', csr.metadata.name, '-o', 'json']))
      return c.status.certificate ? c : undefined
    })
    assert.equal(issued.status.conditions[0].type, 'Approved')
    const cert = new X509Certificate(Buffer.from(issued.status.certificate, 'base64').toString())
    assert.match(cert.subject, /CN=system:node:worker1/)
    assert.match(cert.subjectAltName ?? '', /DNS:worker1.*IP Address:127\.0\.60\.22/)
    assert.ok(cert.verify(new X509Certificate(ca.crt).publicKey))
    assert.match(await ok(['get', 'csr', csr.metadata.name]), /Approved,Issued/)
  })

  it('kubectl create configmap (a protobuf body) stores its data, binary data and labels as a real API server does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cm-'))
    writeFileSync(join(dir, 'blob.bin'), Buffer.from([0xff, 0x00, 0x80]))
    assert.match(
      await ok([
        'create',
        'configmap',
        'drill-a',
        '--from-literal=written=before',
        `--from-file=${join(dir, 'blob.bin')}`,
      ]),
      /configmap\/drill-a created/,
    )
    rmSync(dir, { recursive: true, force: true })
    await ok(['label', 'configmap', 'drill-a', 'solana.org/drill=yes'])
    const cm = JSON.parse(await ok(['get', 'configmap', 'drill-a', '-o', 'json']))
    assert.deepEqual(cm.data, { written: 'before' })
    assert.deepEqual(cm.binaryData, { 'blob.bin': Buffer.from([0xff, 0x00, 0x80]).toString('base64') })
    assert.equal(cm.metadata.labels['solana.org/drill'], 'yes')
    assert.match(await ok(['delete', 'configmap', 'drill-a']), /deleted/)
  })

  it('schedules a hugepages pod that tolerates the validator taint onto the validator node', async () => {
    assert.match(await ok(['apply', '-f', '-'], podYaml('validator', '4Gi')), /pod\/validator created/)
    await ok(['wait', '--for=condition=Ready', 'pod/validator', '--timeout=30s'])
    const out = await ok(['get', 'pods', '-o', 'wide'])
    assert.match(
      out.split('\n')[0],
      /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/,
    )
    assert.match(out, /validator\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.\d+\.\d+\s+validator1\s+<none>\s+<none>/)
    const p = JSON.parse(await ok(['get', 'pod', 'validator', '-o', 'json']))
    assert.equal(p.status.qosClass, 'Guaranteed')
    // re-applying the same file without validation is accepted too
    assert.match(
      await ok(['apply', '--validate=false', '-f', '-'], podYaml('validator', '4Gi')),
      /pod\/validator (unchanged|configured)/,
    )
  })

  it('leaves a pod needing more hugepages than exist Pending with the scheduler message', async () => {
    await ok(['apply', '--validate=false', '-f', '-'], podYaml('toobig', '16Gi'))
    const cond = await eventually('Unschedulable', async () => {
      const p = JSON.parse(await ok(['get', 'pod', 'toobig', '-o', 'json']))
      return p.status.conditions?.find((c: any) => c.type === 'PodScheduled' && c.reason === 'Unschedulable')
    })
    assert.equal(cond.status, 'False')
    assert.equal(
      cond.message,
      '0/4 nodes are available: 1 Insufficient hugepages-1Gi, 1 node(s) had untolerated taint {dedicated: ops}, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. ' +
        'preemption: 0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.',
    )
    assert.match(await ok(['get', 'pod', 'toobig']), /toobig\s+0\/1\s+Pending/)
    const ev = await ok(['get', 'events', '--field-selector', 'involvedObject.name=toobig'])
    assert.match(ev, /Warning\s+FailedScheduling\s+pod\/toobig\s+0\/4 nodes are available/)
    assert.match(await ok(['delete', 'pod', 'toobig']), /pod "toobig" deleted/)
    assert.equal((await kubectl(['get', 'pod', 'toobig'])).code, 1)
  })

  it('answers errors with the real Status messages', async () => {
    const r = await kubectl(['get', 'nodes', 'nosuch'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /Error from server \(NotFound\): nodes "nosuch" not found/)
    const bad = await kubectl(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Pod\nmetadata: {name: noimage}\nspec:\n  containers: [{name: c}]\n',
    )
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /Pod "noimage" is invalid: spec.containers\[0\].image: Required value/)
  })

  it('refuses requests without a client certificate from the cluster CA', async () => {
    const anon = await httpsGet('/api/v1/nodes')
    assert.equal(anon.status, 401)
    assert.equal(JSON.parse(anon.body).reason, 'Unauthorized')
    const other = generateCa('someone-else')
    const kc = buildAdminKubeconfig({
      clusterName: 'kube-api-test',
      endpoint: `https://${VIP}:6443`,
      caCrtPem: ca.crt,
      caKeyPem: ca.key,
    }).replace(
      /client-certificate-data: .*/,
      `client-certificate-data: ${b64(issueCert(other, { cn: 'mallory', org: ['system:masters'], usage: 'client' }).crt)}`,
    )
    const kcFile = join(dir, 'kubeconfig-other')
    writeFileSync(kcFile, kc, { mode: 0o600 })
    const r = await kubectl(['get', 'nodes'], '', kcFile)
    assert.notEqual(r.code, 0)
  })

  it('marks a node that goes down NotReady, then Ready again', async () => {
    const f = join(labDir, 'nodes', 'worker1', 'node.json')
    const node = JSON.parse(readFileSync(f, 'utf8'))
    writeFileSync(f, JSON.stringify({ ...node, faults: { down: true } }))
    await eventually('worker1 NotReady', async () => /worker1\s+NotReady/.test(await ok(['get', 'nodes'])) || undefined)
    const w = JSON.parse(await ok(['get', 'node', 'worker1', '-o', 'json']))
    assert.equal(w.status.conditions.find((c: any) => c.type === 'Ready').status, 'Unknown')
    assert.ok(w.spec.taints.some((t: any) => t.key === 'node.kubernetes.io/unreachable'))
    writeFileSync(f, JSON.stringify(node))
    await eventually('worker1 Ready', async () => /worker1\s+Ready/.test(await ok(['get', 'nodes'])) || undefined)
  })

  it('hands the VIP to another API server when the holder dies', async () => {
    const out = (api as ChildProcess & { output: string[] }).output.join('')
    assert.match(out, /holding the cluster VIP 127\.0\.60\.10:6443/)
    assert.doesNotMatch((api2 as ChildProcess & { output: string[] }).output.join(''), /holding the cluster VIP/)
    await stopPid(api.pid, 3000)
    await eventually(
      'cp2 holds the VIP',
      async () =>
        /holding the cluster VIP/.test((api2 as ChildProcess & { output: string[] }).output.join('')) || undefined,
    )
    assert.match(await ok(['get', 'nodes', 'cp1']), /cp1\s+Ready/)
    // the new holder runs the controllers: a new pod still gets scheduled
    await ok(['apply', '-f', '-'], podYaml('after-failover', '1Gi'))
    await ok(['wait', '--for=condition=Ready', 'pod/after-failover', '--timeout=30s'])
  })

  it('fails readyz and API calls once its etcd is gone', async () => {
    assert.equal((await httpsGet('/readyz', '127.0.60.12')).body, 'ok')
    await stopPid(etcd.pid, 3000)
    const r = await httpsGet('/readyz?verbose', '127.0.60.12')
    assert.equal(r.status, 500)
    assert.match(r.body, /\[-\]etcd failed/)
    assert.match(r.body, /readyz check failed/)
    const k = await kubectl(['get', 'nodes'], undefined, kubeconfig)
    assert.equal(k.code, 1)
  })
})
