// The pure part of lab/manifest-objects.ts: which objects of cluster.inlineManifests Talos v1.10.3's
// ManifestApplyController applies, and in what order (controllers/k8s/manifest_apply.go). The lab's real control plane
// then judges each object (test/lab/pod-security-manifests.test.ts).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { stringify } from 'yaml'
import { inlineManifestObjects } from '../../lab/manifest-objects.ts'

describe("inline manifests as Talos's ManifestApplyController sees them", () => {
  it('manifests in id order, Lists unwrapped, comment-only documents skipped, namespaces then CRDs first', () => {
    const cfg = {
      cluster: {
        inlineManifests: [
          {
            name: 'zz-app',
            contents: [
              stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'solana' } }),
              '# only a comment\n',
              stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'zeta' } }),
            ].join('---\n'),
          },
          {
            name: 'aa-base',
            contents: stringify({
              apiVersion: 'v1',
              kind: 'List',
              items: [
                { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'first' } },
                { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'b.x' } },
                { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'solana' } },
              ],
            }),
          },
        ],
      },
    }
    const { objects, errors } = inlineManifestObjects(cfg)
    assert.deepEqual(errors, [])
    assert.deepEqual(
      objects.map((o) => `${o.kind}/${o.metadata.name}`),
      ['Namespace/solana', 'Namespace/zeta', 'CustomResourceDefinition/b.x', 'ConfigMap/first', 'ConfigMap/cm'],
    )
  })

  it("each document is trimmed as Talos's SetYAML trims it: a final block scalar loses its last line break", () => {
    const cm = (name: string, tail: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  Corefile: |\n    .:53 {\n    }\n${tail}`
    const cfg = { cluster: { inlineManifests: [{ name: 'dns', contents: `${cm('a', '\n')}---\n${cm('b', '  \n')}` }] } }
    const { objects, errors } = inlineManifestObjects(cfg)
    assert.deepEqual(errors, [])
    assert.deepEqual(
      objects.map((o) => o.data.Corefile),
      ['.:53 {\n}', '.:53 {\n}'],
    )
  })

  it('a manifest that does not parse is an error of its own; the others are still applied', () => {
    const { objects, errors } = inlineManifestObjects({
      cluster: {
        inlineManifests: [
          { name: 'bad', contents: 'a: [' },
          { name: 'good', contents: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ok\n' },
        ],
      },
    })
    assert.equal(objects.length, 1)
    assert.equal(errors.length, 1)
    assert.match(errors[0]!, /^manifest 99-bad: /)
  })
})
