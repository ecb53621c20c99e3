// etcd backups: what makes a snapshot sound (on a real etcd 3.4 snapshot), what snapshot status says, the index, the
// retention rule, and the etcd.backup-age check.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  applyRetention,
  formatAge,
  formatIndex,
  parseIndex,
  parseSnapshotStatus,
  snapshotFileName,
  snapshotIntegrityProblem,
  type BackupEntry,
} from '../../lib/talos/etcd-backups.ts'
import { verifySnapshotFile } from '../../steps/etcd-backup.ts'
import { etcdBackupAge } from '../../checks/defs/etcd.ts'
import type { CheckInventory } from '../../checks/engine/inventory.ts'
import { setLogSink } from '../../lib/runner/log.ts'

setLogSink(() => {})

const fixture = new URL('../fixtures/etcd/snapshot-rev2.db', import.meta.url)
const snapshot = readFileSync(fixture)

const entry = (hoursAgo: number, now = Date.parse('2026-11-29T12:00:00Z')): BackupEntry => ({
  file: `etcd-cp1-${hoursAgo}.db`,
  member: 'cp1',
  takenAt: new Date(now - hoursAgo * 3600e3).toISOString(),
  revision: 100 - hoursAgo,
  hash: '0000abcd',
  totalKeys: 5,
  size: 20512,
  reason: 'backup',
})

test('a real etcd snapshot is sound; a flipped byte or a cut file is not', () => {
  assert.equal(snapshotIntegrityProblem(snapshot), undefined)
  const flipped = Buffer.from(snapshot)
  flipped[5000] = flipped[5000]! ^ 0xff
  assert.match(snapshotIntegrityProblem(flipped)!, /sha256 mismatch/)
  assert.match(snapshotIntegrityProblem(snapshot.subarray(0, 20480))!, /sha256 checksum not found \(size 20480/)
})

test('snapshot status -w json (etcdctl 3.4 / etcdutl) is parsed; the hash as 8 hex digits', () => {
  const s = parseSnapshotStatus('{"hash":1288628876,"revision":2,"totalKey":5,"totalSize":20480}\n')
  assert.deepEqual(s, { hash: '4cceea8c', revision: 2, totalKeys: 5, totalSize: 20480 })
  assert.throws(() => parseSnapshotStatus('Error: invalid database'), /printed no JSON/)
  assert.throws(() => parseSnapshotStatus('{"hash":1}'), /field revision is missing/)
})

test('verifySnapshotFile runs snapshot status on the real file, and refuses a corrupted copy before that', async () => {
  const s = await verifySnapshotFile(fixture.pathname)
  assert.deepEqual(s, { hash: '4cceea8c', revision: 2, totalKeys: 5, totalSize: 20480 })
  const dir = mkdtempSync(join(tmpdir(), 'etcd-backups-'))
  const bad = Buffer.from(snapshot)
  bad[5000] = bad[5000]! ^ 0xff // a free page: snapshot status alone would not notice
  writeFileSync(join(dir, 'bad.db'), bad)
  await assert.rejects(verifySnapshotFile(join(dir, 'bad.db')), /bad\.db: sha256 mismatch/)
})

test('retention keeps the N newest whatever the index order', () => {
  const r = applyRetention([entry(5), entry(1), entry(30), entry(2)], 2)
  assert.deepEqual(
    r.kept.map((e) => e.file),
    ['etcd-cp1-1.db', 'etcd-cp1-2.db'],
  )
  assert.deepEqual(
    r.removed.map((e) => e.file),
    ['etcd-cp1-5.db', 'etcd-cp1-30.db'],
  )
})

test('the index round-trips, newest first; a broken one is named with the field', () => {
  const text = formatIndex([entry(5), entry(1)])
  assert.deepEqual(
    parseIndex(text, 'i.json').map((e) => e.file),
    ['etcd-cp1-1.db', 'etcd-cp1-5.db'],
  )
  assert.throws(() => parseIndex('{', 'out/x/backups/index.json'), /out\/x\/backups\/index\.json: not JSON/)
  assert.throws(
    () => parseIndex('{"snapshots":[{"file":"a"}]}', 'i.json'),
    /i\.json: snapshots\[0\]\.member: must be a string/,
  )
})

test('snapshot file names sort by time and say why they were taken', () => {
  const at = new Date('2026-11-29T12:00:01.5Z')
  assert.equal(snapshotFileName('cp1', at), 'etcd-cp1-2026-11-29T12-00-01-500Z.db')
  assert.equal(snapshotFileName('cp2', at, 'before-upgrade'), 'etcd-before-upgrade-cp2-2026-11-29T12-00-01-500Z.db')
  assert.equal(formatAge(3 * 3600e3 + 12 * 60e3), '3h 12m')
})

test('etcd.backup-age: pass when fresh, warn when older than etcdBackupMaxAge (default 24h) or when there is none', () => {
  const inv = (maxAge?: string): CheckInventory => ({
    cluster: { name: 'c', target: 'lab', outputDir: 'out/c', etcdBackupMaxAge: maxAge },
    nodes: [],
  })
  const readAt = Date.parse('2026-11-29T12:00:00Z')
  const judge = (entries: BackupEntry[], maxAge?: string) =>
    etcdBackupAge.evaluate({ etcdBackups: { dir: 'out/c/backups', entries, readAt } } as never, inv(maxAge))[0]!
  assert.equal(judge([entry(30), entry(2)]).status, 'pass')
  const old = judge([entry(30), entry(25)])
  assert.equal(old.status, 'warn')
  assert.match(old.message, /etcd-cp1-25\.db is 25h 0m old \(more than 24h\)/)
  assert.equal(judge([entry(2)], '1h').status, 'warn')
  assert.match(
    judge([]).message,
    /no etcd snapshot in out\/c\/backups: take one with npx zx runbooks\/10-etcd-backup\.ts/,
  )
})
