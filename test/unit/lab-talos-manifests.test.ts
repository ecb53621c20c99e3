// lab/talos-manifests.ts: Talos's verbatim kubelet-bootstrapping templates, filled in from cluster.token.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseAllDocuments } from 'yaml'
import { kubeletBootstrapManifests, splitBootstrapToken } from '../../lab/talos-manifests.ts'

test('the four manifests, with the token id and secret where Talos puts them and no template field left', () => {
  const text = kubeletBootstrapManifests('abc123.0123456789abcdef')
  assert.doesNotMatch(text, /\{\{/)
  const docs = parseAllDocuments(text).map((d) => d.toJS() as { kind: string; metadata: { name: string } })
  assert.deepEqual(
    docs.map((d) => `${d.kind}/${d.metadata.name}`),
    [
      'Secret/bootstrap-token-abc123',
      'ClusterRoleBinding/system-bootstrap-node-bootstrapper',
      'ClusterRoleBinding/system-bootstrap-approve-node-client-csr',
      'ClusterRoleBinding/system-bootstrap-node-renewal',
    ],
  )
  const secret = docs[0] as unknown as { stringData: Record<string, string> }
  assert.equal(secret.stringData['token-id'], 'abc123')
  assert.equal(secret.stringData['token-secret'], '0123456789abcdef')
  assert.equal(secret.stringData['auth-extra-groups'], 'system:bootstrappers:nodes')
})

test('a cluster.token that is not "<6>.<16>" lowercase is refused without echoing it', () => {
  for (const bad of ['abc123.short', 'ABC123.0123456789abcdef', 'abc1230123456789abcdef']) {
    assert.throws(
      () => splitBootstrapToken(bad),
      (e: Error) => !e.message.includes(bad) && /bootstrap token/.test(e.message),
    )
  }
})
