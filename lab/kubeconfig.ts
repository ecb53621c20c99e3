// The admin kubeconfig `talosctl kubeconfig` hands out: cluster <name>, context and user admin@<name>,
// a client certificate CN=admin, O=system:masters signed by the cluster's Kubernetes CA.
import { stringify } from 'yaml'
import { b64, issueCert } from './pki.ts'

export interface AdminKubeconfigInput {
  clusterName: string
  endpoint: string
  caCrtPem: string
  caKeyPem: string
  /** Talos issues it for a year by default. */
  days?: number
}

export function buildAdminKubeconfig(i: AdminKubeconfigInput): string {
  const client = issueCert(
    { crt: i.caCrtPem, key: i.caKeyPem },
    { cn: 'admin', org: ['system:masters'], usage: 'client', days: i.days ?? 365 },
  )
  const user = `admin@${i.clusterName}`
  return stringify({
    apiVersion: 'v1',
    clusters: [{ cluster: { 'certificate-authority-data': b64(i.caCrtPem), server: i.endpoint }, name: i.clusterName }],
    contexts: [{ context: { cluster: i.clusterName, namespace: 'default', user }, name: user }],
    'current-context': user,
    kind: 'Config',
    preferences: {},
    users: [{ name: user, user: { 'client-certificate-data': b64(client.crt), 'client-key-data': b64(client.key) } }],
  })
}
