// The lab API's PodSecurity admission and Talos's ManifestApplyController for cluster.inlineManifests, driven by the
// real talosctl (install, bootstrap) and the real kubectl: one control plane on 127.0.147.x whose config (talosctl gen
// config's, enforce baseline with kube-system exempt) carries two inline Namespace manifests.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseDocument, stringify } from 'yaml'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { buildAdminKubeconfig } from '../../lab/kube-api/kubeconfig.ts'

const P = '127.0.147'
const CP = `${P}.11`
let lab: TestLab
let kubeconfig = ''

const namespaceManifest = (name: string, labels: Record<string, string>) =>
  stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } })

function kubectl(args: string[], input?: string) {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=20s', ...args], {
    encoding: 'utf8',
    input,
    env: { ...process.env, HOME: lab.dir },
    timeout: 60_000,
  })
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr }
}

function ok(args: string[], input?: string): string {
  const r = kubectl(args, input)
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}`)
  return r.out
}

const nsJson = (name: string) => {
  const r = kubectl(['get', 'namespace', name, '-o', 'json'])
  return r.code === 0 ? (JSON.parse(r.out) as { metadata: { uid: string; labels: Record<string, string> } }) : undefined
}

const hostPod = (name: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { hostNetwork: true, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
  })

describe('PodSecurity and inline manifests in a lab cluster', { timeout: 240_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 0, cluster: 'psa', kubeApi: true })
    const doc = parseDocument(lab.renderConfig('controlplane'))
    // gen config's PodSecurity configuration is what the product renders: enforce baseline, kube-system exempt
    const psa = (doc.getIn(['cluster', 'apiServer', 'admissionControl']) as { toJSON(): unknown[] }).toJSON()
    assert.match(JSON.stringify(psa), /"enforce":"baseline".*"namespaces":\["kube-system"\]/)
    doc.setIn(
      ['cluster', 'inlineManifests'],
      [
        {
          name: 'solana-namespace',
          contents: namespaceManifest('solana', { 'pod-security.kubernetes.io/enforce': 'privileged' }),
        },
        { name: 'canary', contents: namespaceManifest('canary', { probe: 'true' }) },
      ],
    )
    await lab.install('cp1', String(doc))
    const b = await lab.run(['-n', CP, 'bootstrap'])
    assert.equal(b.code, 0, b.stderr)
    const cfg = doc.toJSON() as { cluster: { ca: { crt: string; key: string } } }
    kubeconfig = join(lab.dir, 'admin.kubeconfig')
    writeFileSync(
      kubeconfig,
      buildAdminKubeconfig({
        clusterName: 'psa',
        endpoint: `https://${CP}:6443`,
        caCrtPem: Buffer.from(cfg.cluster.ca.crt, 'base64').toString(),
        caKeyPem: Buffer.from(cfg.cluster.ca.key, 'base64').toString(),
      }),
      { mode: 0o600 },
    )
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('the inline Namespace manifests are created once the cluster is bootstrapped', async () => {
    await lab.until('namespace solana', () => nsJson('solana') !== undefined, 60_000)
    assert.equal(nsJson('solana')!.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged')
    await lab.until('namespace canary', () => nsJson('canary') !== undefined, 10_000)
    const log = readFileSync(join(lab.dir, 'nodes', 'cp1', 'kube-api.log'), 'utf8')
    assert.match(log, /k8s\.ManifestApplyController: created \/v1\/Namespace\/solana/)
  })

  it('a hostNetwork pod is refused in default with the PodSecurity message, admitted in the privileged namespace', () => {
    const refused = kubectl(['-n', 'default', 'create', '-f', '-'], hostPod('hostnet'))
    assert.notEqual(refused.code, 0)
    assert.match(
      refused.err,
      /Error from server \(Forbidden\): error when creating "STDIN": pods "hostnet" is forbidden: violates PodSecurity "baseline:latest": host namespaces \(hostNetwork=true\)\n/,
    )
    assert.equal(kubectl(['-n', 'default', 'get', 'pod', 'hostnet']).code, 1, 'a refused pod is not stored')
    const admitted = kubectl(['-n', 'solana', 'create', '-f', '-'], hostPod('hostnet'))
    assert.equal(admitted.code, 0, admitted.err)
    // the warn level (restricted) still says what the pod lacks, as a Warning kubectl prints
    assert.match(admitted.err, /^Warning: would violate PodSecurity "restricted:latest": host namespaces/m)
    assert.equal(ok(['-n', 'solana', 'get', 'pod', 'hostnet', '-o', 'jsonpath={.spec.hostNetwork}']), 'true')
    // kube-system is exempt
    const system = kubectl(['-n', 'kube-system', 'create', '--dry-run=server', '-f', '-'], hostPod('hostnet'))
    assert.equal(system.code, 0, system.err)
    assert.doesNotMatch(system.err, /Warning/)
  })

  it('a deleted manifest namespace is created again; one edited by hand is left as edited', async () => {
    const before = nsJson('solana')!
    ok(['delete', 'namespace', 'solana'])
    await lab.until(
      'namespace solana again',
      () => {
        const ns = nsJson('solana')
        return ns !== undefined && ns.metadata.uid !== before.metadata.uid
      },
      30_000,
    )
    ok(['label', 'namespace', 'solana', 'pod-security.kubernetes.io/enforce=baseline', 'owner=ops', '--overwrite'])
    // the controller runs again (the canary, deleted, comes back): the hand-made labels must still be there
    const canary = nsJson('canary')!
    ok(['delete', 'namespace', 'canary'])
    await lab.until(
      'namespace canary again',
      () => {
        const ns = nsJson('canary')
        return ns !== undefined && ns.metadata.uid !== canary.metadata.uid
      },
      30_000,
    )
    const labels = nsJson('solana')!.metadata.labels
    assert.equal(labels['pod-security.kubernetes.io/enforce'], 'baseline')
    assert.equal(labels.owner, 'ops')
    // and the namespace's own label now governs its pods
    const refused = kubectl(['-n', 'solana', 'create', '--dry-run=server', '-f', '-'], hostPod('again'))
    assert.match(refused.err, /pods "again" is forbidden: violates PodSecurity "baseline:latest"/)
  })
})
