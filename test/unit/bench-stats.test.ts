import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  busyMs,
  callStats,
  cpuTicksOf,
  processGroupOf,
  median,
  missedBy,
  parseCallLog,
  round,
  summarize,
} from '../../bench/stats.ts'

test('median: odd, even, unsorted input, input left untouched', () => {
  assert.equal(median([3, 1, 2]), 2)
  assert.equal(median([4, 1, 3, 2]), 2.5)
  const xs = [9, 1, 5]
  assert.equal(median(xs), 5)
  assert.deepEqual(xs, [9, 1, 5])
  assert.equal(median([7]), 7)
  assert.throws(() => median([]), /no values/)
})

test('summarize: runs, median, min, max', () => {
  assert.deepEqual(summarize([120, 80, 100, 300]), { runs: 4, median: 110, min: 80, max: 300 })
  assert.throws(() => summarize([]))
})

test('missedBy: empty when met, amount and factor when over', () => {
  assert.equal(missedBy(500, 600, 'ms'), '')
  assert.equal(missedBy(600, 600, 'ms'), '')
  assert.equal(missedBy(900, 600, 'ms'), 'missed by 300 ms (1.50× the target)')
  assert.equal(missedBy(2.25, 1.5, '×'), 'missed by 0.75 × (1.50× the target)')
})

test('round', () => {
  assert.equal(round(1.23456, 2), 1.23)
  assert.equal(round(99.5), 100)
})

test('parseCallLog: ns timestamps to ms, tool, exit, args; junk lines skipped', () => {
  const log = [
    '1700000000000000000 1700000000450000000 0 talosctl -n 127.0.80.11 get members -o json',
    'garbage',
    '',
    '1700000000100000000 1700000001100000000 1 kubectl get nodes',
  ].join('\n')
  const calls = parseCallLog(log)
  assert.equal(calls.length, 2)
  assert.equal(calls[0]!.tool, 'talosctl')
  assert.equal(calls[0]!.durationMs, 450)
  assert.equal(calls[0]!.args, '-n 127.0.80.11 get members -o json')
  assert.equal(calls[1]!.exit, 1)
  assert.equal(calls[1]!.durationMs, 1000)
  const t = callStats(calls, 'talosctl')
  assert.equal(t.count, 1)
  const all = callStats(calls)
  assert.equal(all.count, 2)
  assert.equal(all.slowest?.tool, 'kubectl')
  assert.equal(all.totalMs, 1450)
  assert.equal(callStats([], 'talosctl').slowest, undefined)
})

test('busyMs: union of overlapping and disjoint intervals', () => {
  const c = (s: number, e: number) => ({ tool: 't', startMs: s, endMs: e, durationMs: e - s, exit: 0, args: '' })
  assert.equal(busyMs([c(0, 100), c(50, 150), c(200, 250)]), 200)
  assert.equal(busyMs([c(200, 250), c(0, 300)]), 300)
  assert.equal(busyMs([]), 0)
})

test('cpuTicksOf: utime + stime, process names with spaces and parentheses', () => {
  const stat = '1234 (node (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 500 0 0'
  assert.equal(cpuTicksOf(stat), 325)
  assert.equal(processGroupOf(stat.replace(' S 1 1234 ', ' S 1 4321 ')), 4321)
})
