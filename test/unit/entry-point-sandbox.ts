// Running an entry point the way an operator does (`npx zx runbooks/NN.ts …`, `npx zx checks/all.ts …`, the lab
// CLI) in a sandbox of its own: its own state dir and lab dir, which must stay empty when the input is bad, no
// terminal, no colour. Shared by the bad-input suites.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const ZX = join(REPO, 'node_modules/.bin/zx')

export interface Ran {
  code: number | null
  /** stdout and stderr interleaved, as a terminal shows them. */
  out: string
  stdout: string
  stderr: string
  stateFiles: string[]
  labFiles: string[]
  /** Wall-clock time from spawn to exit. */
  ms: number
}

export interface Sandbox {
  /** A fresh directory for this suite's files. */
  tmp: string
  run: (name: string, cmd: string[], opts?: { env?: NodeJS.ProcessEnv }) => Promise<Ran>
}

export function sandbox(prefix: string): Sandbox {
  const tmp = mkdtempSync(join(tmpdir(), prefix))
  const run = (name: string, cmd: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Ran> => {
    const box = join(tmp, name.replace(/[^a-z0-9-]/gi, '_'))
    const state = join(box, 'state')
    const lab = join(box, 'lab')
    mkdirSync(box, { recursive: true })
    const env = {
      ...process.env,
      NODE_OPTIONS: '--import tsx', // what npx sets from .npmrc
      TALOS_RUNBOOKS_STATE_DIR: state,
      TALOS_LAB_DIR: lab,
      CI: 'true',
      NO_COLOR: '1',
      ...opts.env,
    }
    const started = Date.now()
    return new Promise((resolve) => {
      const child = spawn(cmd[0]!, cmd.slice(1), { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => ((out += d), (stdout += d)))
      child.stderr.on('data', (d) => ((out += d), (stderr += d)))
      child.on('close', (code) => {
        const list = (d: string) => (existsSync(d) ? readdirSync(d, { recursive: true }).map(String) : [])
        resolve({ code, out, stdout, stderr, stateFiles: list(state), labFiles: list(lab), ms: Date.now() - started })
      })
    })
  }
  return { tmp, run }
}

/** No state, no lab state, and none of `paths` (output dirs, folders outside the repo) exists. */
export function assertNothingWritten(r: Ran, what: string, paths: string[] = []) {
  assert.deepEqual(r.stateFiles, [], `${what} wrote to the state dir`)
  assert.deepEqual(r.labFiles, [], `${what} wrote lab state`)
  for (const p of paths) assert.ok(!existsSync(p), `${what} created ${p}`)
}
