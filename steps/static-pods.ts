// The control plane's static pods as Talos runs them (kube-apiserver, kube-controller-manager, kube-scheduler), seen
// through their mirror pods in kube-system (named <pod>-<node>): what 03 waits for after bootstrap, 11 after a
// recovery and 12 after a control plane's replacement, before the checks look at them.
import { waitFor, type KubePod } from '../lib/kube/kubectl.ts'
import { controlPlanes, type Cluster } from '../config/cluster.ts'

const STATIC_PODS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']

/** The static pods of `cpNames` that are not Running (missing ones included), as <pod>-<node>. */
export function missingStaticPods(cpNames: string[], pods: KubePod[]): string[] {
  const running = new Set(
    pods.filter((p) => (p as { status?: { phase?: string } }).status?.phase === 'Running').map((p) => p.metadata.name),
  )
  return cpNames.flatMap((n) => STATIC_PODS.map((s) => `${s}-${n}`)).filter((p) => !running.has(p))
}

/**
 * Until the static pods of `nodes` (default: every control plane) are Running. Talos starts them once machined calls
 * the node's etcd healthy (a joining member: once promoted), so they come after etcd, and after the Node.
 */
export async function waitForStaticPods(
  c: Cluster,
  opts: { nodes?: string[]; timeoutMs?: number } = {},
): Promise<void> {
  const cps = opts.nodes ?? controlPlanes(c.inv).map((n) => n.name)
  const timeoutMs = opts.timeoutMs ?? 5 * 60_000
  await waitFor(
    `control-plane static pods Running on ${cps.join(', ')}`,
    async () => {
      const missing = missingStaticPods(cps, await c.kube.pods('kube-system'))
      return missing.length === 0 ? true : undefined
    },
    { timeoutMs, intervalMs: 1000 },
  )
}
