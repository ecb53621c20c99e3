// The first lines of every runbook run: what is about to be changed, where. The one thing an SRE must never misread
// is whether this run touches production, so that line is loud (bold red) and names the inventory file it came from.
import { basename } from 'node:path'
import { styleText } from 'node:util'
import { shellLines, type SharedShell } from '../host/shared-shell.ts'

export interface ClusterIdentity {
  name: string
  target: 'lab' | 'production'
  /** The Kubernetes API endpoint, e.g. https://127.0.10.10:6443. */
  endpoint: string
}

interface BannerInput {
  id: string
  title: string
  cluster: ClusterIdentity
  inventoryFile: string
  dryRun: boolean
  talosctlBin?: string
  /** The exports every echoed `$ talosctl …` / `$ kubectl …` line below assumes (never the files' contents). */
  shell?: SharedShell
  color?: boolean
}

function targetLine(c: ClusterIdentity, inventoryFile: string): string {
  return c.target === 'production'
    ? `TARGET: PRODUCTION ${c.endpoint} (inventory ${basename(inventoryFile)})`
    : `TARGET: LAB (simulated machines on this host) ${c.endpoint}`
}

export function formatBanner(b: BannerInput): string[] {
  const color = b.color ?? (!!process.stderr.isTTY && !process.env.NO_COLOR)
  const paint = (fmt: Parameters<typeof styleText>[0], s: string) => (color ? styleText(fmt, s) : s)
  const target = targetLine(b.cluster, b.inventoryFile)
  return [
    paint('bold', `══ ${b.id}: ${b.title}`),
    `   cluster ${b.cluster.name} · ${b.cluster.target === 'production' ? paint(['bold', 'red'], target) : paint('cyan', target)}`,
    `   ${b.dryRun ? paint(['bold', 'yellow'], 'DRY RUN: checks and reads only, nothing is changed') : 'mode: live (changes are made)'} · talosctl ${b.talosctlBin ?? '(not used)'}`,
    ...shellBlock(b.shell),
  ]
}

/** The exports, under a line saying what they are for, so a pasted `$ …` line runs as it ran here. */
function shellBlock(shell: SharedShell | undefined): string[] {
  const lines = shell ? shellLines(shell) : []
  if (lines.length === 0) return []
  return ['   the commands below ($ …) run as pasted after:', ...lines.map((l) => `     ${l}`)]
}
