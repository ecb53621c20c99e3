// lab/machine-api/node-apply.ts: Talos v1.10.3's NodeApplyController rules (node_apply.go).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { applyNodeSpec, syncNode, type NodeApplySpec, type NodeClient } from '../../lab/machine-api/node-apply.ts'

type Obj = Record<string, any>
const node = (labels: Obj = {}, annotations: Obj = {}, taints?: Obj[]): Obj => ({
  metadata: { name: 'n1', labels, annotations },
  spec: taints ? { taints } : {},
})
const spec = (s: Partial<NodeApplySpec>): NodeApplySpec => ({ labels: {}, annotations: {}, taints: [], ...s })

test('a label missing from the Node is set and owned; the owned list is sorted JSON', () => {
  const n = applyNodeSpec(node({ 'kubernetes.io/hostname': 'n1' }), spec({ labels: { 'b/x': '1', 'a/y': '' } }))
  assert.deepEqual(n.metadata.labels, { 'kubernetes.io/hostname': 'n1', 'b/x': '1', 'a/y': '' })
  assert.equal(n.metadata.annotations['talos.dev/owned-labels'], '["a/y","b/x"]')
})

test('a label someone else set to another value is left alone and not owned; with the same value it is owned', () => {
  const n = applyNodeSpec(
    node({ 'solana.org/role': 'other', 'x/same': 'v' }),
    spec({ labels: { 'solana.org/role': 'validator', 'x/same': 'v' } }),
  )
  assert.equal(n.metadata.labels['solana.org/role'], 'other')
  assert.equal(n.metadata.annotations['talos.dev/owned-labels'], '["x/same"]')
})

test('an owned label takes the new value; an owned label no longer wanted is removed, and so is the empty list', () => {
  const owned = { 'talos.dev/owned-labels': '["a/x","a/y"]' }
  const n = applyNodeSpec(node({ 'a/x': '1', 'a/y': '2' }, owned), spec({ labels: { 'a/x': '3' } }))
  assert.deepEqual(n.metadata.labels, { 'a/x': '3' })
  assert.equal(n.metadata.annotations['talos.dev/owned-labels'], '["a/x"]')
  const empty = applyNodeSpec(n, spec({}))
  assert.deepEqual(empty.metadata.labels, {})
  assert.equal('talos.dev/owned-labels' in empty.metadata.annotations, false)
})

test('annotations follow the same rules, in their own owned list', () => {
  const n = applyNodeSpec(node({}, { keep: 'me' }), spec({ annotations: { 'a/b': 'c' } }))
  assert.deepEqual(n.metadata.annotations, { keep: 'me', 'a/b': 'c', 'talos.dev/owned-annotations': '["a/b"]' })
})

test('taints match by key: an owned one takes the wanted value and effect, a foreign one with other values is kept', () => {
  const owned = { 'talos.dev/owned-taints': '["mine"]' }
  const taints = [
    { key: 'mine', value: 'old', effect: 'NoSchedule' },
    { key: 'theirs', value: 'x', effect: 'NoExecute' },
  ]
  const n = applyNodeSpec(
    node({}, owned, taints),
    spec({
      taints: [
        { key: 'mine', value: 'new', effect: 'NoExecute' },
        { key: 'theirs', value: 'y', effect: 'NoSchedule' },
      ],
    }),
  )
  assert.deepEqual(n.spec.taints, [
    { key: 'mine', value: 'new', effect: 'NoExecute' },
    { key: 'theirs', value: 'x', effect: 'NoExecute' },
  ])
  assert.equal(n.metadata.annotations['talos.dev/owned-taints'], '["mine"]')
})

test('a registered taint equal to the wanted one is taken over; an owned taint no longer wanted is removed', () => {
  const cp = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }
  const n = applyNodeSpec(node({}, {}, [{ ...cp }]), spec({ taints: [cp] }))
  assert.deepEqual(n.spec.taints, [cp])
  assert.equal(n.metadata.annotations['talos.dev/owned-taints'], `["${cp.key}"]`)
  const gone = applyNodeSpec(n, spec({}))
  assert.equal(gone.spec.taints, undefined)
  assert.equal('talos.dev/owned-taints' in gone.metadata.annotations, false)
})

/** A client whose PUT answers come from a list (then 200), counting requests. */
function client(start: Obj, puts: { status: number; body: Obj }[]): NodeClient & { gets: number; sent: Obj[] } {
  const c = {
    gets: 0,
    sent: [] as Obj[],
    get: async () => (c.gets++, { status: 200, body: structuredClone(start) }),
    put: async (_name: string, n: Obj) => (c.sent.push(n), puts.shift() ?? { status: 200, body: n }),
  }
  return c
}

test('syncNode retries a Conflict from a fresh GET, and sends nothing when the Node already matches', async () => {
  const c = client(node(), [{ status: 409, body: { message: 'conflict' } }])
  await syncNode(c, 'n1', spec({ labels: { 'a/x': '1' } }))
  assert.equal(c.gets, 2)
  assert.equal(c.sent.length, 2)
  const done = client(c.sent[1]!, [])
  await syncNode(done, 'n1', spec({ labels: { 'a/x': '1' } }))
  assert.equal(done.sent.length, 0)
})

test("syncNode gives up on a Forbidden after its budget, with the API server's message", async () => {
  const forbidden = { status: 403, body: { message: 'node "w1" is not allowed to modify taints' } }
  const c = client(
    node(),
    Array.from({ length: 100 }, () => forbidden),
  )
  await assert.rejects(
    syncNode(c, 'n1', spec({ taints: [{ key: 'k', effect: 'NoSchedule' }] }), 1500),
    /is not allowed to modify taints/,
  )
  assert.ok(c.sent.length >= 2, 'retried every 100 ms')
})
