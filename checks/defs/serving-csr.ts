// A worker's kubelet serves (logs, exec, port-forward, metrics) with a certificate it asks the cluster for:
// templates/node.yaml sets serverTLSBootstrap, so the kubelet files a kubernetes.io/kubelet-serving CSR at its first
// start, after every wipe of /var/lib/kubelet/pki (a reset of EPHEMERAL) and before each rotation. Nothing approves
// those but an operator: kube-controller-manager's approver signs only client CSRs, and Talos only raises a
// diagnostic (siderolabs/talos v1.10.3 internal/app/machined/pkg/runtime/internal/diagnostics/
// kubelet_csr_not_approved.go). 04-join approves them after checking the SANs; this check finds one left pending.
import { names, type CheckInventory, type CheckNode } from '../engine/inventory.ts'
import { fail, pass, worded } from '../engine/results.ts'
import { defineCheck } from '../engine/types.ts'
import { isCsrPending, type KubeCsr } from '../../lib/kube/kubectl.ts'

const SIGNER = 'kubernetes.io/kubelet-serving'

/** The nodes whose kubelet asks for a serving certificate: the workers (the control planes keep a self-signed one). */
const servingNodes = (inv: CheckInventory): CheckNode[] => inv.nodes.filter((n) => n.role !== 'controlplane')

/** The pending kubelet-serving CSRs this node's kubelet filed, oldest first. */
export function pendingServingCsrs(items: KubeCsr[], node: string): KubeCsr[] {
  return items
    .filter((c) => c.spec?.signerName === SIGNER && c.spec.username === `system:node:${node}` && isCsrPending(c))
    .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''))
}

const minutesSince = (iso: string | undefined, now: number) =>
  iso ? Math.max(0, Math.round((now - Date.parse(iso)) / 60_000)) : undefined

export const servingCsr = defineCheck({
  id: 'cluster.kubelet-serving-csr',
  group: 'cluster',
  title: "no worker's kubelet-serving certificate request is left pending",
  targets: (inv) => names(servingNodes(inv)),
  needs: ['k8sCsrs'],
  evaluate: ({ k8sCsrs }, inv) =>
    servingNodes(inv).map((n) => {
      const pending = pendingServingCsrs(k8sCsrs.items, n.name)
      const wanted = worded([], 'none pending')
      if (!pending.length)
        return pass('cluster.kubelet-serving-csr', n.name, 'none pending', wanted, `no pending ${SIGNER} CSR`)
      const age = minutesSince(pending[0]!.metadata.creationTimestamp, k8sCsrs.readAt)
      const list = pending.map((c) => c.metadata.name).join(', ')
      return fail(
        'cluster.kubelet-serving-csr',
        n.name,
        worded(
          pending.map((c) => ({ name: c.metadata.name, created: c.metadata.creationTimestamp })),
          `${pending.length} pending${age === undefined ? '' : `, ${age} min`}`,
        ),
        wanted,
        `${n.name}'s kubelet asked for a serving certificate (${list}${age === undefined ? '' : `, ${age} min ago`}) that nobody approved: ` +
          `kubectl logs, exec and metrics on ${n.name} fail once it has no valid one (after a reset, a new join, or at expiry); ` +
          `re-run npx zx runbooks/04-join.ts, which approves it after checking its SANs`,
      )
    }),
})
