// Talos v1.10.3's kubelet-bootstrapping manifests (lab/talos-api/templates/, verbatim), rendered for a machine config as
// Talos renders them: the bootstrap token is cluster.token, "<id>.<secret>" (pkg/machinery/config/types/v1alpha1
// ClusterConfig.Token; the SecretsController splits it into BootstrapTokenID/BootstrapTokenSecret).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from './state.ts'

const TEMPLATES = [
  'kubelet-bootstrapping-token-template.yaml',
  'csr-node-bootstrap-template.yaml',
  'csr-approver-role-binding-template.yaml',
  'csr-renewal-role-binding-template.yaml',
]

/** "<6 chars>.<16 chars>", Kubernetes's bootstrap token format (k8s.io/cluster-bootstrap token/api BootstrapTokenPattern). */
export function splitBootstrapToken(token: string): { id: string; secret: string } {
  const m = /^([a-z0-9]{6})\.([a-z0-9]{16})$/.exec(token)
  if (!m)
    throw new Error('cluster.token is not a bootstrap token ("<6 chars>.<16 chars>", lowercase letters and digits)')
  return { id: m[1]!, secret: m[2]! }
}

/** The four manifests as one multi-document YAML for `kubectl apply -f -`. */
export function kubeletBootstrapManifests(token: string): string {
  const { id, secret } = splitBootstrapToken(token)
  return TEMPLATES.map((t) =>
    readFileSync(join(REPO_ROOT, 'lab', 'talos-api', 'templates', t), 'utf8')
      .replaceAll('{{ .Secrets.BootstrapTokenID }}', id)
      .replaceAll('{{ .Secrets.BootstrapTokenSecret }}', secret),
  ).join('\n---\n')
}
