// The reporter: aligned columns with one line per result, cut to the terminal's width, and a summary line, or exactly one JSON document; exit codes;
// the CLI's flag handling; and diffReports.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { ALL_CHECKS } from '../../checks/defs/index.ts'
import { parseCliArgs, runCheckCli } from '../../checks/engine/cli.ts'
import { talosctlFor } from '../../config/cluster.ts'
import { scriptArgs, UsageError } from '../../lib/runner/flags.ts'
import { diffReports, formatDiff } from '../../checks/engine/diff.ts'
import {
  cell,
  exitCode,
  renderEvidenceTexts,
  renderJson,
  renderTable,
  summaryLine,
  TARGET_WIDTH,
} from '../../checks/engine/reporter.ts'
import { result, worded } from '../../checks/engine/results.ts'
import { summarize } from '../../checks/engine/runner.ts'
import type { Report, Result } from '../../checks/engine/types.ts'
import { setLogSink } from '../../lib/runner/log.ts'
import { cutMiddle, fitWidths, terminalWidth } from '../../lib/runner/columns.ts'

const logs: string[] = []
setLogSink((l) => logs.push(l))

const r = (
  check: string,
  target: string,
  status: Result['status'],
  seen: unknown = 1,
  wanted: unknown = 1,
): Result => ({
  check,
  target,
  status,
  evidence: { seen, wanted },
  // what a check would word them as; here simply the values as one line, so the cutting below is exercised
  text: { seen: cell(seen), wanted: cell(wanted) },
  message: `${check} on ${target} is ${status}`,
})

function report(results: Result[]): Report {
  return {
    cluster: 'solana-lab',
    target: 'lab',
    startedAt: '2025-01-01T00:00:00.000Z',
    durationMs: 12,
    results,
    summary: summarize(results),
  }
}

const sample = () =>
  report([
    r('etcd.leader', 'cluster', 'pass', { leader: 'ecebb05b59a776f1' }, 'one leader'),
    r('etcd.raft-lag', 'cp2', 'warn', { lag: 150 }, 'lag ≤ 100'),
    r('hugepages.numa', 'validator1/node1', 'fail', 2, 4),
    r('numa.topology', 'validator1', 'pass', { numactl: 'available: 2 nodes (0-1)\nnode 0 cpus: 0 1\n' }, {}),
  ])

test('reporter: aligned columns like kubectl, one line per result, no borders or rules, the summary line', () => {
  const rep = sample()
  const lines = renderTable(rep).split('\n')
  assert.match(lines[0]!, /^CHECK {3,}TARGET {3,}STATUS {3}SEEN {3,}WANTED$/)
  const rows = lines.filter((l) => !l.startsWith(' '))
  assert.equal(rows.length - 1, rep.results.length)
  for (const res of rep.results)
    assert.equal(rows.filter((l) => l.includes(res.check) && l.includes(res.target)).length, 1)
  assert.ok(
    rows.some((l) => /^hugepages\.numa {3,}validator1\/node1 {3,}FAIL {3,}2 {3,}4$/.test(l)),
    lines.join('\n'),
  )
  // every column starts at the same place on every line
  const at = (l: string, word: string) => l.indexOf(word)
  assert.equal(
    new Set(rows.slice(1).map((l) => at(l, l.includes('PASS') ? 'PASS' : l.includes('WARN') ? 'WARN' : 'FAIL'))).size,
    1,
  )
  assert.equal(at(lines[0]!, 'STATUS'), at(rows[1]!, 'PASS'))
  assert.ok(!lines.some((l) => /[─│┌└]|^[-+|]+$/.test(l)), 'no borders or rules')
  assert.ok(!lines.some((l) => l !== l.trimEnd()), 'no trailing spaces')
  assert.equal(summaryLine(rep.summary), '2 passed, 1 warned, 1 failed')
})

test('reporter: the reason shows only under results that did not pass, indented; --wide shows every one', () => {
  const lines = renderTable(sample()).split('\n')
  const details = lines.filter((l) => l.startsWith('    '))
  assert.deepEqual(details, ['    etcd.raft-lag on cp2 is warn', '    hugepages.numa on validator1/node1 is fail'])
  assert.equal(
    lines[lines.findIndex((l) => l.startsWith('hugepages.numa')) + 1],
    '    hugepages.numa on validator1/node1 is fail',
  )
  const wide = renderTable(sample(), { wide: true })
    .split('\n')
    .filter((l) => l.startsWith('    '))
  assert.equal(wide.length, 4)
})

test('reporter: lines never exceed the width: the widest column and the reasons are cut with …; --wide cuts nothing', () => {
  const long = report([
    r(
      'cluster.nodes-ready',
      'worker1',
      'fail',
      { conditions: [{ type: 'Ready', status: 'False', message: 'x'.repeat(300) }] },
      { ready: true, role: 'worker', why: 'y'.repeat(200) },
    ),
    r('sysctls.value', 'validator1/net.core.rmem_max', 'pass', '134217728', '134217728'),
  ])
  long.results[0]!.message = `node worker1 is not Ready: ${'z'.repeat(400)}`
  for (const width of [120, 80, 200]) {
    const lines = renderTable(long, { width }).split('\n')
    assert.ok(
      lines.every((l) => [...l].length <= width),
      `${width}: ${lines.map((l) => [...l].length).join(',')}`,
    )
    assert.ok(
      lines.some((l) => [...l].length === width),
      'uses the room it has',
    )
    assert.ok(lines.some((l) => l.endsWith('…')))
    if (width >= 120)
      assert.ok(
        lines.some((l) =>
          /^sysctls\.value {3,}validator1\/net\.core\.rmem_max {3,}PASS {3,}134217728 {3,}134217728$/.test(l),
        ),
        'short cells and the names are not cut',
      )
  }
  const wide = renderTable(long, { width: 120, wide: true })
  assert.ok(wide.includes('x'.repeat(300)) && wide.includes('y'.repeat(200)) && wide.includes('z'.repeat(400)))
  assert.ok(!wide.includes('…'))
})

test('reporter: colour codes do not count toward the width or break the alignment', () => {
  const plain = renderTable(sample(), { width: 120 }).split('\n')
  const coloured = renderTable(sample(), { width: 120, color: true })
    .split('\n')
    // eslint-disable-next-line no-control-regex
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''))
  assert.deepEqual(coloured, plain)
})

test('reporter: multi-line evidence is one line in the table (first line and a count), never cut there', () => {
  assert.equal(
    cell('available: 2 nodes (0-1)\nnode 0 cpus: 0 1\nnode 1 cpus: 2 3\n'),
    'available: 2 nodes (0-1) (+2 lines)',
  )
  assert.equal(cell('x'.repeat(500)), 'x'.repeat(500))
  assert.equal(cell(null), '-')
  assert.equal(cell({ a: 1 }), '{"a":1}')
})

test('columns: the widest column is narrowed first, down to the next widest, never below its minimum', () => {
  assert.deepEqual(fitWidths([10, 50, 30], [8, 8, 8], 70), [10, 27, 27])
  assert.deepEqual(fitWidths([10, 50, 30], [8, 8, 8], 200), [10, 50, 30])
  assert.deepEqual(fitWidths([10, 50, 30], [10, 8, 8], 10), [10, 8, 8], 'stops at the minimums')
  assert.equal(terminalWidth({ isTTY: false, columns: 300 }), 120)
  assert.equal(terminalWidth({ isTTY: true, columns: 90 }), 90)
})

test('reporter: the numactl text in full; on failure what was wanted beside it, or below when it would not fit', () => {
  const numactl =
    'available: 2 nodes (0-1)\nnode 0 cpus: 0 2\nnode 0 size: 8192 MB\nnode 1 cpus: 1 3\nnode 1 size: 8192 MB\n'
  const ok = renderEvidenceTexts(
    report([r('numa.topology', 'validator1', 'pass', { nodes: [], numactl }, { nodes: 2 })]),
  )
  assert.deepEqual(ok, [
    '',
    'validator1: numactl --hardware as numa.topology saw it (PASS)',
    ...numactl
      .trimEnd()
      .split('\n')
      .map((l) => `    ${l}`),
  ])
  const bad = renderEvidenceTexts(
    report([r('numa.topology', 'validator1', 'fail', { nodes: [], numactl }, { nodes: 4, symmetric: true })]),
    { width: 120 },
  )
  assert.equal(bad[1], 'validator1: numactl --hardware as numa.topology saw it (FAIL)')
  assert.deepEqual(bad.slice(2, 5), [
    '    available: 2 nodes (0-1) │ the inventory expects:',
    '    node 0 cpus: 0 2         │ nodes: 4',
    '    node 0 size: 8192 MB     │ symmetric: true',
  ])
  const narrow = renderEvidenceTexts(
    report([r('numa.topology', 'validator1', 'fail', { nodes: [], numactl }, { nodes: 4 })]),
    { width: 30 },
  )
  assert.deepEqual(narrow.slice(-3), ['    node 1 size: 8192 MB', '    the inventory expects:', '    nodes: 4'])
  assert.deepEqual(renderEvidenceTexts(report([r('etcd.leader', 'cluster', 'fail', { leader: 'a' }, 'b')])), [])
})

test('reporter: --json output is one valid JSON document with the report fields', () => {
  const text = renderJson(sample())
  const doc = JSON.parse(text)
  assert.deepEqual(Object.keys(doc), ['cluster', 'target', 'startedAt', 'durationMs', 'results', 'summary'])
  assert.deepEqual(doc.summary, { pass: 2, warn: 1, fail: 1 })
  assert.equal(doc.results.length, 4)
  assert.equal(
    text
      .trimEnd()
      .split('\n')
      .filter((l: string) => l === '}').length,
    1,
    'a single top-level document',
  )
})

test('reporter: exit code is 1 on any fail, 0 with only passes and warnings', () => {
  assert.equal(exitCode(sample()), 1)
  assert.equal(exitCode(report([r('a.b', 'x', 'pass'), r('a.c', 'x', 'warn')])), 0)
  assert.equal(exitCode(report([])), 0)
})

test('cli: flags are strict; unknown flag or missing inventory is a usage error', () => {
  assert.deepEqual(
    parseCliArgs(['--inventory', 'inv.yaml', '--json', '--only', 'etcd', '--only', 'numa.topology,kernel']),
    {
      inventory: 'inv.yaml',
      json: true,
      wide: false,
      only: ['etcd', 'numa.topology', 'kernel'],
      help: false,
      callTimeoutMs: 30_000,
      verbose: false,
    },
  )
  assert.equal(parseCliArgs(['--inventory', 'x', '--verbose']).verbose, true)
  assert.throws(
    () => parseCliArgs(['--inventory', 'x', '--verbosity']),
    (e: unknown) => e instanceof UsageError && /--verbosity/.test((e as Error).message),
  )
  assert.throws(() => parseCliArgs(['--json']), /--inventory FILE is required/)
  assert.throws(() => parseCliArgs(['--inventory', 'x', 'extra']), UsageError)
})

test('cli: exit 2 on usage errors, with the reason on stderr and nothing on stdout', async () => {
  const out: string[] = []
  logs.length = 0
  assert.equal(await runCheckCli(ALL_CHECKS, ['--inventory', 'x.yaml', '--bogus'], { stdout: (s) => out.push(s) }), 2)
  assert.match(logs.join('\n'), /Unknown option '--bogus'/)
  assert.equal(
    await runCheckCli(ALL_CHECKS, ['--inventory', 'x.yaml', '--only', 'nosuch'], { stdout: (s) => out.push(s) }),
    2,
  )
  assert.match(logs.join('\n'), /unknown check or group: nosuch/)
  assert.equal(
    await runCheckCli(ALL_CHECKS, ['--inventory', '/nonexistent/inv.yaml'], { stdout: (s) => out.push(s) }),
    2,
  )
  assert.deepEqual(out, [])
})

test('cli: --json prints exactly one document on stdout; a failing source exits 1 without crashing', async () => {
  {
    const inv = fileURLToPath(new URL('../../inventory/lab.yaml', import.meta.url))
    const out: string[] = []
    const ctx = () => ({
      talos: {
        run: async (args: string[]) => ({
          command: `talosctl ${args.join(' ')}`,
          stdout: '',
          stderr: 'error: connection refused',
          exitCode: 1,
        }),
      },
      kube: {
        nodes: async () => ({ items: [] }),
        pods: async () => ({ items: [] }),
        csrs: async () => ({ items: [] }),
      },
    })
    const code = await runCheckCli(ALL_CHECKS, ['--inventory', inv, '--json', '--only', 'etcd'], {
      stdout: (s) => out.push(s),
      context: ctx,
    })
    assert.equal(code, 1)
    const doc = JSON.parse(out.join(''))
    assert.equal(doc.cluster, 'solana-lab')
    assert.ok(doc.results.length > 0)
    // no control plane answers: one talos.api failure each, naming the cause; the etcd checks report the cluster
    assert.ok(doc.results.every((x: Result) => x.check.startsWith('etcd.') || x.check === 'talos.api'))
    assert.deepEqual(
      doc.results.filter((x: Result) => x.check === 'talos.api').map((x: Result) => x.target),
      ['cp1', 'cp2', 'cp3'],
    )
    assert.ok(doc.results.some((x: Result) => x.status === 'fail' && /connection refused/.test(JSON.stringify(x))))
  }
})

test('cli: talosctl binary is $TALOSCTL, else talosctl on PATH, for the lab as for production', () => {
  assert.equal(talosctlFor({ TALOSCTL: '/opt/talosctl' }), '/opt/talosctl')
  assert.equal(talosctlFor({}), 'talosctl')
  assert.equal(talosctlFor({ TALOSCTL: '' }), 'talosctl')
})

test('cli: script arguments come after the entry file, however zx/tsx prefix argv', () => {
  const entry = new URL('../../checks/all.ts', import.meta.url)
  const file = entry.pathname
  assert.deepEqual(scriptArgs(['/usr/bin/node', '/x/node_modules/zx/build/cli.js', file, '--json'], entry.href), [
    '--json',
  ])
  assert.deepEqual(scriptArgs(['/usr/bin/node', file, '--inventory', 'a'], entry.href), ['--inventory', 'a'])
})

test('diff: regressions, improvements, additions and removals between two reports', () => {
  const prev = report([
    r('etcd.leader', 'cluster', 'pass'),
    r('etcd.raft-lag', 'cp2', 'warn'),
    r('kernel.modules', 'validator1/tcp_bbr', 'fail'),
    r('old.check', 'x', 'pass'),
  ])
  const next = report([
    r('etcd.leader', 'cluster', 'fail'),
    r('etcd.raft-lag', 'cp2', 'pass'),
    r('kernel.modules', 'validator1/tcp_bbr', 'fail'),
    r('new.check', 'y', 'warn'),
  ])
  const d = diffReports(prev, next)
  assert.deepEqual(
    d.regressed.map((c) => [c.check, c.from, c.to]),
    [
      ['etcd.leader', 'pass', 'fail'],
      ['new.check', undefined, 'warn'],
    ],
  )
  assert.deepEqual(
    d.improved.map((c) => [c.check, c.from, c.to]),
    [['etcd.raft-lag', 'warn', 'pass']],
  )
  assert.deepEqual(
    d.added.map((c) => c.check),
    ['new.check'],
  )
  assert.deepEqual(
    d.removed.map((c) => c.check),
    ['old.check'],
  )
  assert.equal(d.unchanged, 1)
  assert.match(formatDiff(d)[0]!, /^regressed etcd\.leader cluster: pass → fail/)
})

test('reporter: SEEN and WANTED show the words a check gave; --wide shows the whole evidence instead', () => {
  const svc = worded({ state: 'Running', health: 'OK', events: ['Health check successful'] }, 'Running, healthy')
  const rep = report([
    result(
      'cluster.etcd-service',
      'cp1',
      'pass',
      svc,
      worded({ state: 'Running', health: 'OK' }, 'Running, healthy'),
      'x',
    ),
  ])
  const row = renderTable(rep, { width: 120 }).split('\n')[1]!
  assert.match(row, /^cluster\.etcd-service {3,}cp1 {3,}PASS {3,}Running, healthy {3,}Running, healthy$/)
  assert.ok(!row.includes('{'), row)
  const wide = renderTable(rep, { width: 120, wide: true }).split('\n')[1]!
  assert.ok(wide.includes('{"state":"Running","health":"OK","events":["Health check successful"]}'), wide)
  assert.ok(wide.includes('{"state":"Running","health":"OK"}'), wide)
  // --json carries the evidence as it was (and the words beside it)
  const json = JSON.parse(renderJson(rep)) as Report
  assert.deepEqual(json.results[0]!.evidence.seen, svc.value)
  assert.equal(json.results[0]!.text.seen, 'Running, healthy')
})

test('reporter: a long target keeps its node and loses the middle of its item; --wide and --json keep it whole', () => {
  assert.equal(cutMiddle('net.ipv4.tcp_congestion_control', 21), 'net.ipv4.t…on_control')
  assert.equal(cutMiddle('net.core.rmem_max', 17), 'net.core.rmem_max')
  assert.equal([...cutMiddle('x'.repeat(50), 9)].length, 9)
  const long = 'validator1/net.ipv4.tcp_congestion_control'
  const rep = report([result('sysctls.values', long, 'fail', 'cubic', 'bbr', 'x')])
  const lines = renderTable(rep, { width: 120 }).split('\n')
  assert.match(lines[1]!, /^sysctls\.values {3}validator1\/net\.ipv4\.tc…ion_control {3}FAIL {3,}cubic {3}bbr$/)
  assert.ok([...'validator1/net.ipv4.tc…ion_control'].length <= TARGET_WIDTH)
  assert.ok(renderTable(rep, { wide: true }).includes(long))
  assert.equal((JSON.parse(renderJson(rep)) as Report).results[0]!.target, long)
  // two items that would read alike once cut stay whole: a target must still say which result it is
  const twins = report([
    result('sysctls.values', 'validator1/net.ipv4.tcp_aaaa_one_congestion_control', 'pass', '1', '1', 'x'),
    result('sysctls.values', 'validator1/net.ipv4.tcp_bbbb_one_congestion_control', 'pass', '1', '1', 'x'),
  ])
  const t = renderTable(twins, { width: 120 })
  assert.ok(t.includes('tcp_aaaa_one_congestion_control') && t.includes('tcp_bbbb_one_congestion_control'), t)
})

test('reporter: the check table of a full lab run fits 120 columns with SEEN and WANTED uncut', () => {
  // every check family's longest target and typical words, as checks/all.ts shows them on the lab
  const rep = report([
    result('kubelet.reserved-whole-cores', 'validator1', 'pass', '0,16', 'whole cores', 'x'),
    result('sysctls.values', 'validator1/net.ipv4.tcp_congestion_control', 'pass', 'bbr', 'bbr', 'x'),
    result('kubelet.config', 'validator1/cpuManagerPolicyOptions', 'pass', 'full-pcpus-only=true', 'x', 'x'),
    result('etcd.db-size', 'cp1', 'pass', worded({}, '0.2 MiB of 2 GiB'), '< 80% of 2 GiB', 'x'),
  ])
  const lines = renderTable(rep, { width: 120 }).split('\n')
  assert.ok(lines.every((l) => [...l].length <= 120))
  assert.ok(!lines.some((l) => l.includes('…') && !l.includes('validator1/net.ipv4.tc…ion_control')), lines.join('\n'))
})
