// The runbook journal: one JSON line per step event, appended and fsynced, never rewritten. It is what lets the next
// run resume at the step that failed, and what an SRE reads afterwards to see what was done to which cluster, when.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { redactSecrets, redactString } from './redact.ts'

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

export type JournalEvent = 'start' | 'done' | 'skipped' | 'failed' | 'interrupted'
export type Target = 'lab' | 'production'

export interface JournalRecord {
  ts: string
  runId: string
  runbook: string
  step: string
  cluster: string
  target: Target
  event: JournalEvent
  durationMs?: number
  error?: string
  data?: unknown
  /** A --dry-run run: changed nothing, so it never counts as having done a step. */
  dryRun?: boolean
  /** What the run was about within the cluster, when a runbook has one (12-replace-node: the node it replaces). */
  scope?: string
}

/** $TALOS_RUNBOOKS_STATE_DIR, default <repo>/state (gitignored). */
export function stateDir(): string {
  return resolve(process.env.TALOS_RUNBOOKS_STATE_DIR ?? join(REPO_ROOT, 'state'))
}

export function journalPath(dir = stateDir()): string {
  return join(dir, 'journal.jsonl')
}

/** 20250612T101503Z-3fa9c2: sortable, readable in a terminal, unique enough for one operator. */
export function newRunId(now = new Date()): string {
  const ts = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  return `${ts}-${randomBytes(3).toString('hex')}`
}

// Redaction lives in lib/redact.ts (one path for every entry point); re-exported for the journal's callers.
export { isSecretKey, redactSecrets, redactString } from './redact.ts'

/**
 * Append one record as one line: a single write of the whole line on an O_APPEND descriptor, then fsync, so a crash
 * leaves either the whole line or nothing. The file is created 0600 (the journal names machines and endpoints).
 */
export function appendJournal(rec: JournalRecord, file = journalPath()): void {
  const clean: JournalRecord = { ...rec }
  if (clean.error !== undefined) clean.error = redactString(clean.error)
  if (clean.data !== undefined) clean.data = redactSecrets(clean.data)
  else delete clean.data
  for (const k of Object.keys(clean) as (keyof JournalRecord)[]) if (clean[k] === undefined) delete clean[k]
  const buf = Buffer.from(JSON.stringify(clean) + '\n', 'utf8')
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const fd = openSync(file, 'a', 0o600)
  try {
    let off = 0
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Every well-formed record, oldest first. A torn or foreign line is skipped, not fatal: the journal is evidence. */
export function readJournal(file = journalPath()): JournalRecord[] {
  if (!existsSync(file)) return []
  const out: JournalRecord[] = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue
    try {
      const r = JSON.parse(line) as JournalRecord
      if (r && typeof r.runId === 'string' && typeof r.step === 'string' && typeof r.event === 'string') out.push(r)
    } catch {
      /* skip */
    }
  }
  return out
}

interface RunSummary {
  runId: string
  startedAt: string
  dryRun: boolean
  /** Where it stopped, if it did not complete: the step and how. */
  stoppedAt?: { step: string; event: 'failed' | 'interrupted'; ts: string; error?: string }
  /** Per step, the last event this run journaled. */
  steps: Map<string, JournalRecord>
}

/** The runs of `runbook` against `cluster`, oldest first. */
/** A record of this runbook's runs against this cluster (and this scope: a run for cp2 is not one for worker1). */
const belongs = (r: JournalRecord, runbook: string, cluster: string, scope: string | undefined) =>
  r.runbook === runbook && r.cluster === cluster && r.scope === scope

function runsOf(
  records: readonly JournalRecord[],
  runbook: string,
  cluster: string,
  scope: string | undefined,
): RunSummary[] {
  const runs = new Map<string, RunSummary>()
  for (const r of records) {
    if (!belongs(r, runbook, cluster, scope)) continue
    let s = runs.get(r.runId)
    if (!s) {
      s = { runId: r.runId, startedAt: r.ts, dryRun: !!r.dryRun, steps: new Map() }
      runs.set(r.runId, s)
    }
    s.steps.set(r.step, r)
    if (r.event === 'failed' || r.event === 'interrupted')
      s.stoppedAt = { step: r.step, event: r.event, ts: r.ts, error: r.error }
  }
  for (const s of runs.values()) {
    // A run killed outright (SIGKILL, power loss) leaves a 'start' with nothing after it: it was interrupted there.
    if (!s.stoppedAt) {
      const open = [...s.steps.values()].find((r) => r.event === 'start')
      if (open) s.stoppedAt = { step: open.step, event: 'interrupted', ts: open.ts }
    }
  }
  return [...runs.values()]
}

export interface ResumePoint {
  /** Index into the runbook's step list where the next run should start. */
  index: number
  step: string
  /** The run that stopped, and where. */
  previous: { runId: string; step: string; event: 'failed' | 'interrupted'; ts: string; error?: string }
}

/**
 * Where the next run of `runbook` against `cluster` should start, given its step names in order; undefined means
 * from the top (no previous run, or the previous one completed). Dry runs are ignored. The start is the stopped step,
 * or an earlier one if some step before it has not been done (or skipped as done) since: a `--step X` run that failed
 * at X says nothing about the steps before X.
 */
export function resumePoint(
  records: readonly JournalRecord[],
  runbook: string,
  cluster: string,
  stepNames: readonly string[],
  scope?: string,
): ResumePoint | undefined {
  const real = runsOf(records, runbook, cluster, scope).filter((r) => !r.dryRun)
  const last = real.at(-1)
  if (!last?.stoppedAt) return undefined
  const stopped = stepNames.indexOf(last.stoppedAt.step)
  if (stopped < 0) return undefined // the runbook changed since: its steps' checks decide
  const lastOutcome = new Map<string, JournalEvent>()
  for (const r of records) {
    if (belongs(r, runbook, cluster, scope) && !r.dryRun && r.event !== 'start') lastOutcome.set(r.step, r.event)
  }
  let index = stopped
  for (let i = 0; i < stopped; i++) {
    const o = lastOutcome.get(stepNames[i]!)
    if (o !== 'done' && o !== 'skipped') {
      index = i
      break
    }
  }
  return { index, step: stepNames[index]!, previous: { runId: last.runId, ...last.stoppedAt } }
}

/** The last real (not dry-run) event per step, for `--list`. */
export function lastOutcomes(
  records: readonly JournalRecord[],
  runbook: string,
  cluster: string,
  scope?: string,
): Map<string, JournalRecord> {
  const out = new Map<string, JournalRecord>()
  for (const r of records) if (belongs(r, runbook, cluster, scope) && !r.dryRun) out.set(r.step, r)
  return out
}
