// 09-upgrade's timeline: the fewest healthy etcd members and the API's unavailability from the probe samples.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatTimeline, summarizeProbes, type ProbeSample } from '../../steps/09-upgrade/timeline.ts'

const at = (t: number, target: string, ok: boolean, t0 = t - 50): ProbeSample => ({ t, t0, target, ok })
const members = ['cp1', 'cp2', 'cp3']

test('one member rebooting: at least 2 of 3 healthy, and the API outage runs from the first failed start to the next good start', () => {
  const s = summarizeProbes(
    [
      at(100, 'cp1', true),
      at(110, 'cp2', true),
      at(120, 'cp3', true),
      at(130, 'api', true),
      at(300, 'cp1', false),
      at(310, 'cp2', true),
      at(320, 'cp3', true),
      at(330, 'api', false, 280),
      at(500, 'cp1', false),
      at(530, 'api', false, 480),
      at(700, 'cp1', true),
      at(730, 'api', true, 680),
    ],
    members,
  )
  assert.equal(s.minHealthyMembers, 2)
  assert.equal(s.apiUnavailableMs, 680 - 280)
  assert.equal(s.etcdProbes, 8)
  assert.equal(s.apiProbes, 4)
  assert.equal(s.resolutionMs, 200)
})

const failed = (t: number, target: string, error: string): ProbeSample => ({ ...at(t, target, false), error })

test("two members failing at once shows as 1 of 3, with the moment and each missing member's own error", () => {
  const s = summarizeProbes(
    [
      failed(100, 'cp1', 'talosctl etcd status timed out after 5000 ms on cp1'),
      failed(120, 'cp2', 'talosctl etcd status failed (exit 1) on cp2: connection refused'),
      at(200, 'cp1', true),
      at(220, 'cp2', true),
    ],
    members,
  )
  assert.equal(s.minHealthyMembers, 1)
  assert.equal(s.apiUnavailableMs, 0)
  assert.deepEqual(s.quorumLoss, {
    t: 120,
    missing: [
      { member: 'cp1', error: 'talosctl etcd status timed out after 5000 ms on cp1' },
      { member: 'cp2', error: 'talosctl etcd status failed (exit 1) on cp2: connection refused' },
    ],
  })
})

test('one member down of three is no quorum loss: nothing to name', () => {
  const s = summarizeProbes([failed(100, 'cp2', 'refused'), at(150, 'cp1', true), at(200, 'cp2', true)], members)
  assert.equal(s.minHealthyMembers, 2)
  assert.equal(s.quorumLoss, undefined)
})

test('an API still down when probing stopped counts until the last sample', () => {
  assert.equal(summarizeProbes([at(100, 'api', false, 50), at(400, 'cp1', true)], members).apiUnavailableMs, 350)
})

test('the timeline line per node', () => {
  const text = formatTimeline([
    {
      node: 'cp1',
      kind: 'controlplane',
      down: '2026-01-01T10:00:00.000Z',
      back: '2026-01-01T10:00:12.500Z',
      downtimeMs: 12_500,
      probes: {
        minHealthyMembers: 2,
        members: 3,
        apiUnavailableMs: 0,
        etcdProbes: 90,
        apiProbes: 30,
        resolutionMs: 400,
      },
    },
    {
      node: 'cp2',
      kind: 'controlplane',
      down: '2026-01-01T10:00:20.000Z',
      back: '2026-01-01T10:00:30.000Z',
      downtimeMs: 10_000,
      probes: {
        minHealthyMembers: 1,
        members: 3,
        apiUnavailableMs: 0,
        etcdProbes: 10,
        apiProbes: 5,
        quorumLoss: {
          t: 4200,
          missing: [
            { member: 'cp2', error: 'refused' },
            { member: 'cp3', error: 'timed out' },
          ],
        },
      },
    },
    {
      node: 'worker1',
      kind: 'worker',
      down: '2026-01-01T10:01:00.000Z',
      back: '2026-01-01T10:01:08.000Z',
      downtimeMs: 8000,
    },
  ])
  assert.equal(
    text,
    'cp1 (controlplane): down 10:00:00.000, back 10:00:12.500, downtime 12.5 s; etcd ≥ 2/3 healthy, API via VIP unavailable 0.0 s (120 probes, every ~400 ms per member)\n' +
      'cp2 (controlplane): down 10:00:20.000, back 10:00:30.000, downtime 10.0 s; etcd ≥ 1/3 healthy, API via VIP unavailable 0.0 s (15 probes)\n' +
      '  below quorum 4.2 s into the upgrade: cp2: refused; cp3: timed out\n' +
      'worker1 (worker): down 10:01:00.000, back 10:01:08.000, downtime 8.0 s',
  )
})

test('after a failed node: the rollback command when it runs the new version, none when Talos already fell back', async () => {
  const { regressionMessage } = await import('../../steps/09-upgrade/talos.ts')
  const u = {
    node: 'worker1',
    address: '10.0.0.22',
    kind: 'worker' as const,
    from: { version: 'v1.10.3' },
    to: { image: 'x/installer:v1.10.4', version: 'v1.10.4', kernelArgs: [] },
    reasons: [],
  }
  const where = { talosconfig: '/o/talosconfig', inventoryFile: 'inv.yaml' }
  const onNew = regressionMessage(u, ['worker1 is not Ready in Kubernetes'], 'v1.10.4', where)
  assert.equal(
    onNew,
    'worker1 after its upgrade: worker1 is not Ready in Kubernetes. The rollout stopped here; other nodes were left alone. To roll worker1 back to v1.10.3: talosctl --talosconfig /o/talosconfig -n 10.0.0.22 rollback; or fix the cause and resume: npx zx runbooks/09-upgrade.ts --inventory inv.yaml',
  )
  const fellBack = regressionMessage(u, ['runs Talos v1.10.3, wanted v1.10.4'], 'v1.10.3', where)
  assert.match(
    fellBack,
    /worker1 runs v1\.10\.3 again: its new image did not boot and Talos fell back to the previous one\. Find why \(talosctl -n 10\.0\.0\.22 dmesg\), fix it, then resume: npx zx runbooks\/09-upgrade\.ts --inventory inv\.yaml$/,
  )
  assert.doesNotMatch(fellBack, /rollback/)
})
