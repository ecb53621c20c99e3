// The Kubernetes upgrade: `talosctl upgrade-k8s --to X --dry-run` first (its plan and any deprecated APIs are shown),
// then the upgrade itself through one control-plane node, then wait until every kubelet reports X. 09's own --dry-run
// only says so: talosctl's dry run re-applies each control plane's config (lib/talos/talosctl.ts upgradeK8s), and a
// dry run of this tool writes nothing anywhere.
import { log } from '../../lib/runner/log.ts'
import { waitFor } from '../../lib/kube/kubectl.ts'
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import type { KubernetesUpgrade } from './plan.ts'
import { kubeletVersions } from './observe.ts'

const show = (text: string) => {
  for (const line of text.trimEnd().split('\n')) if (line) log.info(`    ${line}`)
}

export async function upgradeKubernetes(
  c: Cluster,
  k: KubernetesUpgrade,
  o: { dryRun: boolean; waitMs: number },
): Promise<void> {
  const cp = controlPlanes(c.inv)[0]!
  if (o.dryRun) {
    log.info(
      `  would run talosctl -n ${cp.address} upgrade-k8s --to ${k.to} --dry-run (shown), then the upgrade, then wait for every kubelet on ${k.to}`,
    )
    return
  }
  const plan = await c.talos.upgradeK8s(cp.address, k.to, { dryRun: true })
  show(plan.stdout + plan.stderr)
  const r = await c.talos.upgradeK8s(cp.address, k.to)
  show(r.stdout + r.stderr)
  await waitFor(
    `every kubelet on ${k.to}`,
    async () => {
      const versions = await kubeletVersions(c)
      return versions.length === c.inv.nodes.length && versions.every((v) => v === k.to) ? true : undefined
    },
    { timeoutMs: o.waitMs, intervalMs: 2000 },
  )
  log.ok(`every kubelet runs ${k.to}`)
}
