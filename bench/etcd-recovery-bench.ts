// etcd backup and disaster recovery on the 5-node lab: how long 10-etcd-backup's `talosctl etcd snapshot` takes and
// how big the snapshot is, and the RTO 11-etcd-recover reports after every control plane lost its etcd data
// (runbook start → the Kubernetes API answering, and → every member voting and every node Ready), read from the
// journal records the runbooks write. Part of `npm run bench`; alone on a fresh lab of its own (127.0.120.x):
// `npx tsx bench/etcd-recovery-bench.ts`.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { benchLab, labDown, labUp, mustSh, runRunbook, type BenchLab } from './lab.ts'
import { round, summarize, type Row } from './stats.ts'

interface JournalRecord {
  runbook: string
  step: string
  event: string
  durationMs?: number
  data?: Record<string, unknown>
}

const say = (s: string) => process.stderr.write(`bench: ${s}\n`)

function lastRecord(lab: BenchLab, runbook: string, step: string): JournalRecord {
  const records = readFileSync(join(lab.env.TALOS_RUNBOOKS_STATE_DIR!, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as JournalRecord)
  const r = records.filter((x) => x.runbook === runbook && x.step === step && x.event === 'done').at(-1)
  if (!r) throw new Error(`no finished ${runbook} ${step} in the journal`)
  return r
}

const row = (name: string, unit: string, xs: number[], note?: string): Row => {
  const s = summarize(xs)
  return { name, unit, runs: s.runs, median: round(s.median, 1), min: round(s.min, 1), max: round(s.max, 1), note }
}

/** `runs` backups, then one recovery (it restores the newest of them). The lab is whole again afterwards. */
export function etcdRecoveryBench(lab: BenchLab, add: (r: Row) => void, runs: number): void {
  const ms: number[] = []
  const bytes: number[] = []
  for (let i = 0; i < runs; i++) {
    runRunbook(lab, '10')
    const r = lastRecord(lab, '10-etcd-backup', 'snapshot')
    ms.push(r.durationMs ?? NaN)
    bytes.push(Number(r.data?.size))
  }
  add(row('etcd backup: 10-etcd-backup snapshot step (stream + verify + index)', 'ms', ms))
  add(
    row(
      'etcd backup: snapshot size, 5-node lab',
      'KiB',
      bytes.map((b) => b / 1024),
    ),
  )
  say('losing every control plane’s etcd data, then 11-etcd-recover')
  for (const n of ['cp1', 'cp2', 'cp3']) mustSh(lab, 'npx', ['tsx', 'lab/cli.ts', 'fault', n, 'etcd-data-loss'])
  const t0 = performance.now()
  runRunbook(lab, '11')
  const wall = performance.now() - t0
  const rep = lastRecord(lab, '11-etcd-recover', 'report').data as { rtoMs: number; healthyMs: number; rpoMs: number }
  add(row('etcd recovery (11): RTO, start → Kubernetes API answering', 'ms', [rep.rtoMs], 'all 3 members’ data lost'))
  add(row('etcd recovery (11): start → 3 voting members, every node Ready', 'ms', [rep.healthyMs]))
  add(row('etcd recovery (11): whole run incl. post-checks', 'ms', [wall]))
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const lab = benchLab(120, 'bench-etcd')
  const rows: Row[] = []
  try {
    say(`lab up in ${lab.root}`)
    labUp(lab)
    for (const rb of ['01', '02', '03', '04', '05']) runRunbook(lab, rb)
    etcdRecoveryBench(lab, (r) => rows.push(r), Number(process.env.BENCH_RUNS ?? 3))
  } finally {
    labDown(lab)
  }
  for (const r of rows)
    process.stdout.write(
      `${r.name}: median ${r.median} ${r.unit} (${r.min}–${r.max}, ${r.runs} runs)${r.note ? `; ${r.note}` : ''}\n`,
    )
}
