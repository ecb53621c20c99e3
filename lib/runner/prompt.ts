// Confirmation questions. A question asked where nobody can answer it (CI, a pipe, cron) has no safe default:
// the runbook refuses to go on rather than guess. @inquirer/prompts is imported only when a question is asked.

/** Asked where nobody can answer: exit code 3, re-run with --yes. */
export class NonInteractiveError extends Error {
  readonly exitCode = 3
  constructor(what?: string) {
    super(`refusing to ask in a non-interactive session${what ? ` (${what})` : ''}: re-run with --yes`)
    this.name = 'NonInteractiveError'
  }
}

/** The operator pressed Ctrl-C at a question. */
export class PromptInterruptedError extends Error {
  constructor() {
    super('interrupted at a confirmation question')
    this.name = 'PromptInterruptedError'
  }
}

function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.CI ?? '').toLowerCase()
  return v !== '' && v !== 'false' && v !== '0' && v !== 'no'
}

/** Someone is at a terminal who can answer: stdin is a TTY and this is not CI. */
export function isInteractive(env: NodeJS.ProcessEnv = process.env, stdinIsTty = !!process.stdin.isTTY): boolean {
  return stdinIsTty && !isCi(env)
}

interface ConfirmOptions {
  /** --yes: answered yes without asking. */
  yes?: boolean
  interactive?: boolean
  /** Tests: answer instead of a terminal. */
  answer?: (question: string) => Promise<boolean>
}

/**
 * Ask a yes/no question defaulting to no. With --yes: true without asking. Not interactive: NonInteractiveError.
 * Ctrl-C at the question: PromptInterruptedError.
 */
export async function confirmOrRefuse(question: string, opts: ConfirmOptions = {}): Promise<boolean> {
  if (opts.yes) return true
  if (opts.answer) return opts.answer(question)
  if (!(opts.interactive ?? isInteractive())) throw new NonInteractiveError(question)
  const { confirm } = await import('@inquirer/prompts')
  try {
    // Questions go to stderr with every other line: stdout is reserved for --json.
    return await confirm({ message: question, default: false }, { output: process.stderr })
  } catch (e) {
    if ((e as Error).name === 'ExitPromptError' || (e as Error).name === 'AbortPromptError')
      throw new PromptInterruptedError()
    throw e
  }
}
