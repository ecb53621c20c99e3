// The lab machine model's pieces behind machined's power methods: the event buffer a watch reads (tail options as
// v1.10.3 internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_events.go Watch), xids as github.com/rs/xid makes them,
// and the registry's references and pull times (lab/registry.ts).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { clearEvents, isXid, newXid, publishEvent, xidTime } from '../../lab/machine-events.ts'
import { Events } from '../../lab/machine-api/power.ts'
import { coldPullMs, normalizeImageRef } from '../../lab/registry.ts'
import type { LabNode } from '../../lab/state.ts'

describe('machine event buffer', () => {
  const saved = process.env.TALOS_LAB_DIR
  let dir: string
  const node = { name: 'n1' } as LabNode
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'events-'))
    process.env.TALOS_LAB_DIR = dir
    mkdirSync(join(dir, 'nodes/n1/root/proc/sys/kernel/random'), { recursive: true })
    writeFileSync(join(dir, 'nodes/n1/root/proc/sys/kernel/random/boot_id'), 'boot-1\n')
  })
  after(() => {
    rmSync(dir, { recursive: true, force: true })
    if (saved === undefined) delete process.env.TALOS_LAB_DIR
    else process.env.TALOS_LAB_DIR = saved
  })

  it('xids are 20 base32hex characters that sort in the order they were made and carry their second', () => {
    const a = newXid()
    const b = newXid()
    assert.ok(isXid(a) && isXid(b), `${a} ${b}`)
    assert.ok(a < b)
    assert.ok(Math.abs(xidTime(a) - Date.now() / 1000) < 2)
  })

  type Answer = {
    boot: string
    gone: boolean
    next: number
    events: { data: Record<string, unknown>; actorId: string }[]
  }
  const events = (req: Record<string, unknown>) => Events(node, req) as Answer

  it('a watch sees only new events by default, the last N with tail_events, all with -1, and filters by actor', () => {
    clearEvents('n1')
    publishEvent('n1', 'SequenceEvent', { sequence: 'reboot', action: 'START' }, 'actor-1')
    publishEvent('n1', 'TaskEvent', { task: 'stopAllServices', action: 'START' }, 'actor-1')
    publishEvent('n1', 'MachineStatusEvent', { stage: 'RUNNING', status: { ready: true } })
    assert.equal(events({}).events.length, 0)
    assert.equal(events({}).next, 3)
    assert.deepEqual(
      events({ tailEvents: 2 }).events.map((e) => e.data['@type']),
      ['talos/runtime/machine.TaskEvent', 'talos/runtime/machine.MachineStatusEvent'],
    )
    assert.equal(events({ tailEvents: -1 }).events.length, 3)
    assert.equal(events({ tailEvents: -1, withActorId: 'actor-1' }).events.length, 2)
  })

  it('a watch continues where it was in the same boot, and ends when the machine booted again', () => {
    const first = events({})
    publishEvent('n1', 'PhaseEvent', { phase: 'reboot', action: 'START' })
    const next = events({ after: first.next, boot: first.boot })
    assert.equal(next.events.length, 1)
    writeFileSync(join(dir, 'nodes/n1/root/proc/sys/kernel/random/boot_id'), 'boot-2\n')
    assert.equal(events({ after: next.next, boot: first.boot }).gone, true)
  })

  it('tail_id starts after that event; a malformed one is refused as machined refuses it', () => {
    clearEvents('n1')
    const a = publishEvent('n1', 'TaskEvent', { task: 'a', action: 'START' })
    publishEvent('n1', 'TaskEvent', { task: 'b', action: 'START' })
    assert.deepEqual(
      events({ tailId: a.id }).events.map((e) => e.data.task),
      ['b'],
    )
    assert.throws(() => events({ tailId: 'not-an-xid' }), /error parsing tail_id/)
  })
})

describe('lab registry', () => {
  it('names references as containerd does (distribution/reference ParseDockerRef)', () => {
    assert.equal(normalizeImageRef('ghcr.io/siderolabs/installer:v1.10.4'), 'ghcr.io/siderolabs/installer:v1.10.4')
    assert.equal(normalizeImageRef('busybox'), 'docker.io/library/busybox:latest')
    assert.equal(normalizeImageRef('foo/bar:1'), 'docker.io/foo/bar:1')
    assert.equal(normalizeImageRef('localhost:5000/x'), 'localhost:5000/x:latest')
    const digest = 'sha256:' + 'a'.repeat(64)
    assert.equal(normalizeImageRef(`ghcr.io/a/b:v1@${digest}`), `ghcr.io/a/b@${digest}`)
    assert.equal(normalizeImageRef('ghcr.io/A/b'), undefined)
    assert.equal(normalizeImageRef('bad ref'), undefined)
  })

  it('a cold pull of an installer image takes longer than a 30 s call timeout unless the lab sets the time', () => {
    const saved = process.env.TALOS_LAB_IMAGE_PULL_MS
    delete process.env.TALOS_LAB_IMAGE_PULL_MS
    try {
      assert.ok(coldPullMs(350 * 2 ** 20) > 30_000)
      process.env.TALOS_LAB_IMAGE_PULL_MS = '1500'
      assert.equal(coldPullMs(350 * 2 ** 20), 1500)
    } finally {
      if (saved === undefined) delete process.env.TALOS_LAB_IMAGE_PULL_MS
      else process.env.TALOS_LAB_IMAGE_PULL_MS = saved
    }
  })
})
