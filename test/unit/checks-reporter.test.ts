// The reporter: a table with one row per result and a summary line, or exactly one JSON document; exit codes;
// the CLI's flag handling; and diffReports.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { ALL_CHECKS } from '../../checks/defs/index.ts'
import { parseCliArgs, runCheckCli, scriptArgs, talosctlBinFor, UsageError, REPO_ROOT } from '../../lib/checks/cli.ts'
import { diffReports, formatDiff } from '../../lib/checks/diff.ts'
import { cell, exitCode, renderJson, renderTable, summaryLine } from '../../lib/checks/reporter.ts'
import type { CheckInventory } from '../../lib/checks/inventory.ts'
import { summarize } from '../../lib/checks/runner.ts'
import type { Report, Result } from '../../lib/checks/types.ts'
import { setLogSink } from '../../lib/log.ts'

const logs: string[] = []
setLogSink((l) => logs.push(l))

const r = (check: string, target: string, status: Result['status'], seen: unknown = 1, wanted: unknown = 1): Result => ({
  check, target, status, evidence: { seen, wanted }, message: `${check} on ${target} is ${status}`,
})

function report(results: Result[]): Report {
  return { cluster: 'solana-lab', target: 'lab', startedAt: '2025-01-01T00:00:00.000Z', durationMs: 12, results, summary: summarize(results) }
}

const sample = () =>
  report([
    r('etcd.leader', 'cluster', 'pass', { leader: 'ecebb05b59a776f1' }, 'one leader'),
    r('etcd.raft-lag', 'cp2', 'warn', { lag: 150 }, 'lag ≤ 100'),
    r('hugepages.numa', 'validator1/node1', 'fail', 2, 4),
    r('numa.topology', 'validator1', 'pass', { numactl: 'available: 2 nodes (0-1)\nnode 0 cpus: 0 1\n' }, {}),
  ])

test('reporter: the table has a header and exactly one row per result, with the summary line', () => {
  const rep = sample()
  const text = renderTable(rep)
  const rows = text.split('\n').filter((l) => l.startsWith('│') || l.startsWith('|'))
  assert.match(rows[0]!, /CHECK.*TARGET.*STATUS.*SEEN.*WANTED/)
  assert.equal(rows.length - 1, rep.results.length)
  for (const res of rep.results) assert.equal(rows.filter((l) => l.includes(res.check) && l.includes(res.target)).length, 1)
  assert.ok(rows.some((l) => /hugepages\.numa.*FAIL.*│ 2 .*│ 4 /.test(l)))
  assert.equal(summaryLine(rep.summary), '2 passed, 1 warned, 1 failed')
})

test('reporter: long and multi-line evidence is cut to one short cell', () => {
  assert.equal(cell('available: 2 nodes (0-1)\nnode 0 cpus: 0 1\nnode 1 cpus: 2 3\n'), 'available: 2 nodes (0-1) (+2 lines)')
  assert.ok(cell('x'.repeat(500)).length <= 60)
  assert.equal(cell(null), '-')
  assert.equal(cell({ a: 1 }), '{"a":1}')
})

test('reporter: --json output is one valid JSON document with the report fields', () => {
  const text = renderJson(sample())
  const doc = JSON.parse(text)
  assert.deepEqual(Object.keys(doc), ['cluster', 'target', 'startedAt', 'durationMs', 'results', 'summary'])
  assert.deepEqual(doc.summary, { pass: 2, warn: 1, fail: 1 })
  assert.equal(doc.results.length, 4)
  assert.equal(text.trimEnd().split('\n').filter((l: string) => l === '}').length, 1, 'a single top-level document')
})

test('reporter: exit code is 1 on any fail, 0 with only passes and warnings', () => {
  assert.equal(exitCode(sample()), 1)
  assert.equal(exitCode(report([r('a.b', 'x', 'pass'), r('a.c', 'x', 'warn')])), 0)
  assert.equal(exitCode(report([])), 0)
})

test('cli: flags are strict; unknown flag or missing inventory is a usage error', () => {
  assert.deepEqual(parseCliArgs(['--inventory', 'inv.yaml', '--json', '--only', 'etcd', '--only', 'numa.topology,kernel']), {
    inventory: 'inv.yaml', json: true, only: ['etcd', 'numa.topology', 'kernel'], help: false,
  })
  assert.throws(() => parseCliArgs(['--inventory', 'x', '--verbose']), (e: unknown) => e instanceof UsageError && /--verbose/.test((e as Error).message))
  assert.throws(() => parseCliArgs(['--json']), /--inventory FILE is required/)
  assert.throws(() => parseCliArgs(['--inventory', 'x', 'extra']), UsageError)
})

test('cli: exit 2 on usage errors, with the reason on stderr and nothing on stdout', async () => {
  const out: string[] = []
  logs.length = 0
  assert.equal(await runCheckCli(ALL_CHECKS, ['--inventory', 'x.yaml', '--bogus'], { stdout: (s) => out.push(s) }), 2)
  assert.match(logs.join('\n'), /Unknown option '--bogus'/)
  assert.equal(await runCheckCli(ALL_CHECKS, ['--inventory', 'x.yaml', '--only', 'nosuch'], { stdout: (s) => out.push(s) }), 2)
  assert.match(logs.join('\n'), /unknown check or group: nosuch/)
  assert.equal(await runCheckCli(ALL_CHECKS, ['--inventory', '/nonexistent/inv.yaml'], { stdout: (s) => out.push(s) }), 2)
  assert.deepEqual(out, [])
})

test('cli: --json prints exactly one document on stdout; a failing source exits 1 without crashing', async () => {
  {
    const inv = fileURLToPath(new URL('../../inventory/lab.yaml', import.meta.url))
    const out: string[] = []
    const ctx = () => ({
      talos: { run: async (args: string[]) => ({ command: `talosctl ${args.join(' ')}`, stdout: '', stderr: 'error: connection refused', exitCode: 1 }) },
      kube: { nodes: async () => ({ items: [] }), pods: async () => ({ items: [] }) },
    })
    const code = await runCheckCli(ALL_CHECKS, ['--inventory', inv, '--json', '--only', 'etcd'], { stdout: (s) => out.push(s), context: ctx })
    assert.equal(code, 1)
    const doc = JSON.parse(out.join(''))
    assert.equal(doc.cluster, 'solana-lab')
    assert.ok(doc.results.length > 0)
    assert.ok(doc.results.every((x: Result) => x.check.startsWith('etcd.')))
    assert.ok(doc.results.some((x: Result) => x.status === 'fail' && /connection refused/.test(JSON.stringify(x))))
  }
})

test('cli: talosctl binary is $TALOSCTL, else the lab one for target lab, else talosctl', () => {
  const lab: CheckInventory = { cluster: { name: 'l', target: 'lab', outputDir: 'out' }, nodes: [] }
  assert.equal(talosctlBinFor(lab, { TALOSCTL: '/opt/talosctl' }), '/opt/talosctl')
  assert.equal(talosctlBinFor(lab, {}), join(REPO_ROOT, 'lab', 'bin', 'talosctl'))
  assert.equal(talosctlBinFor({ ...lab, cluster: { ...lab.cluster, target: 'production' } }, {}), 'talosctl')
})

test('cli: script arguments come after the entry file, however zx/tsx prefix argv', () => {
  const entry = new URL('../../checks/all.ts', import.meta.url)
  const file = entry.pathname
  assert.deepEqual(scriptArgs(['/usr/bin/node', '/x/node_modules/zx/build/cli.js', file, '--json'], entry.href), ['--json'])
  assert.deepEqual(scriptArgs(['/usr/bin/node', file, '--inventory', 'a'], entry.href), ['--inventory', 'a'])
})

test('diff: regressions, improvements, additions and removals between two reports', () => {
  const prev = report([r('etcd.leader', 'cluster', 'pass'), r('etcd.raft-lag', 'cp2', 'warn'), r('kernel.modules', 'validator1/tcp_bbr', 'fail'), r('old.check', 'x', 'pass')])
  const next = report([r('etcd.leader', 'cluster', 'fail'), r('etcd.raft-lag', 'cp2', 'pass'), r('kernel.modules', 'validator1/tcp_bbr', 'fail'), r('new.check', 'y', 'warn')])
  const d = diffReports(prev, next)
  assert.deepEqual(d.regressed.map((c) => [c.check, c.from, c.to]), [['etcd.leader', 'pass', 'fail'], ['new.check', undefined, 'warn']])
  assert.deepEqual(d.improved.map((c) => [c.check, c.from, c.to]), [['etcd.raft-lag', 'warn', 'pass']])
  assert.deepEqual(d.added.map((c) => c.check), ['new.check'])
  assert.deepEqual(d.removed.map((c) => c.check), ['old.check'])
  assert.equal(d.unchanged, 1)
  assert.match(formatDiff(d)[0]!, /^regressed etcd\.leader cluster: pass → fail/)
})
