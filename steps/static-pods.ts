// The control plane's static pods as Talos runs them (kube-apiserver, kube-controller-manager, kube-scheduler), seen
// through their mirror pods in kube-system (named <pod>-<node>): what 03 waits for after bootstrap and 11 after a
// recovery, before the checks look at them.
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
