// The shared VIP moves the way Talos' VIP controller moves it (lab/vip-election.ts): a small lab of three
// control planes on 127.0.110.x with real etcd and the real control plane. A graceful `talosctl shutdown` of the holder
// resigns the election and another node answers on the VIP within a campaign round; a crash (`lab fault NODE down`)
// leaves the holder's election key to its etcd lease, so the VIP stays dark for 40–60 s (the 60 s session TTL,
// renewed every 20 s) before another node takes it. No two nodes ever hold it at once. ~2 minutes, most of it the
// lease running out: not part of the e2e.
import { NODE, TSX } from '../bin.ts'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { request } from 'node:https'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestLab, pollUntil as until, type TestLab } from '../../lab/testlab.ts'
import { REPO_ROOT } from '../../lab/state.ts'
import { overlappingHolds, parseVipLog, currentVipHolder, type VipEvent } from '../../lab/vip-holders.ts'
import { VIP_SESSION_TTL_S } from '../../lab/vip-election.ts'
import { parseEtcdStatus } from '../../lib/talos/parse.ts'

const P = '127.0.110'
const VIP = `${P}.10`
let lab: TestLab
/** pid → when the test killed it: a crashed holder writes no `released` line. */
const killedAt = new Map<number, number>()

const vipLog = (): VipEvent[] => parseVipLog(readFileSync(join(lab.dir, 'vip-holders.log'), 'utf8'))
const addressOf = (name: string) => lab.nodes.find((n) => n.name === name)!.address

/**
 * Does a kube-apiserver answer /readyz on `host` (the VIP, or a node) within `timeoutMs`? Talos runs it with
 * --anonymous-auth=false (control_plane_static_pod.go:363), so an unauthenticated request is answered 401: that is an
 * answer.
 */
function apiAnswers(host: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port: 6443, path: '/readyz', rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode === 200 || res.statusCode === 401))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
    req.end()
  })
}

function labCli(...args: string[]) {
  const r = spawnSync(NODE, [...TSX, 'lab/cli.ts', ...args], { cwd: REPO_ROOT, env: lab.env, encoding: 'utf8' })
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
  return r.stdout
}

/** Each control plane's VIP election lines (its kube-api.log) since `since`: what a failed bound is explained by. */
function vipTrace(since: number): string {
  const lines: string[] = []
  for (const n of lab.nodes) {
    let text = ''
    try {
      text = readFileSync(join(lab.dir, 'nodes', n.name, 'kube-api.log'), 'utf8')
    } catch {}
    for (const l of text.split('\n'))
      if (/VIP/.test(l) && Date.parse(l.slice(0, 24)) >= since - 1000) lines.push(l.trim())
  }
  return lines.sort().join('\n')
}

const vipAnswers = (timeoutMs = 1000) => apiAnswers(VIP, timeoutMs)

/**
 * Every control plane's API server answering on its own address and the VIP answering: the holder per the lab's log.
 * A control plane powered back on starts its API server once machined calls its etcd healthy (5 s after etcd starts,
 * or 20 s later when that check fails), and it answers after its start: over 60 s in one CI run on a loaded 2-core
 * host. A test that takes the VIP's holder down needs the others' API servers up, or the VIP moves to a node that
 * does not answer yet.
 */
async function settled(): Promise<string> {
  await until(
    'three API servers answering',
    async () => (await Promise.all(lab.nodes.map((n) => apiAnswers(n.address)))).every(Boolean) || undefined,
    150_000,
  )
  await until('the VIP answering', async () => (await vipAnswers()) || undefined, 120_000)
  return until('a VIP holder in the log', () => currentVipHolder(vipLog()), 5_000)
}

describe('the shared VIP follows the etcd election', { timeout: 600_000 }, () => {
  before(async () => {
    lab = await createTestLab({
      prefix: P,
      controlPlanes: 3,
      workers: 0,
      endpoint: `https://${VIP}:6443`,
      kubernetes: true,
    })
    for (const n of lab.nodes) await lab.install(n.name, lab.renderConfig(n.role))
    const b = await lab.run(['-n', `${P}.11`, 'bootstrap'])
    assert.equal(b.code, 0, b.stderr)
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('a graceful shutdown of the holder resigns: another node answers on the VIP within a couple of seconds', async (t) => {
    const holder = await settled()
    const s = await lab.run(['-n', addressOf(holder), 'shutdown', '--wait=false'])
    assert.equal(s.code, 0, s.stderr)
    const taken = await until(
      'another holder',
      () => vipLog().find((e) => e.event === 'acquired' && e.node !== holder && e.at > Date.now() - 30_000),
      10_000,
    )
    const released = vipLog()
      .filter((e) => e.node === holder && e.event === 'released')
      .at(-1)
    assert.ok(released, `${holder} never logged its release`)
    const gapMs = taken.at - released.at
    assert.ok(gapMs >= 0 && gapMs < 2000, `VIP dark for ${gapMs} ms after a graceful shutdown`)
    t.diagnostic(`${holder} resigned; ${taken.node} took the VIP ${gapMs} ms after ${holder} released it`)
    assert.ok(await until('the VIP answering', async () => (await vipAnswers()) || undefined, 5_000))
    // its shutdown sequence goes on after the VIP moved (etcd, services): a heal before it powered off would find it
    // still on and leave it off
    await until('the old holder powered off', () => lab.node(holder).power === 'off' || undefined, 60_000)
    labCli('heal', holder) // powers it back on, as its BMC would
  })

  it(`a crash of the holder keeps the VIP dark until its etcd lease (${VIP_SESSION_TTL_S} s) expires`, async (t) => {
    const holder = await settled()
    // The lease must be the only clock: every etcd member answering (the previous test's holder may still be
    // rejoining), and etcd's leader not the holder. A newly promoted etcd leader extends every lease to its full TTL
    // (etcd server/lease/lessor.go Promote), so crashing the leader would add an election, or a lost quorum, to the
    // lease's life (08-failover tells the operator so).
    const all = lab.nodes.map((n) => n.address).join(',')
    const etcdUp = async () => (await lab.run(['-e', addressOf(holder), '-n', all, 'etcd', 'status'])).code === 0
    await until('every etcd member answering', async () => (await etcdUp()) || undefined, 60_000)
    const forfeit = await lab.run(['-e', addressOf(holder), '-n', addressOf(holder), 'etcd', 'forfeit-leadership'])
    assert.equal(forfeit.code, 0, forfeit.stderr)
    const survivor = lab.nodes.find((n) => n.name !== holder)!.address
    // etcd's raft term on a member that stays up: a term that grows while the VIP is dark means a leader election
    // (on a loaded 2-core host: a missed heartbeat), and the new leader extended the lease by its TTL once more
    const raftTerm = async () => {
      const r = await lab.run(['-e', survivor, '-n', survivor, 'etcd', 'status'])
      return r.code === 0 ? parseEtcdStatus(r.stdout)[0]?.raftTerm : undefined
    }
    const termBefore = await raftTerm()
    const pid = lab.node(holder).kubeApi.pid!
    const t0 = Date.now()
    labCli('fault', holder, 'down')
    killedAt.set(pid, Date.now())
    // powered back on whatever this test finds, so the next one starts from three control planes
    t.after(() => void labCli('heal', holder))
    // the lease was renewed at most TTL/3 before the crash: nobody may take the VIP for at least 2/3 of the TTL
    const firstAnswer = await until(
      'the VIP answering again',
      async () => ((await vipAnswers(500)) ? Date.now() : undefined),
      (2 * VIP_SESSION_TTL_S + 30) * 1000,
    )
    const darkMs = firstAnswer - t0
    assert.ok(
      darkMs >= ((VIP_SESSION_TTL_S * 2) / 3 - 2) * 1000,
      `VIP back after ${darkMs} ms: before the crashed holder's lease could expire`,
    )
    t.diagnostic(`${holder} crashed; the VIP was dark for ${darkMs} ms; the election since the crash:\n${vipTrace(t0)}`)
    const taken = vipLog().find((e) => e.event === 'acquired' && e.at >= t0)
    assert.ok(taken && taken.node !== holder, `new holder ${taken?.node}`)
    const termAfter = await raftTerm()
    const elections = termBefore !== undefined && termAfter !== undefined ? termAfter - termBefore : 0
    if (elections)
      t.diagnostic(`etcd elected a leader ${elections} time(s) meanwhile (term ${termBefore} → ${termAfter})`)
    // one lease life, or two when a new etcd leader renewed it (lessor.go Promote) during the wait
    const boundS = (elections ? 2 : 1) * VIP_SESSION_TTL_S + 15
    assert.ok(
      taken.at - t0 <= boundS * 1000,
      `taken ${taken.at - t0} ms after the crash (bound ${boundS} s; term ${termBefore} → ${termAfter}); the ` +
        `election since the crash:\n${vipTrace(t0)}`,
    )
  })

  it('no two nodes ever held the VIP at once', async () => {
    await settled()
    const events = vipLog()
    assert.ok(events.filter((e) => e.event === 'acquired').length >= 3, JSON.stringify(events))
    assert.deepEqual(
      overlappingHolds(events, (pid) => killedAt.get(pid)),
      [],
    )
  })
})
