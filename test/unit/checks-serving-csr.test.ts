import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { pendingServingCsrs, servingCsr } from '../../checks/defs/serving-csr.ts'
import type { CheckInventory } from '../../checks/engine/inventory.ts'
import type { KubeCsr } from '../../lib/kube/kubectl.ts'

const inv = parseYaml(readFileSync(new URL('../../inventory/lab.yaml', import.meta.url), 'utf8')) as CheckInventory
const NOW = Date.parse('2026-12-06T12:00:00Z')

function csr(name: string, node: string, o: { signer?: string; at?: string; approved?: boolean } = {}): KubeCsr {
  return {
    metadata: { name, creationTimestamp: o.at ?? '2026-12-06T11:50:00Z' },
    spec: { signerName: o.signer ?? 'kubernetes.io/kubelet-serving', username: `system:node:${node}` },
    status: o.approved ? { conditions: [{ type: 'Approved', status: 'True' }] } : {},
  }
}
const judge = (items: KubeCsr[]) => servingCsr.evaluate({ k8sCsrs: { items, readAt: NOW } }, inv)

test('serving-csr: one row per worker, none for the control planes; approved or other signers pass', () => {
  const workers = inv.nodes.filter((n) => n.role !== 'controlplane').map((n) => n.name)
  const rs = judge([
    csr('csr-a', 'validator1', { approved: true }),
    csr('csr-b', 'validator1', { signer: 'kubernetes.io/kube-apiserver-client-kubelet' }),
    csr('csr-c', 'cp1'),
  ])
  assert.deepEqual(
    rs.map((r) => r.target),
    workers,
  )
  assert.ok(workers.length > 0 && rs.every((r) => r.status === 'pass'), JSON.stringify(rs))
})

test('serving-csr: a pending request fails its node, oldest first, with its age and the way out', () => {
  const rs = judge([
    csr('csr-new', 'validator1', { at: '2026-12-06T11:58:00Z' }),
    csr('csr-old', 'validator1', { at: '2026-12-06T11:30:00Z' }),
  ])
  const v = rs.find((r) => r.target === 'validator1')!
  assert.equal(v.status, 'fail')
  assert.equal(v.text.seen, '2 pending, 30 min')
  assert.match(v.message, /\(csr-old, csr-new, 30 min ago\)/)
  assert.match(v.message, /runbooks\/04-join\.ts/)
  assert.deepEqual(pendingServingCsrs([csr('x', 'validator1', { approved: true })], 'validator1'), [])
})
