// The validator's restart window, like `agave-validator wait-for-restart-window`: take the validator node down only
// when its identity has no leader slot in the next N minutes. Read from Solana JSON-RPC through @solana/kit:
// getEpochInfo (where we are in the epoch) and getLeaderSchedule for the identity (its slots, as indices relative to
// the epoch's first slot; the next epoch's schedule when the window reaches into it), and getVoteAccounts: like
// agave's --max-delinquent-stake (default 5 %), no restart while that much of the stake is delinquent, because the
// cluster may be about to lose consensus. Slots are ~400 ms (DEFAULT_MS_PER_SLOT in agave's sdk/clock).
import { sleep } from 'zx'

const MS_PER_SLOT = 400
/** agave-validator wait-for-restart-window --max-delinquent-stake default, in percent. */
const MAX_DELINQUENT_STAKE_PCT = 5

/** Percentage of the activated stake held by delinquent vote accounts. */
export function delinquentStakePercent(
  current: { activatedStake: bigint }[],
  delinquent: { activatedStake: bigint }[],
): number {
  const sum = (xs: { activatedStake: bigint }[]) => xs.reduce((a, x) => a + x.activatedStake, 0n)
  const total = sum(current) + sum(delinquent)
  return total === 0n ? 0 : Number((sum(delinquent) * 10_000n) / total) / 100
}

interface EpochView {
  absoluteSlot: bigint
  slotIndex: bigint
  slotsInEpoch: bigint
}

interface WindowVerdict {
  clear: boolean
  /** The first leader slot of the identity inside the window, if any. */
  nextLeaderSlot?: bigint
  /** How long until that slot, at MS_PER_SLOT. */
  msUntilLeader?: number
  /** Why the window cannot be judged (a schedule not published yet). */
  unknown?: string
}

/**
 * Is [absoluteSlot, absoluteSlot + windowSlots] free of the identity's leader slots? `current` and `next` are the
 * identity's relative slot indices in this epoch and the next one (undefined: that schedule is not known).
 */
export function judgeWindow(
  epoch: EpochView,
  windowMs: number,
  current: bigint[],
  next: bigint[] | undefined,
): WindowVerdict {
  const windowSlots = BigInt(Math.ceil(windowMs / MS_PER_SLOT))
  const epochStart = epoch.absoluteSlot - epoch.slotIndex
  const nextStart = epochStart + epoch.slotsInEpoch
  const end = epoch.absoluteSlot + windowSlots
  const upcoming = [...current.map((s) => epochStart + s), ...(next ?? []).map((s) => nextStart + s)]
    .filter((s) => s >= epoch.absoluteSlot && s <= end)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const first = upcoming[0]
  if (first !== undefined)
    return { clear: false, nextLeaderSlot: first, msUntilLeader: Number(first - epoch.absoluteSlot) * MS_PER_SLOT }
  if (end >= nextStart && next === undefined)
    return {
      clear: false,
      unknown: `the window reaches into epoch boundary slot ${nextStart} and the next epoch's leader schedule is not published yet`,
    }
  return { clear: true }
}

interface SolanaTarget {
  rpcUrl: string
  identity: string
}

/** One look at the chain: where it is, whether the identity leads inside the window, how much stake is delinquent. */
async function readWindow(
  t: SolanaTarget,
  windowMs: number,
): Promise<WindowVerdict & { epoch: EpochView; delinquentPct: number }> {
  // loaded here, not at the top: @solana/kit is a quarter of 09's start-up, and only a validator's upgrade asks
  const { address, createSolanaRpc } = await import('@solana/kit')
  const rpc = createSolanaRpc(t.rpcUrl)
  const identity = address(t.identity)
  const info = await rpc.getEpochInfo().send()
  const epoch: EpochView = {
    absoluteSlot: info.absoluteSlot,
    slotIndex: info.slotIndex,
    slotsInEpoch: info.slotsInEpoch,
  }
  const scheduleAt = async (slot: bigint) => {
    const s = await rpc.getLeaderSchedule(slot, { identity }).send()
    return s ? ((s as Record<string, readonly bigint[] | undefined>)[t.identity] ?? []).slice() : undefined
  }
  const epochStart = info.absoluteSlot - info.slotIndex
  const current = (await scheduleAt(info.absoluteSlot)) ?? []
  const windowEnd = info.absoluteSlot + BigInt(Math.ceil(windowMs / MS_PER_SLOT))
  const nextStart = epochStart + info.slotsInEpoch
  const next = windowEnd >= nextStart ? await scheduleAt(nextStart) : []
  const votes = await rpc.getVoteAccounts().send()
  const delinquentPct = delinquentStakePercent([...votes.current], [...votes.delinquent])
  const verdict = judgeWindow(epoch, windowMs, current, next)
  if (verdict.clear && delinquentPct >= MAX_DELINQUENT_STAKE_PCT) {
    return {
      clear: false,
      unknown: `${delinquentPct}% of the stake is delinquent (restart only below ${MAX_DELINQUENT_STAKE_PCT}%)`,
      epoch,
      delinquentPct,
    }
  }
  return { ...verdict, epoch, delinquentPct }
}

const fmtSeconds = (ms: number) => `${Math.ceil(ms / 1000)} s`

/**
 * Wait until the window is clear; `progress` gets a countdown line. Throws after `timeoutMs` or when aborted.
 * Returns how long it waited.
 */
export async function waitForRestartWindow(
  t: SolanaTarget,
  o: { windowMs: number; timeoutMs: number; pollMs?: number; signal?: AbortSignal; progress: (text: string) => void },
): Promise<{ waitedMs: number; checks: number }> {
  const t0 = Date.now()
  let checks = 0
  for (;;) {
    if (o.signal?.aborted) throw new Error('interrupted while waiting for the restart window')
    const v = await readWindow(t, o.windowMs)
    checks++
    if (v.clear) return { waitedMs: Date.now() - t0, checks }
    const waited = Date.now() - t0
    if (waited >= o.timeoutMs) {
      throw new Error(
        `no restart window for ${t.identity} within ${fmtSeconds(o.timeoutMs)}: ${v.unknown ?? `leader slot ${v.nextLeaderSlot} in ${fmtSeconds(v.msUntilLeader!)}`}`,
      )
    }
    // the window opens once the leader slot has passed (plus its group of 4): say how long that is
    const eta = v.msUntilLeader !== undefined ? v.msUntilLeader + 4 * MS_PER_SLOT : undefined
    o.progress(
      v.unknown
        ? `waiting: ${v.unknown}`
        : `waiting for the restart window: ${t.identity.slice(0, 8)}… leads at slot ${v.nextLeaderSlot} in ${fmtSeconds(v.msUntilLeader!)} (window clear in ≥ ${fmtSeconds(eta!)})`,
    )
    await sleep(o.pollMs ?? 2000)
  }
}
