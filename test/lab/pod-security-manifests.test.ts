// The real kube-apiserver's PodSecurity admission as Talos configures it, and Talos's ManifestApplyController for
// cluster.inlineManifests (lab/real-kube-node.ts), driven by the real talosctl (install, bootstrap, patch) and the real
// kubectl: one control plane on 127.0.147.x whose config (talosctl gen config's, enforce baseline with kube-system
// exempt) carries two inline Namespace manifests.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseDocument, stringify } from 'yaml'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { buildAdminKubeconfig } from '../../lab/kubeconfig.ts'

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
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 0, cluster: 'psa', kubernetes: true })
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
    assert.match(log, /manifests: created \/v1\/Namespace\/solana$/m)
  })

  it('a hostNetwork pod is refused in default with the PodSecurity message, admitted in the privileged namespace', async () => {
    // the real controller manager gives every namespace its default service account, which admission needs first
    for (const ns of ['default', 'solana'])
      await lab.until(
        `${ns}/default service account`,
        () => kubectl(['-n', ns, 'get', 'sa', 'default']).code === 0,
        60_000,
      )
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

  // Talos runs the controller when its inputs change (manifest_apply.go:91-96), not on a timer
  it('a deleted manifest namespace comes back at the next change of the manifests; one edited by hand is left as edited', async () => {
    ok(['delete', 'namespace', 'solana'])
    ok(['label', 'namespace', 'canary', 'probe=edited', 'owner=ops', '--overwrite'])
    await new Promise((r) => setTimeout(r, 5000))
    assert.equal(nsJson('solana'), undefined, 'nothing changed the manifests: the controller did not run')
    // a third inline manifest, applied without a reboot: the controller runs with the new manifests
    const patch = JSON.stringify([
      {
        op: 'add',
        path: '/cluster/inlineManifests/-',
        value: { name: 'extra', contents: namespaceManifest('extra', {}) },
      },
    ])
    const p = await lab.run(['-n', CP, 'patch', 'mc', '--mode=no-reboot', '--patch', patch])
    assert.equal(p.code, 0, p.stderr)
    await lab
      .until('namespace extra', () => nsJson('extra') !== undefined, 60_000)
      .catch((e: Error) => {
        throw new Error(`${e.message}\n${readFileSync(join(lab.dir, 'nodes', 'cp1', 'kube-api.log'), 'utf8')}`)
      })
    await lab.until('namespace solana again', () => nsJson('solana') !== undefined, 10_000)
    assert.equal(nsJson('solana')!.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged')
    const canary = nsJson('canary')!.metadata.labels
    assert.equal(canary.probe, 'edited', 'an existing object is never updated')
    assert.equal(canary.owner, 'ops')
  })

  it('a changed admissionControl reaches the running kube-apiserver: a new static pod, the new PodSecurity defaults', async () => {
    const before = kubectl(['-n', 'default', 'create', '--dry-run=server', '-f', '-'], hostPod('later'))
    assert.match(before.err, /violates PodSecurity "baseline:latest"/)
    const patch = JSON.stringify([
      {
        op: 'replace',
        path: '/cluster/apiServer/admissionControl/0/configuration/defaults/enforce',
        value: 'privileged',
      },
    ])
    const p = await lab.run(['-n', CP, 'patch', 'mc', '--mode=no-reboot', '--patch', patch])
    assert.equal(p.code, 0, p.stderr)
    // Talos renders the static pod again and kubelet replaces it; the old API server answers until it is stopped
    await lab.until(
      'the new PodSecurity defaults',
      () => kubectl(['-n', 'default', 'create', '--dry-run=server', '-f', '-'], hostPod('later')).code === 0,
      90_000,
    )
    const log = readFileSync(join(lab.dir, 'nodes', 'cp1', 'kube-api.log'), 'utf8')
    assert.match(
      log,
      /config changed: kube-apiserver gets a new static pod \(config\/admission-control-config\.yaml\)$/m,
    )
  })
})
