// settleEach: every item runs to the end even when one fails early; failures keep their item and error.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { settleEach } from '../../lib/host/settle.ts'

test('a fast failure does not cut the slower items short', async () => {
  const finished: string[] = []
  const r = await settleEach(['fast-fail', 'slow-ok', 'slower-ok'], async (x) => {
    if (x === 'fast-fail') throw new Error('disk gone\nstack noise')
    await new Promise((ok) => setTimeout(ok, x === 'slow-ok' ? 20 : 40))
    finished.push(x)
    return x.length
  })
  assert.deepEqual(finished, ['slow-ok', 'slower-ok'])
  assert.deepEqual(
    [...r.values],
    [
      ['slow-ok', 7],
      ['slower-ok', 9],
    ],
  )
  assert.equal(r.failures.length, 1)
  assert.equal(r.failures[0]!.item, 'fast-fail')
  assert.equal(r.failures[0]!.message, 'disk gone')
  assert.ok(r.failures[0]!.error instanceof Error)
})

test('non-Error rejections are reported as text', async () => {
  const r = await settleEach([1], () => Promise.reject('plain string'))
  assert.equal(r.failures[0]!.message, 'plain string')
  assert.equal(r.values.size, 0)
})
