// The steps of 03-bootstrap. The one rule that matters: etcd is bootstrapped exactly once, so every
// decision starts from what the control-plane nodes report now.
import { log } from '../../lib/runner/log.ts'
import { waitFor, type KubePod } from '../../lib/kube/kubectl.ts'
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { RefusedError } from '../../lib/runner/types.ts'
import { evaluateEtcd, type EtcdHealth, type EtcdView } from '../etcd-view.ts'

/**
 * A bootstrap must see every control-plane node: one we cannot see might already run etcd, and one in maintenance
 * mode has no config to bootstrap from. Either way going on would be unsafe or pointless: a refusal (exit 3).
 */
export function assertSafeToBootstrap(v: EtcdView): void {
  const down = Object.keys(v.unreachable)
  if (down.length)
    throw new RefusedError(
      `cannot tell whether etcd was bootstrapped: ${down.join(', ')} did not answer (${Object.values(v.unreachable)[0]}). Bring ${down.length > 1 ? 'them' : 'it'} back, then re-run. Nothing was changed.`,
    )
  const maint = Object.keys(v.maintenance ?? {})
  if (maint.length)
    throw new RefusedError(
      `${maint.join(', ')} ${maint.length > 1 ? 'are' : 'is'} in maintenance mode with no machine config: run 02-configure first, then re-run. Nothing was changed.`,
    )
}

export async function waitForEtcd(c: Cluster, timeoutMs = 5 * 60_000): Promise<EtcdHealth> {
  const cps = controlPlanes(c.inv)
  let last = ''
  return waitFor(
    'etcd on every control-plane node with one leader',
    async () => {
      // two independent questions: asked together, a poll costs one call's time
      const [members, status] = await Promise.all([
        c.talos.etcdMembers(cps[0]!.address),
        c.talos.etcdStatus(cps.map((n) => n.address)),
      ])
      const byAddr = new Map(cps.map((n) => [n.address, n.name]))
      const r = evaluateEtcd(
        cps.map((n) => n.name),
        members,
        status.map((s) => ({ ...s, node: byAddr.get(s.node) ?? s.node })),
      )
      if (typeof r === 'string') {
        if (r !== last) log.dim(`  ${r}`)
        last = r
        return undefined
      }
      return r
    },
    { timeoutMs, intervalMs: 1000 },
  )
}

/** From `node`: the control plane the runbook names (--node), so the step fetches from the node it shows. */
export async function fetchKubeconfig(c: Cluster, node: InventoryNode): Promise<void> {
  await c.talos.kubeconfig(node.address, c.paths.kubeconfig, { force: true })
}

const STATIC_PODS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']

export function missingStaticPods(cpNames: string[], pods: KubePod[]): string[] {
  const running = new Set(
    pods.filter((p) => (p as { status?: { phase?: string } }).status?.phase === 'Running').map((p) => p.metadata.name),
  )
  return cpNames.flatMap((n) => STATIC_PODS.map((s) => `${s}-${n}`)).filter((p) => !running.has(p))
}

export async function waitForStaticPods(c: Cluster, timeoutMs = 5 * 60_000): Promise<void> {
  const cps = controlPlanes(c.inv).map((n) => n.name)
  await waitFor(
    'control-plane static pods Running',
    async () => {
      const missing = missingStaticPods(cps, await c.kube.pods('kube-system'))
      return missing.length === 0 ? true : undefined
    },
    { timeoutMs, intervalMs: 1000 },
  )
}
