// Everything a runbook or check needs to talk to one cluster, derived from its inventory:
// which talosctl (the real one, for the lab as for production), where the
// 0600 secrets live, and typed wrappers bound to them.
import { isAbsolute, join, resolve } from 'node:path'
import { formatIssue, loadInventory, type Inventory } from './inventory.ts'
import { Talosctl } from '../lib/talos/talosctl.ts'
import { Kube } from '../lib/kube/kubectl.ts'
import { toolBin } from '../lib/host/cli-tool.ts'
import { sharedShell, type SharedShell } from '../lib/host/shared-shell.ts'
import { log } from '../lib/runner/log.ts'

export const REPO_ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..')

interface ClusterPaths {
  outDir: string
  secrets: string
  talosconfig: string
  kubeconfig: string
  config: (node: string) => string
}

export interface Cluster {
  inv: Inventory
  /** Which cluster, lab or production: what the runner's banner and journal name (the inventory's cluster section). */
  cluster: Inventory['cluster']
  inventoryFile: string
  talosctlBin: string
  paths: ClusterPaths
  talos: Talosctl
  kube: Kube
  /** What the banner exports for every echoed command (TALOSCONFIG, KUBECONFIG, PATH): pass it to other wrappers. */
  shell: SharedShell
}

export function clusterPaths(inv: { cluster: Pick<Inventory['cluster'], 'outputDir'> }): ClusterPaths {
  const outDir = isAbsolute(inv.cluster.outputDir) ? inv.cluster.outputDir : join(REPO_ROOT, inv.cluster.outputDir)
  return {
    outDir,
    secrets: join(outDir, 'secrets.yaml'),
    talosconfig: join(outDir, 'talosconfig'),
    kubeconfig: join(outDir, 'kubeconfig'),
    config: (node) => join(outDir, `${node}.yaml`),
  }
}

/**
 * The real talosctl, for the lab as for production (the lab's machines serve Talos's own API): $TALOSCTL, else
 * `talosctl` on PATH (npx and npm put node_modules/.bin first, where the lab's preflight links the talosctl it found
 * or built).
 */
export function talosctlFor(env = process.env): string {
  return env.TALOSCTL || 'talosctl'
}

export function openCluster(inventoryFile: string, opts: { dryRun?: boolean; callTimeoutMs?: number } = {}): Cluster {
  const inv = loadInventory(inventoryFile, { onWarning: (w) => log.warn(`inventory: ${formatIssue(w)}`) })
  const paths = clusterPaths(inv)
  const talosctlBin = talosctlFor()
  const cps = inv.nodes.filter((n) => n.role === 'controlplane').map((n) => n.address)
  const shell = sharedShell({
    talosconfig: paths.talosconfig,
    kubeconfig: paths.kubeconfig,
    bins: [talosctlBin, toolBin('kubectl', 'KUBECTL')],
  })
  return {
    inv,
    cluster: inv.cluster,
    inventoryFile,
    talosctlBin,
    paths,
    talos: new Talosctl({
      bin: talosctlBin,
      talosconfig: paths.talosconfig,
      endpoints: cps,
      dryRun: opts.dryRun,
      timeoutMs: opts.callTimeoutMs,
      shell,
    }),
    kube: new Kube({ kubeconfig: paths.kubeconfig, dryRun: opts.dryRun, timeoutMs: opts.callTimeoutMs, shell }),
    shell,
  }
}

export const controlPlanes = (inv: Inventory) => inv.nodes.filter((n) => n.role === 'controlplane')
export const workers = (inv: Inventory) => inv.nodes.filter((n) => n.role === 'worker')
export const validatorNode = (inv: Inventory) => inv.nodes.find((n) => n.profile === 'validator')
