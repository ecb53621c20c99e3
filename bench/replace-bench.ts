// Replacement time on the bench lab: cp2's machine loses its disks (the lab's disk-loss fault), is powered on blank
// into maintenance mode, and 12-replace-node brings a new cp2 in. Reported: the runbook's wall time, and from its
// journal the steps that make it up (snapshot, remove-member, install + config, etcd join, checks). Runs once per
// call: each run replaces cp2 again.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { mustSh, sh, type BenchLab } from './lab.ts'
import { round, type Row } from './stats.ts'

const STEPS = ['etcd-backup', 'remove-member', 'delete-node', 'provision', 'configure', 'etcd-join', 'checks']

export function replacement(lab: BenchLab, add: (row: Row) => void, node = 'cp2'): void {
  mustSh(lab, 'npx', ['tsx', 'lab/cli.ts', 'fault', node, 'disk-loss'])
  mustSh(lab, 'npx', ['tsx', 'lab/cli.ts', 'heal', node]) // powers it on: maintenance mode
  const t0 = performance.now()
  const r = sh(lab, 'npx', ['zx', 'runbooks/12-replace-node.ts', '--inventory', lab.inventory, '--node', node, '--yes'])
  const wallMs = performance.now() - t0
  if (r.status !== 0) throw new Error(`12-replace-node exited ${r.status}:\n${(r.stdout + r.stderr).slice(-3000)}`)
  const journal = readFileSync(join(lab.env.TALOS_RUNBOOKS_STATE_DIR!, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { runbook: string; step: string; event: string; durationMs?: number })
    .filter((j) => j.runbook === '12-replace-node' && j.event === 'done' && j.durationMs !== undefined)
  const last = (step: string) => journal.filter((j) => j.step === step).at(-1)?.durationMs
  const one = (name: string, ms: number, note?: string): Row => {
    const v = round(ms, 1)
    return { name, unit: 'ms', runs: 1, median: v, min: v, max: v, note }
  }
  add(one(`replace a control plane (${node} disk-loss → 12-replace-node): wall time`, wallMs))
  add(
    one(
      'replace a control plane: time per step',
      STEPS.reduce((s, x) => s + (last(x) ?? 0), 0),
      STEPS.map((x) => `${x} ${Math.round(last(x) ?? 0)}`).join(', '),
    ),
  )
}
