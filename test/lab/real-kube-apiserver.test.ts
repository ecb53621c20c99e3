// Issue #23, first slice: the product's rendered control-plane config judged by the REAL kube-apiserver,
// kube-controller-manager and kube-scheduler v1.33.1. cp1's machine config (rendered by the product from
// inventory/lab.yaml and a real `talosctl gen secrets` bundle) is turned into the flags and files Talos v1.10.3 would
// give those static pods (`talos-api render-control-plane`); etcd runs with TLS as Talos runs it; the real kubectl
// drives the result with an admin credential and node credentials issued from the cluster CA as Talos issues them.
// No kubelet runs: where one would call the API (registering the Node, reporting Ready), the test does, with the
// node's credential.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { findKubeComponent, KUBERNETES_BUILDS, KUBERNETES_VERSION, talosApiBinary } from '../../lab/go-builds.ts'
import {
  flagValue,
  kubeletBootstrapping,
  renderBootstrapManifests,
  writeKubeconfig,
  type RenderedControlPlane,
} from '../../lab/control-plane.ts'
import { guardedWorkload, startRealControlPlane, type RealControlPlane } from '../../lab/real-control-plane.ts'
import { loadInventory } from '../../config/inventory.ts'
import { permissionsPodManifest } from '../../steps/05-storage-tuning/steps.ts'
import { REPO_ROOT } from '../../config/cluster.ts'
import { Kube } from '../../lib/kube/kubectl.ts'
import { approveCsrs } from '../../steps/join.ts'
import { cordonAndDrain } from '../../steps/09-upgrade/talos.ts'

const IP = '127.0.131.11' // cp1 in this test; 127.0.131.x is this test's range
const built = (name: string) => findKubeComponent(KUBERNETES_BUILDS.find((b) => b.name === name)!)
const skip = !built('kube-apiserver') && 'kube-apiserver v1.33.1 is not built: run `npm run lab:preflight`'
const skipCm = skip || (!built('kube-controller-manager') && 'kube-controller-manager v1.33.1 is not built yet')
const skipScheduler = skipCm || (!built('kube-scheduler') && 'kube-scheduler v1.33.1 is not built yet')

let dir = ''
let cp: RenderedControlPlane
let plane: RealControlPlane | undefined
let validatorConfig: Record<string, any>
const inventory = loadInventory(join(REPO_ROOT, 'inventory/lab.yaml'))
const kubeconfigs: Record<'admin' | 'validator1' | 'cp1', string> = { admin: '', validator1: '', cp1: '' }

function kubectl(who: keyof typeof kubeconfigs, args: string[], input?: string) {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfigs[who], ...args], { encoding: 'utf8', input })
  return { status: r.status, out: r.stdout, err: r.stderr }
}

function ok(who: keyof typeof kubeconfigs, args: string[], input?: string): string {
  const r = kubectl(who, args, input)
  assert.equal(r.status, 0, `kubectl ${args.join(' ')} as ${who}: ${r.err}`)
  return r.out
}

before(async () => {
  if (skip) return
  dir = mkdtempSync(join(tmpdir(), 'real-kube-apiserver-'))
  plane = await startRealControlPlane({
    inventory,
    node: 'cp1',
    ip: IP,
    dir,
    controllerManager: !skipCm,
    scheduler: !skipScheduler,
  })
  cp = plane.cp
  validatorConfig = parseAllDocuments(plane.configs.get('validator1')!)[0]!.toJS() as Record<string, any>
  // admin as Talos's own clients (constants.KubernetesAdminCertCommonName/Organization); nodes as kubelet's
  // credential names them (system:node:<name> in system:nodes, what the Node authorizer and NodeRestriction read)
  kubeconfigs.admin = plane.adminKubeconfig
  for (const n of ['validator1', 'cp1'] as const)
    kubeconfigs[n] = plane.kubeconfigFor(n, `system:node:${n}`, ['system:nodes'])
})

let heartbeat: NodeJS.Timeout | undefined
after(async () => {
  clearInterval(heartbeat)
  await plane?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

test('the real kube-apiserver v1.33.1 runs with the flags Talos renders for cp1', { skip }, async () => {
  const version = JSON.parse(ok('admin', ['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } }
  assert.equal(version.serverVersion.gitVersion, KUBERNETES_VERSION)
  assert.equal(cp.image, `registry.k8s.io/kube-apiserver:${KUBERNETES_VERSION}`)
  // manageAPIServer: NodeRestriction only (disablePodSecurityPolicy: true), no anonymous requests, and for
  // v1.29+ without authorization-mode in extraArgs the authorization config file (Node, RBAC), not the flag
  assert.equal(flagValue(cp.args, 'enable-admission-plugins'), 'NodeRestriction')
  assert.equal(flagValue(cp.args, 'anonymous-auth'), 'false')
  assert.equal(flagValue(cp.args, 'authorization-mode'), undefined)
  assert.match(readFileSync(flagValue(cp.args, 'authorization-config')!, 'utf8'), /type: Node\n[^]*type: RBAC\n/)
  assert.equal(flagValue(cp.args, 'etcd-servers'), 'https://localhost:2379') // what Talos gives; the lab overrides
  const anonymous = await new Promise<number>((resolve, reject) => {
    const req = request({ host: IP, port: 6443, path: '/version', rejectUnauthorized: false }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
  assert.equal(anonymous, 401)
  // the serving cert's SANs as KubernetesCertSANsController computes them (kubectl, verifying it against ca.crt at
  // the node's address, already relies on one of them)
  const sans = new X509Certificate(readFileSync(flagValue(cp.args, 'tls-cert-file')!)).subjectAltName?.split(', ')
  assert.deepEqual(sans?.sort(), [
    'DNS:cp1',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
    'DNS:localhost',
    'IP Address:10.96.0.1', // the first service IP
    'IP Address:127.0.0.1',
    'IP Address:127.0.10.10', // the endpoint's host, the VIP
    `IP Address:${IP}`,
  ])
  // secrets really go through the rendered encryption config: stored with secretbox, key2 (Talos's template)
  ok('admin', ['create', 'secret', 'generic', 'probe', '--from-literal=a=b'])
  assert.match(ok('admin', ['get', 'secret', 'probe', '-o', 'jsonpath={.data.a}']), /^Yg==$/)
  const certs = (f: string) => join(cp.dir, 'secrets', f)
  const raw = spawnSync(
    'etcdctl',
    [
      `--endpoints=https://${IP}:2379`,
      `--cacert=${certs('etcd-client-ca.crt')}`,
      `--cert=${certs('etcd-client.crt')}`,
      `--key=${certs('etcd-client.key')}`,
      'get',
      '/registry/secrets/default/probe',
      '--print-value-only',
    ],
    { env: { ...process.env, ETCDCTL_API: '3' } },
  )
  assert.equal(raw.status, 0, raw.stderr.toString())
  assert.match(raw.stdout.toString('latin1'), /^k8s:enc:secretbox:v1:key2:/)
})

function pod(name: string, spec: Record<string, unknown>) {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', ...spec }] },
  })
}

/** A namespace with its default service account (kube-controller-manager's, or made here when it is not built). */
async function namespace(name: string, labels: string[] = []) {
  if (name !== 'kube-system') ok('admin', ['create', 'namespace', name])
  if (labels.length) ok('admin', ['label', 'namespace', name, ...labels])
  const missing = () => kubectl('admin', ['-n', name, 'get', 'serviceaccount', 'default']).status !== 0
  if (skipCm && missing()) ok('admin', ['-n', name, 'create', 'serviceaccount', 'default'])
  else await waitForDefaultServiceAccount(name)
}

async function waitForDefaultServiceAccount(ns: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  while (kubectl('admin', ['-n', ns, 'get', 'serviceaccount', 'default']).status !== 0) {
    assert.ok(Date.now() < deadline, `no default service account in ${ns} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

test(
  "kube-controller-manager with Talos's flags and kubeconfig runs its controllers against the real API",
  { skip: skipCm },
  async () => {
    assert.ok(cp.controllerManager)
    assert.equal(flagValue(cp.controllerManager.args, 'controllers'), '*,tokencleaner')
    assert.ok(cp.controllerManager.args.includes('--use-service-account-credentials'))
    ok('admin', ['create', 'namespace', 'kcm-probe'])
    await waitForDefaultServiceAccount('kcm-probe') // the serviceaccount controller, with its own credentials
    // the root CA publisher puts the rendered root-ca-file into every namespace
    const ca = ok('admin', [
      '-n',
      'kcm-probe',
      'get',
      'configmap',
      'kube-root-ca.crt',
      '-o',
      'jsonpath={.data.ca\\.crt}',
    ])
    assert.equal(ca.trim(), readFileSync(join(cp.dir, 'controller-manager', 'ca.crt'), 'utf8').trim())
  },
)

test(
  'PodSecurity as rendered (enforce baseline): host pods refused in a plain namespace, admitted in a privileged one',
  { skip },
  async () => {
    const host = JSON.parse(pod('host', { securityContext: { privileged: true } })) as { spec: Record<string, unknown> }
    const manifest = JSON.stringify({ ...host, spec: { ...host.spec, hostNetwork: true } })

    await namespace('plain')
    const refused = kubectl('admin', ['-n', 'plain', 'create', '--dry-run=server', '-f', '-'], manifest)
    assert.notEqual(refused.status, 0)
    assert.match(
      refused.err,
      /violates PodSecurity "baseline:latest": host namespaces \(hostNetwork=true\), privileged/,
    )

    // baseline lets a plain pod in, with the rendered warn level (restricted) saying what it lacks
    const plain = kubectl('admin', ['-n', 'plain', 'create', '--dry-run=server', '-f', '-'], pod('plain', {}))
    assert.equal(plain.status, 0, plain.err)
    assert.match(plain.err, /would violate PodSecurity "restricted:latest"/)

    await namespace('solana', ['pod-security.kubernetes.io/enforce=privileged'])
    const admitted = kubectl('admin', ['-n', 'solana', 'create', '--dry-run=server', '-f', '-'], manifest)
    assert.equal(admitted.status, 0, admitted.err)

    // kube-system is exempt in the rendered admissionControl
    await namespace('kube-system')
    const system = kubectl('admin', ['-n', 'kube-system', 'create', '--dry-run=server', '-f', '-'], manifest)
    assert.equal(system.status, 0, system.err)
  },
)

test(
  'NodeRestriction: validator1 registers with the rendered taints, sets the rendered labels on itself, and nothing more',
  { skip },
  () => {
    const kubelet = validatorConfig.machine.kubelet as { extraConfig?: { registerWithTaints?: unknown[] } }
    const taints = kubelet.extraConfig?.registerWithTaints ?? []
    const labels = validatorConfig.machine.nodeLabels as Record<string, string>
    assert.ok(taints.length > 0 && Object.keys(labels).length > 0, 'the validator config renders taints and labels')

    // kubelet registers the Node with registerWithTaints (kubelet's own labels only)
    const node = (name: string, extra: Record<string, string> = {}, spec: Record<string, unknown> = {}) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...extra } },
        spec,
      })
    ok('cp1', ['create', '-f', '-'], node('cp1'))
    ok('validator1', ['create', '-f', '-'], node('validator1', {}, { taints }))

    // Talos's NodeApplyController (controllers/k8s/node_apply.go) then updates the Node with the kubelet's credential
    // on a worker: the rendered machine.nodeLabels must pass NodeRestriction
    const set = Object.entries(labels).map(([k, v]) => `${k}=${v}`)
    ok('validator1', ['label', 'node', 'validator1', ...set])
    const got = JSON.parse(ok('admin', ['get', 'node', 'validator1', '-o', 'json'])) as {
      metadata: { labels: Record<string, string> }
      spec: { taints: unknown[] }
    }
    for (const [k, v] of Object.entries(labels)) assert.equal(got.metadata.labels[k], v)
    // beside node.kubernetes.io/not-ready, which the TaintNodesByCondition admission plugin adds on create
    assert.deepEqual(
      got.spec.taints.filter((t) => !JSON.stringify(t).includes('node.kubernetes.io/not-ready')),
      taints,
    )

    for (const forbidden of ['node-restriction.kubernetes.io/pool=solana', 'node-role.kubernetes.io/validator=']) {
      const r = kubectl('validator1', ['label', 'node', 'validator1', forbidden])
      assert.notEqual(r.status, 0)
      assert.match(r.err, new RegExp(`is not allowed to modify labels: ${forbidden.split('=')[0]}`))
    }
    const created = kubectl(
      'validator1',
      ['create', '--dry-run=server', '-f', '-'],
      node('validator1', { 'node-role.kubernetes.io/validator': '' }),
    )
    assert.match(
      created.err,
      /node "validator1" is not allowed to set the following labels: node-role\.kubernetes\.io\/validator/,
    )

    // taints after registration are refused to a node: why the product renders registerWithTaints, not nodeTaints
    // (which Talos's NodeApplyController would apply with this same credential)
    const tainted = kubectl('validator1', ['taint', 'node', 'validator1', 'solana.org/extra=true:NoSchedule'])
    assert.notEqual(tainted.status, 0)
    assert.match(tainted.err, /node "validator1" is not allowed to modify taints/)

    // another node: the Node authorizer (AuthorizeNodeWithSelectors, on in v1.33) refuses reading it (kubectl label and
    // patch read first), and a blind PUT reaches NodeRestriction, which refuses it
    const read = kubectl('validator1', ['label', 'node', 'cp1', 'solana.org/role=validator'])
    assert.notEqual(read.status, 0)
    assert.match(read.err, /node 'validator1' cannot read 'cp1', only its own Node object/)
    const cp1 = node('cp1', { 'solana.org/role': 'validator' })
    const other = kubectl('validator1', ['replace', '--raw', '/api/v1/nodes/cp1', '-f', '-'], cp1)
    assert.notEqual(other.status, 0)
    assert.match(other.err, /nodes "cp1" is forbidden: node "validator1" is not allowed to modify node "cp1"/)
  },
)

/** A merge PATCH with a node's client certificate; resolves to the HTTP status. */
function patchAs(who: 'validator1', path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: IP,
        port: 6443,
        path,
        method: 'PATCH',
        headers: { 'content-type': 'application/merge-patch+json' },
        ca: readFileSync(join(cp.dir, 'secrets', 'ca.crt')),
        cert: readFileSync(join(dir, `${who}.crt`)),
        key: readFileSync(join(dir, `${who}.key`)),
      },
      (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

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

test(
  "kube-scheduler with Talos's flags keeps pods off the validator unless they tolerate its rendered taint",
  { skip: skipScheduler },
  async () => {
    // validator1 reports Ready as its kubelet would (its own status, its own credential); the controller manager's
    // node lifecycle controller then lifts node.kubernetes.io/not-ready
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
    const resources = { cpu: '64', memory: '256Gi', pods: '110' }
    const ready = {
      type: 'Ready',
      status: 'True',
      reason: 'KubeletReady',
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    }
    const status = JSON.stringify({ status: { conditions: [ready], capacity: resources, allocatable: resources } })
    // a blind PATCH as kubelet sends it (kubectl patch would read nodes/status first, which the Node authorizer refuses)
    assert.equal(await patchAs('validator1', '/api/v1/nodes/validator1/status', status), 200)
    // and again every 10 s (kubelet's nodeStatusUpdateFrequency), a fresh lastHeartbeatTime each time: without it the
    // node lifecycle controller marks validator1 Unknown after --node-monitor-grace-period and its pods not Ready,
    // which a slow run of the drain test below would read as the budget refusing
    heartbeat = setInterval(() => {
      const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
      const beat = JSON.stringify({ status: { conditions: [{ ...ready, lastHeartbeatTime: at }] } })
      patchAs('validator1', '/api/v1/nodes/validator1/status', beat).catch(() => undefined)
    }, 10_000)
    await until('validator1 without the not-ready taint', () => {
      const taints = ok('admin', ['get', 'node', 'validator1', '-o', 'jsonpath={.spec.taints[*].key}'])
      return taints.includes('node.kubernetes.io/not-ready') ? undefined : taints
    })

    const taint = (
      validatorConfig.machine.kubelet.extraConfig.registerWithTaints as { key: string; value: string }[]
    )[0]!
    const spec = (tolerations: unknown[]) => ({ tolerations, securityContext: {} })
    const manifest = (name: string, tolerations: unknown[]) => {
      const p = JSON.parse(pod(name, {})) as { spec: Record<string, unknown> }
      return JSON.stringify({ ...p, spec: { ...p.spec, ...spec(tolerations) } })
    }
    ok('admin', ['-n', 'solana', 'create', '-f', '-'], manifest('intolerant', []))
    const tolerant = [{ key: taint.key, operator: 'Equal', value: taint.value, effect: 'NoSchedule' }]
    ok('admin', ['-n', 'solana', 'create', '-f', '-'], manifest('tolerant', tolerant))

    const node = await until('the tolerant pod bound', () => {
      const n = ok('admin', ['-n', 'solana', 'get', 'pod', 'tolerant', '-o', 'jsonpath={.spec.nodeName}'])
      return n || undefined
    })
    assert.equal(node, 'validator1')
    const why = await until('the intolerant pod refused', () => {
      const jsonpath = 'jsonpath={.status.conditions[?(@.type=="PodScheduled")].message}'
      return ok('admin', ['-n', 'solana', 'get', 'pod', 'intolerant', '-o', jsonpath]) || undefined
    })
    assert.match(why, new RegExp(`untolerated taint.*\\{${taint.key}: ${taint.value}\\}`))
  },
)

test(
  "05's storage-permissions pod (privileged, hostPath, in kube-system) is admitted as the product renders it",
  { skip },
  async () => {
    const profile = inventory.validator!
    assert.ok(profile.storage?.length, 'the lab validator has volumes to chown')
    const pod = permissionsPodManifest('validator1', profile.storage, profile.taints ?? [])
    await namespace('kube-system') // its default service account
    const r = kubectl('admin', ['create', '--dry-run=server', '-o', 'json', '-f', '-'], JSON.stringify(pod))
    assert.equal(r.status, 0, r.err)
    assert.equal((JSON.parse(r.out) as { spec: { nodeName: string } }).spec.nodeName, 'validator1')
    // the same pod anywhere but the exempt kube-system would be refused by the rendered baseline
    const elsewhere = { ...pod, metadata: { ...pod.metadata, namespace: 'plain' } }
    const refused = kubectl('admin', ['create', '--dry-run=server', '-f', '-'], JSON.stringify(elsewhere))
    assert.match(refused.err, /violates PodSecurity "baseline:latest": .*hostPath volumes.*privileged/)
  },
)

/**
 * A kubelet's key and CSR (PEM), as kubelet makes them: O=system:nodes, CN=system:node:<name>; a serving CSR names its
 * SANs, a client CSR none (k8s.io/client-go util/certificate/csr).
 */
function kubeletCsr(node: string, tag: string, sans: string[] = []): { pem: string; key: string } {
  const key = join(dir, `${node}-${tag}.key`)
  const subject = ['-subj', `/O=system:nodes/CN=system:node:${node}`]
  const san = sans.length ? ['-addext', `subjectAltName=${sans.join(',')}`] : []
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      ...subject,
      ...san,
    ],
    { encoding: 'utf8' },
  )
  assert.equal(r.status, 0, r.stderr)
  return { pem: r.stdout, key }
}

const SERVING = { signerName: 'kubernetes.io/kubelet-serving', usages: ['digital signature', 'server auth'] }
const CLIENT = {
  signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
  usages: ['digital signature', 'client auth'],
}

function csrObject(name: string, pem: string, kind: typeof SERVING | typeof CLIENT = SERVING) {
  return JSON.stringify({
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name },
    spec: { request: Buffer.from(pem).toString('base64'), ...kind },
  })
}

test(
  "04's CSR approval: validator1's serving CSR approved, signed by kube-controller-manager with the cluster CA",
  { skip: skipCm },
  async () => {
    const v = inventory.nodes.find((n) => n.name === 'validator1')!
    // the kubelet, with its node credential, asks for a serving certificate for its own name and address, and a
    // second one naming an address that is not its own
    ok(
      'validator1',
      ['create', '-f', '-'],
      csrObject('csr-validator1', kubeletCsr('validator1', 'serving', [`DNS:validator1`, `IP:${v.address}`]).pem),
    )
    ok(
      'validator1',
      ['create', '-f', '-'],
      csrObject('csr-foreign', kubeletCsr('validator1', 'serving-foreign', ['DNS:validator1', 'IP:10.9.9.9']).pem),
    )

    // 04's step, through the product's kubectl wrapper with the admin kubeconfig
    const decisions = await approveCsrs({ kube: new Kube({ kubeconfig: kubeconfigs.admin }) }, inventory.nodes)
    const byName = new Map(decisions.map((d) => [d.name, d]))
    assert.equal(byName.get('csr-validator1')?.approve, true)
    assert.equal(byName.get('csr-foreign')?.approve, false)
    assert.match(byName.get('csr-foreign')!.reason, /SANs 10\.9\.9\.9 do not belong to validator1/)

    // the real csrsigning controller signs what is approved, with --cluster-signing-cert-file as Talos renders it
    const pem = await until('csr-validator1 signed', () => {
      const b64 = ok('admin', ['get', 'csr', 'csr-validator1', '-o', 'jsonpath={.status.certificate}'])
      return b64 ? Buffer.from(b64, 'base64').toString() : undefined
    })
    const cert = new X509Certificate(pem)
    const ca = new X509Certificate(readFileSync(join(cp.dir, 'secrets', 'ca.crt')))
    assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'signed by the cluster CA')
    assert.equal(cert.subject, 'O=system:nodes\nCN=system:node:validator1')
    assert.deepEqual(cert.subjectAltName?.split(', ').sort(), ['DNS:validator1', `IP Address:${v.address}`])
    // the foreign one is left pending: not approved, never signed
    const foreign = JSON.parse(ok('admin', ['get', 'csr', 'csr-foreign', '-o', 'json'])) as {
      status: { conditions?: unknown[]; certificate?: string }
    }
    assert.equal(foreign.status.conditions, undefined)
    assert.equal(foreign.status.certificate, undefined)
  },
)

/** A pod's status as its kubelet reports it: Running and Ready (a blind PATCH with the node's credential). */
async function reportReady(ns: string, podName: string): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const conditions = ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
    type,
    status: 'True',
    lastTransitionTime: now,
  }))
  const status = JSON.stringify({ status: { phase: 'Running', conditions, startTime: now } })
  assert.equal(await patchAs('validator1', `/api/v1/namespaces/${ns}/pods/${podName}/status`, status), 200)
}

test(
  "09's drain goes through the eviction API: a PodDisruptionBudget that allows no disruption keeps its pods",
  { skip: skipScheduler },
  async () => {
    // the scheduler test's bare pods would stop any drain on their own (no controller, and 09 does not --force)
    ok('admin', ['-n', 'solana', 'delete', 'pod', '--all', '--grace-period=0', '--force', '--wait=false'])
    const taint = (
      validatorConfig.machine.kubelet.extraConfig.registerWithTaints as { key: string; value: string }[]
    )[0]!
    const { replicaSet, budget } = guardedWorkload('solana', { ...taint, effect: 'NoSchedule' })
    ok('admin', ['create', '-f', '-'], JSON.stringify(replicaSet))
    // the replicaset controller makes the pods, the scheduler binds them to validator1, its "kubelet" reports them Ready
    const pods = await until('two guarded pods bound to validator1', () => {
      const out = ok('admin', [
        '-n',
        'solana',
        'get',
        'pods',
        '-l',
        'app=guarded',
        '-o',
        'jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{"\\n"}{end}',
      ])
      const bound = out
        .trim()
        .split('\n')
        .filter((l) => l.endsWith(' validator1'))
      return bound.length === 2 ? bound.map((l) => l.split(' ')[0]!) : undefined
    })
    for (const p of pods) await reportReady('solana', p)

    ok('admin', ['create', '-f', '-'], JSON.stringify(budget))
    // the disruption controller (kube-controller-manager) counts both healthy: no disruption allowed
    await until('the budget counted', () => {
      const s = ok('admin', [
        '-n',
        'solana',
        'get',
        'pdb',
        'guarded',
        '-o',
        'jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed}',
      ])
      return s === '2/0' ? s : undefined
    })

    const kube = new Kube({ kubeconfig: kubeconfigs.admin })
    const drained = await cordonAndDrain({ kube }, 'validator1', 6000).then(
      () => undefined,
      (e: Error) => e,
    )
    assert.ok(drained, 'the drain must fail while the budget allows no disruption')
    assert.match(
      String((drained as { stderr?: string }).stderr ?? drained.message),
      /Cannot evict pod as it would violate the pod's disruption budget/,
    )
    // both pods are still there, not terminating; the node stays cordoned for the operator to decide
    const left = JSON.parse(ok('admin', ['-n', 'solana', 'get', 'pods', '-l', 'app=guarded', '-o', 'json'])) as {
      items: { metadata: { deletionTimestamp?: string } }[]
    }
    assert.equal(left.items.length, 2)
    assert.ok(left.items.every((p) => !p.metadata.deletionTimestamp))
    assert.equal(ok('admin', ['get', 'node', 'validator1', '-o', 'jsonpath={.spec.unschedulable}']), 'true')

    // with room for one disruption the same evictions are accepted. Asked as a server-side dry run (no kubelet here
    // would finish a pod's deletion), which the budget governs too: refused at minAvailable 2, accepted at 1.
    const dryDrain = (timeout: string) =>
      kubectl('admin', ['drain', 'validator1', '--ignore-daemonsets', '--dry-run=server', `--timeout=${timeout}`])
    const dryRefused = dryDrain('6s')
    assert.notEqual(dryRefused.status, 0)
    assert.match(dryRefused.err, /Cannot evict pod as it would violate the pod's disruption budget/)
    ok('admin', ['-n', 'solana', 'patch', 'pdb', 'guarded', '--type=merge', '-p', '{"spec":{"minAvailable":1}}'])
    await until('one disruption allowed', () => {
      const s = ok('admin', ['-n', 'solana', 'get', 'pdb', 'guarded', '-o', 'jsonpath={.status.disruptionsAllowed}'])
      return s === '1' ? s : undefined
    })
    const dry = dryDrain('20s')
    assert.equal(dry.status, 0, dry.err)
    for (const p of pods) assert.match(dry.out, new RegExp(`evicting pod solana/${p} \\(server dry run\\)`))
    assert.match(dry.out, /node\/validator1 drained \(server dry run\)/)
    ok('admin', ['uncordon', 'validator1'])
  },
)

/** A kubeconfig that authenticates with a bearer token (kubelet's bootstrap kubeconfig). */
function tokenKubeconfig(file: string, token: string): string {
  const server = `https://${IP}:${flagValue(cp.args, 'secure-port')}`
  const ca = readFileSync(join(cp.dir, 'secrets', 'ca.crt')).toString('base64')
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server, 'certificate-authority-data': ca } }],
    users: [{ name: 'kubelet-bootstrap', user: { token } }],
    contexts: [{ name: 'lab', context: { cluster: 'lab', user: 'kubelet-bootstrap' } }],
    'current-context': 'lab',
  }
  writeFileSync(file, JSON.stringify(doc), { mode: 0o600 })
  return file
}

test(
  "a kubelet joins as Talos's do: bootstrap token, client CSR auto-approved by kube-controller-manager under Talos's RBAC",
  { skip: skipCm },
  async () => {
    const cp1 = parseAllDocuments(readFileSync(join(dir, 'cp1.yaml'), 'utf8'))[0]!.toJS() as {
      cluster: { token: string }
    }
    // what Talos's manifest controller applies once the cluster is bootstrapped, as its ManifestController renders it
    const manifests = renderBootstrapManifests(talosApiBinary(), join(dir, 'cp1.yaml'), join(dir, 'manifests'))
    ok('admin', ['apply', '-f', '-'], kubeletBootstrapping(manifests))
    const bootstrap = tokenKubeconfig(join(dir, 'bootstrap.kubeconfig'), cp1.cluster.token)
    const as = (kubeconfig: string, args: string[], input?: string) => {
      const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input })
      return { status: r.status, out: r.stdout, err: r.stderr }
    }
    const csr = (name: string, pem: string) => csrObject(name, pem, CLIENT)

    // validator1's node credential asking a client certificate for another node is refused at once (NodeRestriction
    // checks a node's CSRs since Kubernetes v1.31)
    const foreign = kubeletCsr('worker1', 'client-foreign')
    const refused = kubectl('validator1', ['create', '-f', '-'], csr('node-csr-foreign', foreign.pem))
    assert.notEqual(refused.status, 0)
    assert.match(refused.err, /can only create a node CSR with CN=system:node:validator1/)

    // worker1's kubelet, with only the bootstrap token, asks for its client certificate
    const { pem, key } = kubeletCsr('worker1', 'client-bootstrap')
    const created = as(bootstrap, ['create', '-f', '-'], csr('node-csr-worker1', pem))
    assert.equal(created.status, 0, created.err)
    const b64 = await until('node-csr-worker1 approved and signed', () => {
      const r = ok('admin', ['get', 'csr', 'node-csr-worker1', '-o', 'jsonpath={.status.certificate}'])
      return r || undefined
    })
    const got = JSON.parse(ok('admin', ['get', 'csr', 'node-csr-worker1', '-o', 'json'])) as {
      spec: { username: string; groups: string[] }
      status: { conditions: { type: string; reason: string }[] }
    }
    assert.match(got.spec.username, /^system:bootstrap:[a-z0-9]{6}$/)
    assert.ok(got.spec.groups.includes('system:bootstrappers:nodes'))
    assert.deepEqual(
      got.status.conditions.map((c) => `${c.type}/${c.reason}`),
      ['Approved/AutoApproved'],
    )
    const cert = new X509Certificate(Buffer.from(b64, 'base64'))
    const ca = new X509Certificate(readFileSync(join(cp.dir, 'secrets', 'ca.crt')))
    assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'signed by the cluster CA')
    // with the issued certificate worker1 is system:node:worker1: it registers its Node, and may not touch others
    writeFileSync(join(dir, 'worker1.crt'), Buffer.from(b64, 'base64'), { mode: 0o600 })
    writeFileSync(join(dir, 'worker1.key'), readFileSync(key), { mode: 0o600 })
    const server = `https://${IP}:${flagValue(cp.args, 'secure-port')}`
    const worker1 = writeKubeconfig(
      join(dir, 'worker1.kubeconfig'),
      server,
      join(cp.dir, 'secrets', 'ca.crt'),
      join(dir, 'worker1'),
    )
    const node = JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'worker1' } })
    const reg = as(worker1, ['create', '-f', '-'], node)
    assert.equal(reg.status, 0, reg.err)
    const other = as(worker1, ['get', 'node', 'validator1'])
    assert.notEqual(other.status, 0)
    assert.match(other.err, /node 'worker1' cannot read 'validator1'/)
    // the bootstrap token itself cannot read nodes: it only gets the kubelet to its certificate
    const tokenRead = as(bootstrap, ['get', 'nodes'])
    assert.notEqual(tokenRead.status, 0)
    assert.match(tokenRead.err, /forbidden/)
  },
)
