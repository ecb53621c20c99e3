// Which steps this run takes, in runbook order: --step, --from, resuming where the last real run stopped, or all.
import { log } from './log.ts'
import { asksConfirmation } from './format.ts'
import type { ResumePoint } from './journal.ts'

export function planSteps(
  runbookId: string,
  names: string[],
  flags: { step: string[]; from?: string },
  resume: ResumePoint | undefined,
): number[] {
  const all = names.map((_, i) => i)
  if (flags.step.length) return all.filter((i) => flags.step.includes(names[i]!))
  let start = 0
  if (flags.from !== undefined) start = names.indexOf(flags.from)
  else if (resume) {
    start = resume.index
    const p = resume.previous
    const how = p.event === 'failed' ? 'failed' : 'was interrupted'
    log.warn(
      p.step === resume.step
        ? `resuming ${runbookId} at ${resume.step} (previous run ${p.runId} ${how} there at ${p.ts})`
        : `resuming ${runbookId} at ${resume.step} (previous run ${p.runId} ${how} at ${p.step} at ${p.ts}; ${resume.step} has not completed since)`,
    )
    if (start > 0) log.dim(`  steps 1–${start} completed in earlier runs; --from ${names[0]} starts over`)
  }
  return all.filter((i) => i >= start)
}

/** Steps of the plan that would ask when nobody can answer: the run must refuse before starting any of them. */
export function unanswerable(
  steps: { name: string; destructive?: boolean; confirm?: unknown }[],
  plan: number[],
): string[] {
  return plan
    .map((i) => steps[i]!)
    .filter(asksConfirmation)
    .map((s) => s.name)
}
