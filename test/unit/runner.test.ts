// The runner, exercised the way an SRE and CI use it: the demo runbook (test/fixtures/runbooks/demo.ts) run as a
// child process without a TTY and with CI=true, plus in-process runs where a terminal answer is needed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setLogSink } from '../../lib/runner/log.ts'
import { runRunbook, type RunbookDef } from '../../lib/runner/runner.ts'
import type { JournalRecord } from '../../lib/runner/journal.ts'

const FIXTURE = fileURLToPath(new URL('../fixtures/runbooks/demo.ts', import.meta.url))
const ZX_CLI = fileURLToPath(new URL('../../node_modules/zx/build/cli.js', import.meta.url))
const SECRETS = ['abcdef.0123456789abcdef', 's3cr3t-value']

interface Result {
  code: number | null
  stdout: string
  stderr: string
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'runner-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function start(dir: string, args: string[], env: Record<string, string> = {}, viaZx = false) {
  const argv = viaZx ? ['--import', 'tsx', ZX_CLI, FIXTURE, ...args] : ['--import', 'tsx', FIXTURE, ...args]
  const { NODE_TEST_CONTEXT: _, ...base } = process.env
  const child = spawn(process.execPath, argv, {
    env: { ...base, CI: 'true', DEMO_DIR: dir, TALOS_RUNBOOKS_STATE_DIR: join(dir, 'state'), NO_COLOR: '1', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  child.stdin.end()
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const done = new Promise<Result>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
  return { child, done }
}

const demo = (dir: string, args: string[], env: Record<string, string> = {}, viaZx = false) =>
  start(dir, args, env, viaZx).done

const ran = (dir: string): string[] =>
  existsSync(join(dir, 'ran.log')) ? readFileSync(join(dir, 'ran.log'), 'utf8').trim().split('\n') : []
const ranSteps = (dir: string) => ran(dir).map((l) => l.split(' ')[0])
const journalText = (dir: string) => readFileSync(join(dir, 'state', 'journal.jsonl'), 'utf8')
const journal = (dir: string): JournalRecord[] =>
  existsSync(join(dir, 'state', 'journal.jsonl'))
    ? journalText(dir)
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as JournalRecord)
    : []
const events = (dir: string, runId: string) =>
  journal(dir)
    .filter((r) => r.runId === runId)
    .map((r) => `${r.step}:${r.event}`)
const lastRunId = (dir: string) => journal(dir).at(-1)!.runId
const touch = (dir: string, f: string) => writeFileSync(join(dir, f), '')

test('--yes runs every step in order, journals start/done, 0600, valid JSON, no secret values', async (t) => {
  const dir = tempDir(t)
  const r = await demo(dir, ['--yes'])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(ranSteps(dir), ['prepare', 'check-ready', 'bootstrap', 'approve', 'finish'])
  assert.match(r.stderr, /^══ demo: Demo runbook for the runner tests$/m)
  assert.match(r.stderr, /TARGET: LAB \(simulated machines on this host\)/)
  assert.match(r.stderr, /talosctl \/opt\/talos\/bin\/talosctl/)
  assert.match(r.stderr, /^▶ \[1\/5\] prepare — Prepare: cp1 \(targets: cp1\)$/m)
  assert.match(r.stderr, /^▶ \[3\/5\] bootstrap — Bootstrap etcd: on cp1 \(targets: cp1\)$/m)
  assert.match(r.stderr, /^✔ bootstrap \(\d+\.\d s\)$/m)
  assert.equal(r.stdout, '')
  // the banner comes first
  assert.ok(r.stderr.startsWith('══ demo'), r.stderr)

  const file = join(dir, 'state', 'journal.jsonl')
  assert.equal(statSync(file).mode & 0o777, 0o600)
  const text = journalText(dir)
  for (const s of SECRETS) assert.ok(!text.includes(s), `journal contains ${s}`)
  const records = journal(dir)
  const runId = records[0]!.runId
  assert.ok(
    records.every(
      (x) => x.runId === runId && x.runbook === 'demo' && x.cluster === 'demo-lab' && x.target === 'lab' && !x.dryRun,
    ),
  )
  assert.deepEqual(
    events(dir, runId),
    ['prepare', 'check-ready', 'bootstrap', 'approve', 'finish'].flatMap((s) => [`${s}:start`, `${s}:done`]),
  )
  const done = records.find((x) => x.step === 'approve' && x.event === 'done')!
  assert.equal(typeof done.durationMs, 'number')
  assert.deepEqual(done.data, {
    timeline: [{ at: 0, what: 'approve' }],
    bootstrapToken: '<redacted>',
    secret: '<redacted>',
    node: 'cp1',
  })
})

test('a step whose check() says done is skipped with its reason', async (t) => {
  const dir = tempDir(t)
  touch(dir, 'done-check-ready')
  const r = await demo(dir, ['--yes'])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(ranSteps(dir), ['prepare', 'bootstrap', 'approve', 'finish'])
  assert.match(r.stderr, /▶ \[2\/5\] check-ready — Check readiness\n\s+↷ skipped: check-ready already done/)
  const skipped = journal(dir).find((x) => x.step === 'check-ready' && x.event === 'skipped')
  assert.deepEqual(skipped?.data, { reason: 'check-ready already done' })
})

test('a destructive step is refused in CI without --yes: exit 3, nothing run, nothing journaled', async (t) => {
  const dir = tempDir(t)
  const r = await demo(dir, [])
  assert.equal(r.code, 3, r.stderr)
  assert.match(
    r.stderr,
    /refusing to ask in a non-interactive session: re-run with --yes \(step bootstrap asks for confirmation\)/,
  )
  assert.deepEqual(ran(dir), [])
  assert.ok(!existsSync(join(dir, 'state', 'journal.jsonl')))
})

test('stdin not a TTY refuses too, even without CI', async (t) => {
  const dir = tempDir(t)
  const r = await demo(dir, [], { CI: '' })
  assert.equal(r.code, 3, r.stderr)
  assert.deepEqual(ran(dir), [])
})

test('no question is needed when the plan has no destructive step', async (t) => {
  const dir = tempDir(t)
  const r = await demo(dir, ['--step', 'approve'])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(ranSteps(dir), ['approve'])
})

test('--dry-run passes dryRun to ctx and step, asks nothing, writes no journal entry', async (t) => {
  const dir = tempDir(t)
  const r = await demo(dir, ['--dry-run'])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /DRY RUN/)
  assert.match(r.stderr, /\(dry-run\) would ask: Bootstrap cp1\? This can only be done once\./)
  assert.deepEqual(
    ran(dir).map((l) => l.split(' ').slice(0, 3).join(' ')),
    ['prepare', 'check-ready', 'bootstrap', 'approve', 'finish'].map((s) => `${s} dryRun=true ctxDryRun=true`),
  )
  assert.deepEqual(journal(dir), [])
})

test('a failed step: exit 1, journaled failed with a redacted error, hint; the next run resumes there', async (t) => {
  const dir = tempDir(t)
  touch(dir, 'fail-approve')
  const r1 = await demo(dir, ['--yes'])
  assert.equal(r1.code, 1, r1.stderr)
  assert.match(r1.stderr, /^✖ approve \(\d+\.\d s\): approve failed: talosctl exited 1 \(token: <redacted>\)$/m)
  assert.match(r1.stderr, /fix the cause and re-run: the runbook resumes at approve/)
  assert.ok(!r1.stderr.includes(SECRETS[0]!))
  assert.deepEqual(ranSteps(dir), ['prepare', 'check-ready', 'bootstrap', 'approve'])
  const failedRun = lastRunId(dir)
  const failed = journal(dir).at(-1)!
  assert.equal(failed.event, 'failed')
  assert.equal(failed.step, 'approve')
  assert.equal(failed.error, 'approve failed: talosctl exited 1 (token: <redacted>)')

  rmSync(join(dir, 'fail-approve'))

  // a dry run that gets through approve and finish never counts as having done them, and leaves the journal as it was
  const before = journal(dir)
  const dry = await demo(dir, ['--dry-run'])
  assert.equal(dry.code, 0, dry.stderr)
  assert.match(dry.stderr, /resuming demo at approve/)
  assert.deepEqual(journal(dir), before)

  rmSync(join(dir, 'ran.log'))
  const r2 = await demo(dir, ['--yes'])
  assert.equal(r2.code, 0, r2.stderr)
  assert.match(
    r2.stderr,
    new RegExp(
      `resuming demo at approve \\(previous run ${failedRun} failed there at ${failed.ts.replace(/\./g, '\\.')}\\)`,
    ),
  )
  assert.deepEqual(ranSteps(dir), ['approve', 'finish'])
  assert.match(r2.stderr, /^▶ \[4\/5\] approve/m)

  // completed: the next run starts from the top again
  rmSync(join(dir, 'ran.log'))
  const r3 = await demo(dir, ['--yes'])
  assert.equal(r3.code, 0, r3.stderr)
  assert.ok(!r3.stderr.includes('resuming'))
  assert.deepEqual(ranSteps(dir), ['prepare', 'check-ready', 'bootstrap', 'approve', 'finish'])
})

test('--from overrides resuming; --step/--only run exactly the named steps; resume is per cluster', async (t) => {
  const dir = tempDir(t)
  touch(dir, 'fail-finish')
  assert.equal((await demo(dir, ['--yes'])).code, 1)
  rmSync(join(dir, 'fail-finish'))

  rmSync(join(dir, 'ran.log'))
  const other = await demo(dir, ['--yes'], { DEMO_CLUSTER: 'other-lab' })
  assert.equal(other.code, 0, other.stderr)
  assert.ok(!other.stderr.includes('resuming'))
  assert.equal(ranSteps(dir).length, 5)

  rmSync(join(dir, 'ran.log'))
  const from = await demo(dir, ['--yes', '--from', 'bootstrap'])
  assert.equal(from.code, 0, from.stderr)
  assert.ok(!from.stderr.includes('resuming'))
  assert.deepEqual(ranSteps(dir), ['bootstrap', 'approve', 'finish'])

  rmSync(join(dir, 'ran.log'))
  const only = await demo(dir, ['--only', 'finish', '--step', 'prepare'])
  assert.equal(only.code, 0, only.stderr)
  assert.deepEqual(ranSteps(dir), ['prepare', 'finish'])
})

test('--list shows every step, its last outcome and the resume point, and runs nothing', async (t) => {
  const dir = tempDir(t)
  touch(dir, 'fail-approve')
  assert.equal((await demo(dir, ['--yes'])).code, 1)
  rmSync(join(dir, 'ran.log'))
  const before = journalText(dir)
  const r = await demo(dir, ['--list'])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(ran(dir), [])
  assert.equal(journalText(dir), before)
  assert.match(r.stdout, /^ 1\. prepare — Prepare: cp1 \(targets: cp1\)\n\s+last: done /m)
  assert.match(r.stdout, /^ 3\. bootstrap \[destructive\]/m)
  assert.match(r.stdout, /^ 4\. approve — Approve CSRs\n\s+last: failed .*← next run resumes here$/m)
  assert.match(r.stdout, /^ 5\. finish — Finish\n\s+last: never run$/m)
})

test('--help prints every flag and step without building the context', async (t) => {
  const dir = tempDir(t)
  for (const flag of ['--help', '-h']) {
    const r = await demo(dir, [flag], { DEMO_CONTEXT_FAIL: '1' })
    assert.equal(r.code, 0, r.stderr)
    for (const s of [
      '--node NAME',
      '--fast',
      '--inventory FILE',
      '--yes',
      '--dry-run',
      '--step',
      '--only',
      '--from',
      '--list',
      '--json',
      'prepare',
      'check-ready',
      'bootstrap',
      'approve',
      'finish',
    ]) {
      assert.ok(r.stdout.includes(s), `help lacks ${s}`)
    }
  }
  assert.deepEqual(ran(dir), [])
})

test('unknown flag, missing value, unknown step: exit 2 and nothing run', async (t) => {
  const dir = tempDir(t)
  const cases: [string[], RegExp][] = [
    [['--foo'], /unknown flag --foo for demo; see --help/],
    [['--yes', '--node'], /flag --node for demo needs a value/],
    [
      ['--yes', '--step', 'nope'],
      /unknown step "nope" for demo \(--step\); steps: prepare, check-ready, bootstrap, approve, finish/,
    ],
    [['--yes', '--from', 'nope'], /unknown step "nope" for demo \(--from\)/],
  ]
  for (const [args, re] of cases) {
    const r = await demo(dir, args, { DEMO_CONTEXT_FAIL: '1' })
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, re)
  }
  assert.deepEqual(ran(dir), [])
  assert.ok(!existsSync(join(dir, 'state', 'journal.jsonl')))
})

test('--json prints one JSON document on stdout; logs stay on stderr', async (t) => {
  const dir = tempDir(t)
  touch(dir, 'done-prepare')
  const r = await demo(dir, ['--yes', '--json', '--node', 'cp2'])
  assert.equal(r.code, 0, r.stderr)
  const doc = JSON.parse(r.stdout)
  assert.equal(doc.runbook, 'demo')
  assert.equal(doc.cluster, 'demo-lab')
  assert.equal(doc.target, 'lab')
  assert.deepEqual(
    doc.steps.map((s: { name: string; outcome: string }) => `${s.name}:${s.outcome}`),
    ['prepare:skipped', 'check-ready:done', 'bootstrap:done', 'approve:done', 'finish:done'],
  )
  assert.deepEqual(doc.steps[2].data.timeline, [{ at: 0, what: 'bootstrap' }])
  assert.equal(doc.steps[2].data.node, 'cp2')
  for (const s of SECRETS) assert.ok(!r.stdout.includes(s))
  assert.match(r.stderr, /▶ \[2\/5\]/)
})

test('a production inventory is announced as such in the banner', async (t) => {
  const dir = tempDir(t)
  const r = await demo(dir, ['--list', '--inventory', 'inventory/prod-dc1.yaml'], { DEMO_TARGET: 'production' })
  assert.equal(r.code, 0, r.stderr)
  assert.match(
    r.stderr,
    /cluster demo-lab · TARGET: PRODUCTION https:\/\/127\.0\.0\.1:6443 \(inventory prod-dc1\.yaml\)/,
  )
  assert.ok(!r.stderr.includes('LAB'))
})

test('SIGINT during a step: journaled interrupted, exit 130, the next run resumes there', async (t) => {
  const dir = tempDir(t)
  touch(dir, 'hang-approve')
  const p = start(dir, ['--yes'])
  t.after(() => p.child.kill('SIGKILL'))
  while (!existsSync(join(dir, 'started-approve'))) await new Promise((r) => setTimeout(r, 50))
  p.child.kill('SIGINT')
  const r = await p.done
  assert.equal(r.code, 130, r.stderr)
  assert.match(r.stderr, /✖ approve \(\d+\.\d s\): interrupted/)
  const last = journal(dir).at(-1)!
  assert.equal(last.step, 'approve')
  assert.equal(last.event, 'interrupted')
  assert.ok(!ranSteps(dir).includes('finish'))

  rmSync(join(dir, 'hang-approve'))
  rmSync(join(dir, 'ran.log'))
  const r2 = await demo(dir, ['--yes'])
  assert.equal(r2.code, 0, r2.stderr)
  assert.match(r2.stderr, new RegExp(`resuming demo at approve \\(previous run ${last.runId} was interrupted there at`))
  assert.deepEqual(ranSteps(dir), ['approve', 'finish'])
})

test('under `zx` (npx zx runbooks/x.ts ...) the runbook gets its own flags', async (t) => {
  const dir = tempDir(t)
  const r = await demo(dir, ['--step', 'finish', '--node', 'cp9', '--fast'], {}, true)
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(
    ran(dir).map((l) =>
      l
        .split(' ')
        .filter((w) => !w.startsWith('dryRun') && !w.startsWith('ctxDryRun'))
        .join(' '),
    ),
    ['finish node=cp9 fast=true'],
  )
})

// ---- in process: an operator at a terminal (answers supplied by the test) ----

type Ctx = { cluster: { name: string; target: 'lab' | 'production'; endpoint: string }; calls: string[] }

function def(calls: string[], opts: { failDescribe?: boolean } = {}): RunbookDef<Record<string, never>, Ctx> {
  return {
    id: 'inproc',
    title: 'in-process runbook',
    context: () => ({ cluster: { name: 'inproc-lab', target: 'lab', endpoint: 'https://127.0.0.1:6443' }, calls }),
    steps: [
      { name: 'one', describe: 'One', run: (c) => void c.calls.push('one') },
      {
        name: 'wipe',
        destructive: true,
        describe: 'Wipe the disk',
        ...(opts.failDescribe
          ? {
              detail: () => {
                throw new Error('cannot describe wipe')
              },
            }
          : {}),
        run: (c) => void c.calls.push('wipe'),
      },
      {
        name: 'ask-inside',
        describe: 'Ask inside the step',
        async run(c, step) {
          c.calls.push(`inside:${await step.confirm('Proceed inside?')}`)
          return { answered: true }
        },
      },
    ],
  }
}

async function quietly<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = []
  const prev = setLogSink((l) => lines.push(l))
  try {
    return { value: await fn(), lines }
  } finally {
    setLogSink(prev)
  }
}

test('interactive: the operator confirms: the destructive step runs; questions default to the asked wording', async (t) => {
  const dir = tempDir(t)
  const calls: string[] = []
  const asked: string[] = []
  const { value } = await quietly(() =>
    runRunbook(def(calls), {
      args: [],
      interactive: true,
      animate: false,
      journalFile: join(dir, 'j.jsonl'),
      answer: async (q) => (asked.push(q), true),
      out: () => {},
    }),
  )
  assert.equal(value.exitCode, 0)
  assert.deepEqual(calls, ['one', 'wipe', 'inside:true'])
  assert.deepEqual(asked, ['Run wipe: Wipe the disk?', 'Proceed inside?'])
})

test('interactive: the operator declines: the step is not run, journaled interrupted, the next run resumes at it', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'j.jsonl')
  const calls: string[] = []
  const { value, lines } = await quietly(() =>
    runRunbook(def(calls), {
      args: [],
      interactive: true,
      animate: false,
      journalFile: file,
      answer: async () => false,
      out: () => {},
    }),
  )
  assert.equal(value.exitCode, 1)
  assert.deepEqual(calls, ['one'])
  assert.ok(
    lines.some((l) => l.includes('not confirmed: wipe was not run')),
    lines.join('\n'),
  )
  const recs = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as JournalRecord)
  assert.deepEqual(
    recs.map((r) => `${r.step}:${r.event}`),
    ['one:start', 'one:done', 'wipe:start', 'wipe:interrupted'],
  )

  const again: string[] = []
  const second = await quietly(() =>
    runRunbook(def(again), { args: ['--yes'], interactive: false, animate: false, journalFile: file, out: () => {} }),
  )
  assert.equal(second.value.exitCode, 0)
  assert.deepEqual(again, ['wipe', 'inside:true'])
  assert.ok(second.lines.some((l) => l.includes('resuming inproc at wipe')))
})

test('a question asked inside run() where nobody can answer fails the step with exit 3', async (t) => {
  const dir = tempDir(t)
  const calls: string[] = []
  const { value } = await quietly(() =>
    runRunbook(def(calls), {
      args: ['--step', 'ask-inside'],
      interactive: false,
      animate: false,
      journalFile: join(dir, 'j.jsonl'),
      out: () => {},
    }),
  )
  assert.equal(value.exitCode, 3)
  assert.deepEqual(calls, [])
  assert.equal(value.steps[0]!.outcome, 'failed')
  assert.match(value.steps[0]!.error!, /refusing to ask in a non-interactive session/)
})

test('an error thrown by detail() fails that step, not the runner', async (t) => {
  const dir = tempDir(t)
  const calls: string[] = []
  const { value, lines } = await quietly(() =>
    runRunbook(def(calls, { failDescribe: true }), {
      args: ['--yes'],
      animate: false,
      journalFile: join(dir, 'j.jsonl'),
      out: () => {},
    }),
  )
  assert.equal(value.exitCode, 1)
  assert.deepEqual(calls, ['one'])
  assert.ok(lines.some((l) => l.includes('wipe') && l.includes('cannot describe wipe')))
})

test('runbook definitions are validated: duplicate or badly named steps', async () => {
  const d = def([])
  await assert.rejects(runRunbook({ ...d, steps: [...d.steps, d.steps[0]!] }, { args: [] }), /two steps are named one/)
  await assert.rejects(
    runRunbook({ ...d, steps: [{ name: 'Bad Name', describe: 'Bad', run: () => {} }] }, { args: [] }),
    /must be kebab-case/,
  )
})

test('a context without a cluster identity is refused before anything runs', async (t) => {
  const dir = tempDir(t)
  const calls: string[] = []
  const bad = { ...def(calls), context: () => ({ calls }) as unknown as Ctx }
  const { value, lines } = await quietly(() =>
    runRunbook(bad, { args: ['--yes'], journalFile: join(dir, 'j.jsonl'), out: () => {} }),
  )
  assert.equal(value.exitCode, 1)
  assert.deepEqual(calls, [])
  assert.ok(lines.some((l) => l.includes('returned no cluster identity')))
})

test('the banner comes first even when context() logs (its lines follow the banner)', async (t) => {
  const dir = tempDir(t)
  const calls: string[] = []
  const d = def(calls)
  const noisy: RunbookDef<Record<string, never>, Ctx> = {
    ...d,
    context: async (flags) => {
      const { log } = await import('../../lib/runner/log.ts')
      log.cmd('talosctl service etcd')
      return d.context(flags)
    },
  }
  const { value, lines } = await quietly(() =>
    runRunbook(noisy, { args: ['--list'], journalFile: join(dir, 'j.jsonl'), out: () => {} }),
  )
  assert.equal(value.exitCode, 0)
  assert.match(lines[0]!, /^══ inproc: in-process runbook/)
  const banner = lines.findIndex((l) => l.includes('TARGET: LAB'))
  const cmd = lines.findIndex((l) => l.includes('talosctl service etcd'))
  assert.ok(banner >= 0 && cmd > banner, lines.join('\n'))
})

test('a UsageError thrown by context() (a flag only the context can judge) exits 2 and runs nothing', async () => {
  const { UsageError } = await import('../../lib/runner/flags.ts')
  const calls: string[] = []
  const bad: RunbookDef<Record<string, never>, Ctx> = {
    ...def(calls),
    context: () => {
      throw new UsageError('flag --window: "x" is not a number')
    },
  }
  const { value, lines } = await quietly(() =>
    runRunbook(bad, {
      args: ['--yes'],
      animate: false,
      journalFile: join(tmpdir(), `never-${process.pid}.jsonl`),
      out: () => {},
    }),
  )
  assert.equal(value.exitCode, 2)
  assert.equal(value.outcome, 'usage')
  assert.deepEqual(calls, [])
  assert.ok(
    lines.some((l) => l.includes('inproc: cannot start: flag --window: "x" is not a number')),
    lines.join('\n'),
  )
})

test('askPerson: only a person answers; --yes and a session nobody can answer are unattended, so it is never asked', async (t) => {
  const dir = tempDir(t)
  const seen: { unattended: boolean; answer?: boolean }[] = []
  const asker: RunbookDef<Record<string, never>, Ctx> = {
    ...def([]),
    steps: [
      {
        name: 'trust',
        describe: 'trust a key',
        async run(_c, step) {
          seen.push({
            unattended: step.unattended,
            ...(step.unattended ? {} : { answer: await step.askPerson('Trust?') }),
          })
        },
      },
    ],
  }
  const asked: string[] = []
  const run = (args: string[], interactive: boolean, answer?: (q: string) => Promise<boolean>) =>
    quietly(() =>
      runRunbook(asker, {
        args,
        interactive,
        animate: false,
        journalFile: join(dir, `${seen.length}.jsonl`),
        ...(answer ? { answer } : {}),
        out: () => {},
      }),
    )
  await run(['--yes'], true, async (q) => (asked.push(q), true))
  await run([], false)
  await run([], true, async (q) => (asked.push(q), false))
  assert.deepEqual(seen, [{ unattended: true }, { unattended: true }, { unattended: false, answer: false }])
  assert.deepEqual(asked, ['Trust?'])
})
