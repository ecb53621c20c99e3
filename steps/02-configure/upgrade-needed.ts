// What an apply cannot change: kernel args (huge pages included) reach a node only with an installer image it is
// upgraded to (Talos reads them at install/upgrade, never from an applied config). After 02 applied what it can,
// this says which nodes still boot without their args and that 09-upgrade is what brings them.
import type { Cluster } from '../../config/cluster.ts'
import { nodeKernelArgs } from '../../config/render.ts'
import { missingKernelArgs } from '../../lib/host/procfs.ts'

interface PendingUpgrade {
  node: string
  missing: string[]
  /** The node's command line could not be read (maintenance mode, down): nothing is known. */
  unreadable?: string
}

export async function pendingKernelArgs(c: Cluster): Promise<PendingUpgrade[]> {
  const wanting = c.inv.nodes.map((n) => ({ n, want: nodeKernelArgs(c.inv, n) })).filter((x) => x.want.length)
  const out: PendingUpgrade[] = []
  for (const { n, want } of wanting) {
    try {
      const missing = missingKernelArgs(await c.talos.read(n.address, '/proc/cmdline'), want)
      if (missing.length) out.push({ node: n.name, missing })
    } catch (e) {
      out.push({ node: n.name, missing: [], unreadable: (e as Error).message.split('\n')[0]! })
    }
  }
  return out
}

export const upgradeNeededMessage = (c: Cluster, pending: PendingUpgrade[]) => {
  const p = pending.filter((x) => x.missing.length)
  return p.length
    ? `${p.map((x) => `${x.node} boots without ${x.missing.join(' ')}`).join('; ')}: kernel args take effect only through an upgrade; ` +
        `run npx zx runbooks/09-upgrade.ts --inventory ${c.inventoryFile}`
    : undefined
}
