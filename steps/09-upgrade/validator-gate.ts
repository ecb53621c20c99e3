// Before the validator's node goes down: wait for its restart window (no leader slot in the next N minutes), or,
// with --skip-restart-window, only after the operator confirmed (--yes confirms). Without `validator.solana` in the
// inventory there is no leader schedule to read: the runbook says so and goes on.
import { RefusedError, type StepHandle } from '../../lib/runner/runner.ts'
import { log } from '../../lib/runner/log.ts'
import type { Inventory } from '../../config/inventory.ts'
import type { NodeUpgrade } from './plan.ts'
import { waitForRestartWindow } from './restart-window.ts'

export interface RestartWindowOptions {
  windowMinutes: number
  timeoutMs: number
  skip: boolean
}

export async function validatorGate(
  inv: Inventory,
  u: NodeUpgrade,
  o: RestartWindowOptions,
  step: StepHandle,
): Promise<{ waitedMs?: number; skipped?: string }> {
  if (o.skip) {
    const ok = await step.confirm(
      `Skip the restart window and take ${u.node} down now, even inside a leader slot of the validator?`,
    )
    if (!ok) throw new RefusedError(`stopped before ${u.node}: skipping the restart window was not confirmed`)
    log.warn(`  ${u.node}: restart window skipped (--skip-restart-window): leader slots may be missed`)
    return { skipped: '--skip-restart-window' }
  }
  const solana = inv.validator?.solana
  if (!solana) {
    log.warn(
      `  ${u.node}: no validator.solana (rpcUrl, identity) in the inventory: cannot read the leader schedule, restarting without the window`,
    )
    return { skipped: 'no validator.solana in the inventory' }
  }
  log.info(
    `  ${u.node}: waiting until ${solana.identity} has no leader slot in the next ${o.windowMinutes} min (${solana.rpcUrl})`,
  )
  const r = await waitForRestartWindow(solana, {
    windowMs: o.windowMinutes * 60_000,
    timeoutMs: o.timeoutMs,
    signal: step.signal,
    progress: (s) => step.progress(s),
  })
  log.info(`  ${u.node}: restart window open${r.waitedMs > 1000 ? ` after ${Math.round(r.waitedMs / 1000)} s` : ''}`)
  return { waitedMs: r.waitedMs }
}
