// --list: every step, what it would do here, its last outcome, and where the next run resumes. Runs nothing.
import { asksConfirmation, describeStep, errorMessage, targetsSuffix } from './format.ts'
import { lastOutcomes, type JournalRecord, type ResumePoint } from './journal.ts'
import type { StepDef } from './types.ts'

export function formatStepList<C>(
  runbookId: string,
  cluster: string,
  steps: StepDef<C>[],
  ctx: C,
  records: JournalRecord[],
  resume: ResumePoint | undefined,
  scope?: string,
): string {
  const last = lastOutcomes(records, runbookId, cluster, scope)
  const lines = steps.map((s, i) => {
    let what: string
    try {
      what = `${describeStep(s, ctx)}${targetsSuffix(s.targets?.(ctx) ?? [])}`
    } catch (e) {
      what = `(cannot describe: ${errorMessage(e)})`
    }
    const l = last.get(s.name)
    const mark = asksConfirmation(s) ? ' [destructive]' : ''
    const lastTxt = l ? `last: ${l.event} ${l.ts} (run ${l.runId})` : 'last: never run'
    const here = resume && resume.index === i ? '  ← next run resumes here' : ''
    return `${String(i + 1).padStart(2)}. ${s.name}${mark} — ${what}\n      ${lastTxt}${here}`
  })
  return lines.join('\n') + '\n'
}
