// Issue #23, stage 2: a lab whose machines run the REAL control plane (lab.json "kubernetes": "real"), on a lab of its
// own (127.0.197.x, the cluster endpoint a VIP at .10). Nothing but the lab's machines is started by this test: a
// talosctl bootstrap brings up etcd, then the control plane's supervisor (lab/real-kube-node.ts) starts the real
// kube-apiserver, kube-controller-manager and kube-scheduler with the flags Talos renders, takes the VIP in the etcd
// election and applies Talos's bootstrap manifests; the kubelets daemon (lab/real-kubelets.ts) joins each machine with
// the bootstrap token. The product's own waits and readers then see the cluster through the VIP.
import { NODE, TSX } from '../bin.ts'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { manifestObjects } from '../../lab/manifest-objects.ts'
import { applyManifestObjects } from '../../lab/real-manifest-apply.ts'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { findKubeComponent, KUBERNETES_BUILDS, KUBERNETES_VERSION } from '../../lab/go-builds.ts'
import { missingStaticPods } from '../../steps/static-pods.ts'
import { runningForMs } from '../../lab/processes.ts'
import type { KubePod } from '../../lib/kube/kubectl.ts'

const P = '127.0.197'
const CP = `${P}.11`
const VIP = `${P}.10`
const missing = KUBERNETES_BUILDS.map((b) => b.name).filter(
  (n) => !findKubeComponent(KUBERNETES_BUILDS.find((b) => b.name === n)!),
)
const skip =
  missing.length > 0 && `${missing.join(', ')} ${KUBERNETES_VERSION} not built: run \`npm run lab:preflight\``
let lab: TestLab
let kubeconfig = ''

function kubectl(args: string[], config = kubeconfig) {
  const r = spawnSync('kubectl', ['--kubeconfig', config, '--request-timeout=10s', ...args], { encoding: 'utf8' })
  return { code: r.status, out: r.stdout, err: r.stderr }
}
const json = (args: string[]) => {
  const r = kubectl([...args, '-o', 'json'])
  return r.code === 0 ? (JSON.parse(r.out) as Record<string, any>) : undefined
}
/** Poll fn until it returns a value, or fail naming what it waited for. */
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined && v !== false) return v
    assert.ok(Date.now() < deadline, `${what}: not after ${timeoutMs} ms\n${lab.explain('cp1')}`)
    await new Promise((r) => setTimeout(r, 1000))
  }
}
const ready = (n: Record<string, any>) =>
  (n.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True')

describe('a lab running the real control plane', { skip, timeout: 420_000 }, () => {
  before(async () => {
    lab = await createTestLab({
      prefix: P,
      controlPlanes: 1,
      workers: 1,
      endpoint: `https://${VIP}:6443`,
      kubernetes: true,
    })
    await lab.install('cp1', lab.renderConfig('controlplane'))
    await lab.install('w1', lab.renderConfig('worker'))
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('after talosctl bootstrap the real kube-apiserver answers through the VIP with the admin kubeconfig Talos gives', async () => {
    const r = await lab.run(['-n', CP, 'bootstrap'])
    assert.equal(r.code, 0, r.stderr)
    kubeconfig = join(lab.dir, 'kubeconfig')
    const got = await lab.run(['-n', CP, 'kubeconfig', kubeconfig])
    assert.equal(got.code, 0, got.stderr)
    const version = await until(
      'the API answering through the VIP',
      async () => json(['version'])?.serverVersion as { gitVersion: string; gitCommit: string } | undefined,
      240_000,
    )
    assert.equal(version.gitVersion, KUBERNETES_VERSION)
    const server = JSON.parse(kubectl(['config', 'view', '--raw', '-o', 'json']).out).clusters[0].cluster.server
    assert.equal(server, `https://${VIP}:6443`)
    // a resource only the real API server serves: API priority and fairness
    assert.match(kubectl(['api-resources', '--api-group=flowcontrol.apiserver.k8s.io']).out, /flowschemas/)
  })

  it("kube-apiserver started only after machined's first etcd health check, 5 s after etcd started (Talos's static pods wait for it)", () => {
    const nodeDir = join(lab.dir, 'nodes', 'cp1')
    const etcdPid = (JSON.parse(readFileSync(join(nodeDir, 'node.json'), 'utf8')) as { etcd: { pid: number } }).etcd.pid
    const etcdStartedAt = Date.now() - runningForMs(etcdPid)
    const lines = readFileSync(join(nodeDir, 'kube-api.log'), 'utf8').split('\n')
    const at = (what: RegExp) => {
      const line = lines.find((l) => what.test(l))
      assert.ok(line, `no ${what} in the supervisor's log:\n${lines.join('\n')}`)
      return Date.parse(line.split(' ')[0]!)
    }
    const healthy = at(/ etcd service healthy$/)
    const apiserver = at(/ starting kube-apiserver /)
    assert.ok(healthy <= apiserver)
    // /proc's start time has a 10 ms tick; the check is due 5 s after etcd started
    assert.ok(apiserver - etcdStartedAt >= 4_900, `kube-apiserver started ${apiserver - etcdStartedAt} ms after etcd`)
  })

  it("both machines' kubelets join with the bootstrap token and their Nodes go Ready", async () => {
    const nodes = await until(
      'cp1 and w1 Ready',
      async () => {
        const items = (json(['get', 'nodes'])?.items ?? []) as Record<string, any>[]
        // Talos's NodeApplyController labels the control plane once its kubelet has registered
        const labelled = items.some((n) => n.metadata.labels['node-role.kubernetes.io/control-plane'] !== undefined)
        return items.length === 2 && items.every(ready) && labelled ? items : undefined
      },
      180_000,
    )
    const csrs = (json(['get', 'csr'])?.items ?? []) as Record<string, any>[]
    const client = csrs.filter((c) => c.spec.signerName === 'kubernetes.io/kube-apiserver-client-kubelet')
    assert.equal(client.length, 2, 'one client CSR per kubelet')
    assert.ok(
      client.every((c) => /^system:bootstrap:/.test(c.spec.username) && c.status.certificate),
      'filed with the bootstrap token, approved and signed by kube-controller-manager',
    )
    const cp = nodes.find((n) => n.metadata.labels['node-role.kubernetes.io/control-plane'] !== undefined)
    assert.ok(cp)
    assert.deepEqual(cp.spec.taints, [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }])
  })

  it("the control plane's mirror pods are Running: what 03 waits for", async () => {
    const cpName = (json(['get', 'nodes', '-l', 'node-role.kubernetes.io/control-plane'])?.items ?? [])[0]?.metadata
      ?.name as string
    assert.ok(cpName)
    await until(
      'kube-apiserver, kube-controller-manager and kube-scheduler mirror pods Running',
      async () => {
        const pods = (json(['-n', 'kube-system', 'get', 'pods'])?.items ?? []) as KubePod[]
        return missingStaticPods([cpName], pods).length === 0
      },
      60_000,
    )
  })

  it("Talos's bootstrap manifests as its ManifestController renders them: flannel and kube-proxy on every node, CoreDNS ready", async () => {
    const ds = (name: string) => json(['-n', 'kube-system', 'get', 'daemonset', name])?.status
    await until(
      'flannel and kube-proxy ready on both nodes',
      async () => ['kube-flannel', 'kube-proxy'].every((n) => ds(n)?.numberReady === 2),
      120_000,
    )
    const dns = await until(
      'CoreDNS available',
      async () => {
        const d = json(['-n', 'kube-system', 'get', 'deployment', 'coredns'])
        return d?.status?.availableReplicas >= 1 ? d : undefined
      },
      120_000,
    )
    assert.equal(dns.spec.template.spec.containers[0].image, 'registry.k8s.io/coredns/coredns:v1.12.1')
    const svc = json(['-n', 'kube-system', 'get', 'service', 'kube-dns'])
    assert.equal(svc?.spec.clusterIP, '10.96.0.10')
    // the containers the worker's kubelet started are what talosctl containers -k lists (the same boot's)
    const listed = await lab.run(['-n', `${P}.21`, 'containers', '-k'])
    assert.equal(listed.code, 0, listed.stderr)
    assert.match(listed.stdout, /kube-system\/kube-flannel-\S+:kube-flannel:\w{12}\s+\S+\s+\d+\s+CONTAINER_RUNNING/)
  })

  it('the manifest controller run again creates nothing and fails on nothing: each object is read before it is created', async () => {
    const kube = join(lab.dir, 'nodes', 'cp1', 'kube')
    const dir = join(kube, 'manifests')
    const { objects, errors: parse } = manifestObjects(
      readdirSync(dir).map((f) => ({ id: f.replace(/\.yaml$/, ''), contents: readFileSync(join(dir, f), 'utf8') })),
    )
    assert.deepEqual(parse, [])
    assert.ok(objects.some((o) => o.kind === 'Service' && o.metadata.name === 'kube-dns'))
    // a second create of kube-dns would be refused "provided IP is already allocated", not AlreadyExists
    const again = await applyManifestObjects(join(kube, 'admin.kubeconfig'), objects)
    assert.deepEqual(again, { created: [], errors: [] })
    // and the one the supervisor ran finished
    assert.match(readFileSync(join(lab.dir, 'nodes', 'cp1', 'kube-api.log'), 'utf8'), /bootstrap manifests applied/)
  })

  it("a shut-down machine's kubelet is gone: its lease is renewed no more (the node lifecycle controller's input)", async () => {
    const worker = (json(['get', 'nodes'])?.items as Record<string, any>[]).find(
      (n) => n.metadata.labels['node-role.kubernetes.io/control-plane'] === undefined,
    )!
    const name = worker.metadata.name as string
    const renewed = () => json(['-n', 'kube-node-lease', 'get', 'lease', name])?.spec?.renewTime as string | undefined
    const first = renewed()
    await until('the lease renewed while the machine runs', async () => renewed() !== first, 30_000)
    const r = await lab.run(['-n', `${P}.21`, 'shutdown', '--force'])
    assert.equal(r.code, 0, r.stderr)
    await until(
      'the machine off',
      async () => {
        const n = lab.node('w1')
        return n.power === 'off' || n.stage !== 'running'
      },
      60_000,
    )
    const last = renewed()
    // kubelet renews every 10 s: 25 s without a renewal is a kubelet that is gone
    await new Promise((res) => setTimeout(res, 25_000))
    assert.equal(renewed(), last, 'no renewal after the shutdown')
  })

  it('lab down stops every process of the real control plane (the components are no children of the lab CLI)', () => {
    const kubeProcs = () =>
      spawnSync('pgrep', ['-af', 'kube-(apiserver|controller-manager|scheduler)'], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((l) => l.includes(lab.dir))
    assert.ok(kubeProcs().length >= 3, 'the control plane runs before')
    const r = spawnSync(NODE, [...TSX, 'lab/cli.ts', 'down'], { encoding: 'utf8', env: lab.env })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(kubeProcs(), [])
  })
})
