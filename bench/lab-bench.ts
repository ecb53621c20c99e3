// The benchmarks that need a lab: a lab of their own (127.0.80.x, own dirs), deployed with 01→05, then
//  - the post-change check suite on 5 nodes and on 100 (clones of worker1), with every talosctl/kubectl call logged;
//  - a no-op re-run of 02 and 03 against the time of the calls they make;
//  - failover detection: an independent 10 ms poller of the surviving etcd members sees the real election, 08
//    reports it; the difference is how late 08 is;
//  - idle CPU of the lab's daemons.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { EtcdClient } from '../lab/etcd-client.ts'
import {
  benchLab,
  callWrappers,
  growLab,
  inventoryAtVersion,
  labDown,
  labUp,
  REPO,
  runbookFile,
  runRunbook,
  sh,
  shrinkLab,
  type BenchLab,
} from './lab.ts'
import { measureIdleCpu } from './idle-cpu.ts'
import { etcdRecoveryBench } from './etcd-recovery-bench.ts'
import { replacement } from './replace-bench.ts'
import type { NodeTimeline } from '../steps/09-upgrade/timeline.ts'
import { busyMs, callStats, parseCallLog, round, summarize, type CallRecord, type Row } from './stats.ts'

export type { Row }

type Add = (row: Row) => void
const row = (name: string, unit: string, xs: number[], target?: number, note?: string): Row => {
  const s = summarize(xs)
  return {
    name,
    unit,
    runs: s.runs,
    median: round(s.median, 1),
    min: round(s.min, 1),
    max: round(s.max, 1),
    target,
    note,
  }
}
const say = (s: string) => process.stderr.write(`bench: ${s}\n`)

interface Measured {
  wallMs: number
  calls: CallRecord[]
  stdout: string
  /** The runbook's log lines (lib/runner/log.ts writes them to stderr). */
  stderr: string
}

/** One command with the call-logging wrappers; wall time of the whole process as the operator sees it. */
function measure(lab: BenchLab, tag: string, args: string[]): Measured {
  const w = callWrappers(lab, tag)
  const t0 = performance.now()
  const r = sh(lab, 'npx', args, w.env)
  const wallMs = performance.now() - t0
  if (r.status !== 0 && r.status !== 1)
    throw new Error(`${args.join(' ')} exited ${r.status}:\n${(r.stdout + r.stderr).slice(-3000)}`)
  return { wallMs, calls: parseCallLog(readFileSync(w.log, 'utf8')), stdout: r.stdout, stderr: r.stderr }
}

function checkSuite(lab: BenchLab, add: Add, inventory: string, nodes: number, runs: number, targetMs?: number) {
  const wall: number[] = []
  const inside: number[] = []
  const talos: number[] = []
  const kube: number[] = []
  const slowest: number[] = []
  const ratio: number[] = []
  for (let i = 0; i < runs; i++) {
    const m = measure(lab, `checks-${nodes}-${i}`, ['zx', 'checks/all.ts', '--inventory', inventory, '--json'])
    const report = JSON.parse(m.stdout.slice(m.stdout.indexOf('{'))) as { durationMs?: number; results: unknown[] }
    const all = callStats(m.calls)
    wall.push(m.wallMs)
    if (report.durationMs !== undefined) inside.push(report.durationMs)
    talos.push(callStats(m.calls, 'talosctl').count)
    kube.push(callStats(m.calls, 'kubectl').count)
    slowest.push(all.slowest?.durationMs ?? NaN)
    ratio.push((report.durationMs ?? m.wallMs) / (all.slowest?.durationMs ?? NaN))
    say(
      `checks on ${nodes} nodes: ${Math.round(m.wallMs)} ms, ${talos.at(-1)} talosctl + ${kube.at(-1)} kubectl calls, slowest ${Math.round(slowest.at(-1)!)} ms`,
    )
  }
  add(row(`check suite, ${nodes} nodes: wall time of \`npx zx checks/all.ts --json\``, 'ms', wall, targetMs))
  if (inside.length)
    add(row(`check suite, ${nodes} nodes: the runner's own time (calls in parallel, without start-up)`, 'ms', inside))
  add(row(`check suite, ${nodes} nodes: slowest single talosctl/kubectl call`, 'ms', slowest))
  add(row(`check suite, ${nodes} nodes: runner time ÷ slowest call`, '×', ratio, 1.5))
  add(row(`check suite, ${nodes} nodes: talosctl invocations`, 'calls', talos))
  add(row(`check suite, ${nodes} nodes: kubectl invocations`, 'calls', kube))
}

function noOpRerun(lab: BenchLab, add: Add, prefix: string, runs: number) {
  const wall: number[] = []
  const own: number[] = []
  const busy: number[] = []
  const over: number[] = []
  const count: number[] = []
  for (let i = 0; i < runs; i++) {
    const m = measure(lab, `noop-${prefix}-${i}`, ['zx', runbookFile(prefix), '--inventory', lab.inventory, '--yes'])
    const b = busyMs(m.calls)
    // the runner's last line: "✔ 02-configure finished in 1.2 s: …" (from its first step to its last)
    const finished = /finished in ([\d.]+) s/.exec(m.stderr)
    if (finished) own.push(Number(finished[1]) * 1000)
    wall.push(m.wallMs)
    busy.push(b)
    over.push(m.wallMs - b)
    count.push(m.calls.length)
    say(`no-op ${prefix}: ${Math.round(m.wallMs)} ms, ${m.calls.length} calls busy ${Math.round(b)} ms`)
  }
  add(row(`no-op re-run of ${prefix}: wall time`, 'ms', wall, 1500))
  if (own.length) add(row(`no-op re-run of ${prefix}: the runbook's own time (without process start-up)`, 'ms', own))
  add(row(`no-op re-run of ${prefix}: time inside talosctl/kubectl calls`, 'ms', busy))
  add(row(`no-op re-run of ${prefix}: overhead (wall − calls: start-up, rendering, journal)`, 'ms', over))
  add(row(`no-op re-run of ${prefix}: talosctl/kubectl invocations`, 'calls', count))
}

interface LabNodeJson {
  etcd: { clientUrl: string }
}

/** Leader changes as the surviving members report them, polled every `everyMs`: the reference clock for 08. */
function leaderWatcher(lab: BenchLab, nodes: string[], everyMs = 10) {
  const clients = nodes.map((n) => {
    const j = JSON.parse(readFileSync(join(lab.labDir, 'nodes', n, 'node.json'), 'utf8')) as LabNodeJson
    return { node: n, client: new EtcdClient(j.etcd.clientUrl, join(lab.labDir, 'nodes', n, 'etcd-pki'), 200) }
  })
  const seen: { at: number; node: string; leader: string; term: number }[] = []
  let stop = false
  const loops = clients.map(async ({ node, client }) => {
    while (!stop) {
      const t = Date.now()
      try {
        const s = await client.call<{ leader?: string; raftTerm?: string }>('/v3/maintenance/status', {})
        seen.push({ at: Date.now(), node, leader: String(s.leader ?? ''), term: Number(s.raftTerm ?? 0) })
      } catch {
        /* the target is going down; survivors without quorum answer late */
      }
      await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (Date.now() - t))))
    }
  })
  return {
    seen,
    async stop() {
      stop = true
      await Promise.all(loops)
    },
  }
}

async function failover(lab: BenchLab, add: Add, runs: number) {
  const detect: number[] = []
  const etcdRto: number[] = []
  const apiRto: number[] = []
  for (let i = 0; i < runs; i++) {
    const cps = ['cp1', 'cp2', 'cp3']
    const watcher = leaderWatcher(lab, cps)
    await new Promise((r) => setTimeout(r, 300))
    const before = new Map(watcher.seen.map((s) => [s.node, s] as const))
    const oldTerm = Math.max(...[...before.values()].map((s) => s.term))
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn('npx', ['zx', 'runbooks/08-failover.ts', '--inventory', lab.inventory, '--yes', '--json'], {
        cwd: REPO,
        env: lab.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let o = ''
      let e = ''
      p.stdout.on('data', (d) => (o += d))
      p.stderr.on('data', (d) => (e += d))
      p.on('close', (code) =>
        code === 0 ? resolve(o) : reject(new Error(`08 exited ${code}:\n${(o + e).slice(-3000)}`)),
      )
    })
    await watcher.stop()
    const report = JSON.parse(out.slice(out.indexOf('{'))) as { steps: { name: string; data?: any }[] }
    const drill = report.steps.find((s) => s.data?.timeline)?.data as {
      target: string
      faultAt: string
      summary: { newLeader?: { atMs: number; node: string }; etcdRtoMs?: number; apiRtoMs?: number }
    }
    const faultAt = Date.parse(drill.faultAt)
    // the first moment a surviving member names a leader with a newer term than before the fault
    const elected = watcher.seen
      .filter((s) => s.at >= faultAt && s.node !== drill.target && s.term > oldTerm && /[1-9a-f]/.test(s.leader))
      .sort((a, b) => a.at - b.at)[0]
    const reported = drill.summary.newLeader ? faultAt + drill.summary.newLeader.atMs : undefined
    if (elected && reported !== undefined) detect.push(reported - elected.at)
    if (drill.summary.etcdRtoMs !== undefined) etcdRto.push(drill.summary.etcdRtoMs)
    if (drill.summary.apiRtoMs !== undefined) apiRto.push(drill.summary.apiRtoMs)
    say(
      `failover ${i + 1}: target ${drill.target}, elected seen at +${elected ? elected.at - faultAt : '?'} ms, 08 reported at +${drill.summary.newLeader?.atMs ?? '?'} ms, etcd RTO ${drill.summary.etcdRtoMs} ms, API RTO ${drill.summary.apiRtoMs} ms`,
    )
  }
  if (detect.length)
    add(
      row(
        'failover: 08 reports the new etcd leader after the real election',
        'ms',
        detect,
        300,
        "reference: a 10 ms poller of the surviving members' /v3/maintenance/status",
      ),
    )
  if (etcdRto.length) add(row('failover: etcd RTO reported by 08 (fault → a working leader)', 'ms', etcdRto))
  if (apiRto.length) add(row('failover: API RTO reported by 08 (fault → every endpoint answers)', 'ms', apiRto))
}

/** Wait until Kubernetes lists `n` Ready nodes (the lab's controllers register the clones). */
async function waitNodes(lab: BenchLab, n: number) {
  for (let i = 0; i < 120; i++) {
    const r = sh(lab, 'kubectl', ['--kubeconfig', join(lab.outDir, 'kubeconfig'), 'get', 'nodes', '--no-headers'])
    const ready = r.stdout.split('\n').filter((l) => /\sReady\s/.test(l)).length
    if (ready >= n) return
    await new Promise((r) => setTimeout(r, 1000))
  }
  throw new Error(`the lab never listed ${n} Ready nodes`)
}

/**
 * A 5-node rolling Talos upgrade (v1.10.3 → v1.10.4) with 09-upgrade: total time, per-node downtime, the fewest
 * healthy etcd members its 100 ms probes saw during the control-plane upgrades, and the API's unavailability through
 * the VIP. Read from the step's journal record (the timeline it returns). Runs once: it changes the lab's version.
 */
function rollingUpgrade(lab: BenchLab, add: Add) {
  const bumped = inventoryAtVersion(lab, 'v1.10.4')
  const t0 = performance.now()
  const r = sh(lab, 'npx', ['zx', 'runbooks/09-upgrade.ts', '--inventory', bumped, '--yes'], {}, 20 * 60_000)
  const totalMs = performance.now() - t0
  if (r.status !== 0) throw new Error(`09-upgrade exited ${r.status}:\n${(r.stdout + r.stderr).slice(-3000)}`)
  const journal = readFileSync(join(lab.env.TALOS_RUNBOOKS_STATE_DIR!, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { runbook: string; step: string; event: string; data?: { timeline?: NodeTimeline[] } })
  const timeline =
    journal.filter((j) => j.runbook === '09-upgrade' && j.step === 'upgrade-talos' && j.data?.timeline).at(-1)?.data
      ?.timeline ?? []
  const cps = timeline.filter((t) => t.probes)
  add(row('rolling upgrade, 5 nodes (09-upgrade v1.10.3 → v1.10.4): total wall time', 'ms', [totalMs]))
  add(
    row(
      'rolling upgrade: downtime per node',
      'ms',
      timeline.map((t) => t.downtimeMs),
      undefined,
      timeline.map((t) => `${t.node} ${Math.round(t.downtimeMs)}`).join(', '),
    ),
  )
  if (cps.length) {
    add(
      row(
        'rolling upgrade: fewest healthy etcd members seen (100 ms probes)',
        'members',
        [Math.min(...cps.map((t) => t.probes!.minHealthyMembers))],
        undefined,
        `of ${cps[0]!.probes!.members}; quorum needs ${Math.floor(cps[0]!.probes!.members / 2) + 1}`,
      ),
    )
    add(
      row(
        'rolling upgrade: API unavailable through the VIP, per control-plane upgrade',
        'ms',
        cps.map((t) => t.probes!.apiUnavailableMs),
      ),
    )
  }
}

export async function labBenchmarks(add: Add, opts: { runs?: number; bigNodes?: number } = {}): Promise<void> {
  const runs = opts.runs ?? 3
  const big = opts.bigNodes ?? 100
  const lab = benchLab(80)
  try {
    deployAndMeasureNoOps(lab, add, runs)
    await failover(lab, add, runs)
    say('etcd backups, then a recovery after every control plane lost its etcd data (10, 11)')
    etcdRecoveryBench(lab, add, runs)
    say('replacing cp2 after a disk loss (12-replace-node)')
    replacement(lab, add)
    say('rolling upgrade of the 5 nodes (09-upgrade)')
    rollingUpgrade(lab, add)
    say('idle CPU of the lab daemons (20 s)')
    const cpu = await measureIdleCpu(lab.labDir, 20_000)
    add(
      row(
        'lab idle: CPU of each etcd (% of one core)',
        '%',
        cpu.filter((c) => c.kind === 'etcd').map((c) => c.cpuPct),
      ),
    )
    add(
      row(
        'lab idle: CPU of each control plane (kube-apiserver, controller-manager, scheduler; % of one core)',
        '%',
        cpu.filter((c) => c.kind === 'kube-api').map((c) => c.cpuPct),
      ),
    )
    say(`growing the lab to ${big} nodes`)
    const bigInv = growLab(lab, big)
    await waitNodes(lab, big)
    checkSuite(lab, add, bigInv, big, runs, 3000)
    shrinkLab(lab)
  } finally {
    labDown(lab)
  }
}

/**
 * `npm run bench -- --checks-only`: the check suite on 5 and on `bigNodes` nodes and the no-op 02/03, on a lab of
 * their own (the figures a change to the check engine or the no-op paths moves; about a third of the full run).
 */
/** Up, 01–05 on the five machines, then the check suite and the no-op re-runs of 02 and 03 at 5 nodes. */
function deployAndMeasureNoOps(lab: ReturnType<typeof benchLab>, add: Add, runs: number): void {
  say(`lab up in ${lab.root}`)
  labUp(lab)
  for (const rb of ['01', '02', '03', '04', '05']) {
    say(`runbook ${rb}`)
    runRunbook(lab, rb)
  }
  checkSuite(lab, add, lab.inventory, 5, runs)
  noOpRerun(lab, add, '02', runs)
  noOpRerun(lab, add, '03', runs)
}

export async function checkBenchmarks(add: Add, opts: { runs?: number; bigNodes?: number } = {}): Promise<void> {
  const runs = opts.runs ?? 3
  const big = opts.bigNodes ?? 100
  const lab = benchLab(81, 'bench-checks')
  try {
    deployAndMeasureNoOps(lab, add, runs)
    say(`growing the lab to ${big} nodes`)
    const bigInv = growLab(lab, big)
    await waitNodes(lab, big)
    checkSuite(lab, add, bigInv, big, runs, 3000)
    shrinkLab(lab)
  } finally {
    labDown(lab)
  }
}
