// The validator's restart window: the pure judgement, then the gate through @solana/kit against the lab's simulated
// Solana RPC (in this process, on an ephemeral 127.0.0.1 port: 400 ms slots, a leader schedule) both ways: it waits
// through a near leader slot, and it goes at once when the window is clear.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { delinquentStakePercent, judgeWindow, waitForRestartWindow } from '../../steps/09-upgrade/restart-window.ts'
import { startSolanaRpc } from '../../lab/solana-rpc.ts'

const IDENTITY = 'Vote111111111111111111111111111111111111111'
const epoch = (absoluteSlot: number, slotsInEpoch = 1000) => ({
  absoluteSlot: BigInt(absoluteSlot),
  slotIndex: BigInt(absoluteSlot % slotsInEpoch),
  slotsInEpoch: BigInt(slotsInEpoch),
})

test('judgeWindow: a leader slot inside the window blocks, with the time until it; one after the window does not', () => {
  assert.deepEqual(judgeWindow(epoch(100), 4000, [105n, 300n], []), {
    clear: false,
    nextLeaderSlot: 105n,
    msUntilLeader: 2000,
  })
  assert.deepEqual(judgeWindow(epoch(100), 4000, [111n, 300n], []), { clear: true })
  assert.deepEqual(judgeWindow(epoch(100), 4000, [90n], []), { clear: true }, 'past slots do not count')
})

test('judgeWindow: a window reaching into the next epoch needs its schedule', () => {
  assert.equal(judgeWindow(epoch(995), 4000, [], undefined).clear, false)
  assert.match(judgeWindow(epoch(995), 4000, [], undefined).unknown!, /next epoch's leader schedule is not published/)
  assert.deepEqual(judgeWindow(epoch(995), 4000, [], [2n]), {
    clear: false,
    nextLeaderSlot: 1002n,
    msUntilLeader: 2800,
  })
  assert.deepEqual(judgeWindow(epoch(995), 4000, [], [50n]), { clear: true })
})

test('the gate waits through a near leader slot and goes once it has passed', async (t) => {
  // leader for slots 3-6 (1.2 s to 2.8 s from now); a 1 s window is clear from slot 7 on
  const rpc = await startSolanaRpc({
    host: '127.0.0.1',
    identity: IDENTITY,
    slotsInEpoch: 1000,
    leaderGroupStarts: [3],
  })
  t.after(() => rpc.close())
  const progress: string[] = []
  const r = await waitForRestartWindow(
    { rpcUrl: rpc.url, identity: IDENTITY },
    { windowMs: 1000, timeoutMs: 20_000, pollMs: 200, progress: (s) => progress.push(s) },
  )
  assert.ok(r.waitedMs >= 2000, `waited only ${r.waitedMs} ms`)
  assert.ok(rpc.slot() >= 7, `went at slot ${rpc.slot()}`)
  assert.ok(r.checks > 2)
  assert.match(progress[0]!, /^waiting for the restart window: Vote1111… leads at slot \d in \d s/)
})

test('the gate goes at once when the window is clear', async (t) => {
  const rpc = await startSolanaRpc({
    host: '127.0.0.1',
    identity: IDENTITY,
    slotsInEpoch: 1000,
    leaderGroupStarts: [500],
  })
  t.after(() => rpc.close())
  const r = await waitForRestartWindow(
    { rpcUrl: rpc.url, identity: IDENTITY },
    { windowMs: (10 * 60_000) / 4, timeoutMs: 20_000, pollMs: 200, progress: () => {} },
  )
  assert.equal(r.checks, 1)
  assert.ok(r.waitedMs < 1000)
})

test('the gate gives up after its timeout, naming the leader slot', async (t) => {
  const rpc = await startSolanaRpc({
    host: '127.0.0.1',
    identity: IDENTITY,
    slotsInEpoch: 1000,
    leaderGroupStarts: [10],
  })
  t.after(() => rpc.close())
  await assert.rejects(
    waitForRestartWindow(
      { rpcUrl: rpc.url, identity: IDENTITY },
      { windowMs: 10_000, timeoutMs: 500, pollMs: 200, progress: () => {} },
    ),
    /no restart window for Vote1111+ within 1 s: leader slot 10 in \d s/,
  )
})

test('delinquent stake: the share of activated stake held by delinquent vote accounts', () => {
  assert.equal(delinquentStakePercent([{ activatedStake: 900n }], [{ activatedStake: 100n }]), 10)
  assert.equal(delinquentStakePercent([{ activatedStake: 3n }], []), 0)
  assert.equal(delinquentStakePercent([], []), 0)
})

test('no restart while 5 % or more of the stake is delinquent, even with no leader slot near', async (t) => {
  const rpc = await startSolanaRpc({
    host: '127.0.0.1',
    identity: IDENTITY,
    slotsInEpoch: 1000,
    leaderGroupStarts: [500],
    delinquentPercent: 10,
  })
  t.after(() => rpc.close())
  const progress: string[] = []
  await assert.rejects(
    waitForRestartWindow(
      { rpcUrl: rpc.url, identity: IDENTITY },
      { windowMs: 1000, timeoutMs: 500, pollMs: 200, progress: (s) => progress.push(s) },
    ),
    /no restart window for Vote1+ within 1 s: 10% of the stake is delinquent \(restart only below 5%\)/,
  )
  assert.match(progress[0]!, /^waiting: 10% of the stake is delinquent/)
})
