import { test } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  appendJournal,
  isSecretKey,
  journalPath,
  newRunId,
  readJournal,
  redactSecrets,
  redactString,
  resumePoint,
  type JournalEvent,
  type JournalRecord,
} from '../../lib/runner/journal.ts'

const STEPS = ['gen', 'apply', 'bootstrap', 'approve', 'verify']

function rec(runId: string, step: string, event: JournalEvent, extra: Partial<JournalRecord> = {}): JournalRecord {
  return {
    ts: `2025-06-12T10:00:0${STEPS.indexOf(step)}Z`,
    runId,
    runbook: '03-bootstrap',
    step,
    cluster: 'lab',
    target: 'lab',
    event,
    ...extra,
  }
}
/** A run that did `done` for each step in order and then `last` at the final one. */
function run(runId: string, steps: string[], last: JournalEvent, extra: Partial<JournalRecord> = {}): JournalRecord[] {
  return steps.flatMap((s, i) => [
    rec(runId, s, 'start', extra),
    rec(runId, s, i === steps.length - 1 ? last : 'done', extra),
  ])
}

test('append writes one JSON line per record, 0600, and reads back in order', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'journal-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'sub', 'journal.jsonl')
  const records = run('r1', ['gen', 'apply'], 'failed', { error: 'apply failed' })
  for (const r of records) appendJournal(r, file)
  assert.equal(statSync(file).mode & 0o777, 0o600)
  const lines = readFileSync(file, 'utf8').split('\n')
  assert.equal(lines.pop(), '')
  assert.equal(lines.length, 4)
  for (const l of lines) JSON.parse(l)
  assert.deepEqual(readJournal(file), records)
})

test('a torn or foreign line is skipped, the rest still read', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'journal-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'journal.jsonl')
  appendJournal(rec('r1', 'gen', 'done'), file)
  appendFileSync(file, '{"ts":"2025-06-12T10:00:00Z","runId":"r1","runb\n[1,2]\n')
  appendJournal(rec('r1', 'apply', 'done'), file)
  assert.deepEqual(
    readJournal(file).map((r) => r.step),
    ['gen', 'apply'],
  )
  assert.deepEqual(readJournal(join(dir, 'absent.jsonl')), [])
})

test('the journal lives in $TALOS_RUNBOOKS_STATE_DIR', () => {
  const prev = process.env.TALOS_RUNBOOKS_STATE_DIR
  process.env.TALOS_RUNBOOKS_STATE_DIR = '/tmp/some-state'
  try {
    assert.equal(journalPath(), '/tmp/some-state/journal.jsonl')
  } finally {
    if (prev === undefined) delete process.env.TALOS_RUNBOOKS_STATE_DIR
    else process.env.TALOS_RUNBOOKS_STATE_DIR = prev
  }
})

test('secret-named keys are redacted at any depth; other values kept', () => {
  for (const k of [
    'token',
    'bootstrapToken',
    'client-key',
    'ca_crt',
    'secret',
    'secretsBundle',
    'password',
    'privateKey',
    'kubeconfig',
    'cert',
  ]) {
    assert.ok(isSecretKey(k), k)
  }
  for (const k of ['node', 'timeline', 'members', 'monkey', 'keyboard', 'durationMs', 'certificateCount'])
    assert.ok(!isSecretKey(k), k)
  const out = redactSecrets({
    node: 'cp1',
    members: [{ name: 'cp1', token: 'abc', nested: { 'client-key': 'K' } }],
    at: new Date(0),
    ok: true,
    count: 3,
  })
  assert.deepEqual(out, {
    node: 'cp1',
    members: [{ name: 'cp1', token: '<redacted>', nested: { 'client-key': '<redacted>' } }],
    at: '1970-01-01T00:00:00.000Z',
    ok: true,
    count: 3,
  })
})

test('secrets inside free text are scrubbed', () => {
  const pem = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----'
  assert.equal(redactString(`bad key ${pem} here`), 'bad key <redacted> here')
  assert.equal(redactString('Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.x.y'), 'Authorization: Bearer <redacted>')
  assert.equal(redactString('join with abcdef.0123456789abcdef now'), 'join with <redacted> now')
  assert.equal(redactString('failed (token: sekrit123)'), 'failed (token: <redacted>)')
  assert.equal(redactString('--client-secret=hunter2 ok'), '--client-secret=<redacted> ok')
  assert.equal(redactString('etcd member cp2 is not healthy'), 'etcd member cp2 is not healthy')
})

test('appendJournal redacts data and error before writing', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'journal-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'journal.jsonl')
  appendJournal(
    rec('r1', 'gen', 'failed', { error: 'talosctl: token=abc123', data: { secrets: { bundle: 'X' }, node: 'cp1' } }),
    file,
  )
  const text = readFileSync(file, 'utf8')
  assert.ok(!text.includes('abc123') && !text.includes('"X"'), text)
  assert.deepEqual(JSON.parse(text).data, { secrets: '<redacted>', node: 'cp1' })
})

test('run ids sort by time', () => {
  const a = newRunId(new Date('2025-01-01T00:00:00Z'))
  const b = newRunId(new Date('2025-01-01T00:00:01Z'))
  assert.match(a, /^20250101T000000Z-[0-9a-f]{6}$/)
  assert.ok(a < b)
})

test('resume: none after a completed run or with no history', () => {
  assert.equal(resumePoint([], '03-bootstrap', 'lab', STEPS), undefined)
  assert.equal(resumePoint(run('r1', STEPS, 'done'), '03-bootstrap', 'lab', STEPS), undefined)
  // failed once, completed later: from the top
  assert.equal(
    resumePoint([...run('r1', ['gen', 'apply'], 'failed'), ...run('r2', STEPS, 'done')], '03-bootstrap', 'lab', STEPS),
    undefined,
  )
})

test('resume at the step that failed or was interrupted', () => {
  const failed = resumePoint(
    run('r1', ['gen', 'apply', 'bootstrap'], 'failed', { error: 'boom' }),
    '03-bootstrap',
    'lab',
    STEPS,
  )
  assert.deepEqual(failed, {
    index: 2,
    step: 'bootstrap',
    previous: { runId: 'r1', step: 'bootstrap', event: 'failed', ts: '2025-06-12T10:00:02Z', error: 'boom' },
  })
  const interrupted = resumePoint(
    run('r1', ['gen', 'apply', 'bootstrap', 'approve'], 'interrupted'),
    '03-bootstrap',
    'lab',
    STEPS,
  )
  assert.equal(interrupted?.step, 'approve')
  assert.equal(interrupted?.previous.event, 'interrupted')
})

test('resume: a scoped run resumes only a run with the same scope (12 for cp2 is not 12 for worker1)', () => {
  const cp2Failed = run('r1', ['gen', 'apply'], 'failed', { scope: 'cp2' })
  assert.equal(resumePoint(cp2Failed, '03-bootstrap', 'lab', STEPS, 'worker1'), undefined)
  assert.equal(resumePoint(cp2Failed, '03-bootstrap', 'lab', STEPS), undefined)
  assert.equal(resumePoint(cp2Failed, '03-bootstrap', 'lab', STEPS, 'cp2')?.step, 'apply')
  // worker1's own steps done since do not count for cp2
  const both = [...cp2Failed, ...run('r2', STEPS, 'done', { scope: 'worker1' })]
  assert.equal(resumePoint(both, '03-bootstrap', 'lab', STEPS, 'cp2')?.step, 'apply')
})

test('resume: a run killed outright (a start and nothing after) counts as interrupted there', () => {
  const records = [...run('r1', ['gen'], 'done'), rec('r1', 'apply', 'start')]
  const r = resumePoint(records, '03-bootstrap', 'lab', STEPS)
  assert.equal(r?.step, 'apply')
  assert.equal(r?.previous.event, 'interrupted')
})

test('resume: steps before the stop that never completed pull the start back', () => {
  // `--step bootstrap` failed: gen and apply were never done
  const records = run('r1', ['bootstrap'], 'failed')
  assert.equal(resumePoint(records, '03-bootstrap', 'lab', STEPS)?.step, 'gen')
  // done in an earlier run, failed at approve after a resume
  const two = [...run('r1', ['gen', 'apply', 'bootstrap'], 'failed'), ...run('r2', ['bootstrap', 'approve'], 'failed')]
  assert.equal(resumePoint(two, '03-bootstrap', 'lab', STEPS)?.step, 'approve')
  // a skipped step (check said done) counts as done
  const skipped = [rec('r1', 'gen', 'start'), rec('r1', 'gen', 'skipped'), ...run('r1', ['apply'], 'failed')]
  assert.equal(resumePoint(skipped, '03-bootstrap', 'lab', STEPS)?.step, 'apply')
})

test('resume ignores dry runs, other clusters and other runbooks', () => {
  const failed = run('r1', ['gen', 'apply'], 'failed')
  const dry = run('r2', ['apply', 'bootstrap', 'approve', 'verify'], 'done', { dryRun: true })
  assert.equal(resumePoint([...failed, ...dry], '03-bootstrap', 'lab', STEPS)?.step, 'apply')
  // a dry run that failed is no reason to resume either
  assert.equal(resumePoint(run('r3', ['gen'], 'failed', { dryRun: true }), '03-bootstrap', 'lab', STEPS), undefined)
  assert.equal(resumePoint(failed, '03-bootstrap', 'prod', STEPS), undefined)
  assert.equal(resumePoint(failed, '04-join', 'lab', STEPS), undefined)
})

test('resume: a stop at a step the runbook no longer has starts from the top', () => {
  assert.equal(resumePoint(run('r1', ['gen', 'old-step'], 'failed'), '03-bootstrap', 'lab', STEPS), undefined)
})
