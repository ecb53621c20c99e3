// The pure parts of the lab's VIP election (lab/vip-election.ts) and its holder log (lab/vip-holders.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { KEEPALIVE_EVERY_MS, VIP_SESSION_TTL_S, candidateKey, electionPrefix } from '../../lab/vip-election.ts'
import { currentVipHolder, overlappingHolds, parseVipLog } from '../../lab/vip-holders.ts'

test("the election key is Talos': talos:v1:vip:election:<ip>/<lease in hex>", () => {
  assert.equal(electionPrefix('10.0.0.15'), 'talos:v1:vip:election:10.0.0.15/')
  // a lease id arrives from the gateway as a decimal uint64 string; Go's %x prints it in lower-case hex
  assert.equal(
    candidateKey(electionPrefix('10.0.0.15'), '712028509626716167'),
    'talos:v1:vip:election:10.0.0.15/9e1a22832405007',
  )
  assert.equal(candidateKey('p/', '255'), 'p/ff')
})

test("the session is etcd concurrency's default: 60 s TTL, renewed every 20 s", () => {
  assert.equal(VIP_SESSION_TTL_S, 60)
  assert.equal(KEEPALIVE_EVERY_MS, 20_000)
})

const LOG = [
  '2026-11-29T17:00:00.000Z cp1 100 acquired won the etcd election',
  '2026-11-29T17:00:10.000Z cp1 100 released shutting down',
  '2026-11-29T17:00:10.300Z cp2 200 acquired won the etcd election',
  'garbage line',
  '2026-11-29T17:01:10.000Z cp3 300 acquired won the etcd election',
].join('\n')

test('the holder log parses; a killed holder ends when it died, else it still holds', () => {
  const ev = parseVipLog(LOG)
  assert.equal(ev.length, 4)
  assert.deepEqual(ev[1], {
    at: Date.parse('2026-11-29T17:00:10.000Z'),
    node: 'cp1',
    pid: 100,
    event: 'released',
    why: 'shutting down',
  })
  // cp2 (pid 200) was killed at 17:00:20 and cp3 took over at 17:01:10: no overlap
  assert.deepEqual(
    overlappingHolds(ev, (pid) => (pid === 200 ? Date.parse('2026-11-29T17:00:20Z') : undefined)),
    [],
  )
  // not knowing cp2 died, its hold never ended: cp3's acquisition overlaps it
  assert.deepEqual(overlappingHolds(ev), ['cp2 (pid 200) and cp3 (pid 300) both held the VIP'])
  assert.equal(currentVipHolder(ev), 'cp3')
  assert.equal(currentVipHolder(ev.slice(0, 2)), undefined)
  // `lab status` asks whether the holder's process still lives: a killed holder holds nothing
  assert.equal(
    currentVipHolder(ev, (pid) => pid !== 300),
    undefined,
  )
})
