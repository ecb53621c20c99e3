// A small simulated Solana JSON-RPC endpoint for the validator's restart window: slots advance every 400 ms from
// `startSlot`, epochs have `slotsInEpoch` slots, and the identity leads the 4-slot groups starting at the given
// slot indices of every epoch (a real leader schedule gives each leader NUM_CONSECUTIVE_LEADER_SLOTS = 4 in a
// row). It answers the three methods 09-upgrade reads, in the shapes of https://solana.com/docs/rpc/http:
// getSlot → u64; getEpochInfo → { absoluteSlot, blockHeight, epoch, slotIndex, slotsInEpoch, transactionCount };
// getLeaderSchedule [slot|null, { identity }] → { <identity>: [relative slot indices] } for the epoch of that slot,
// or null when that epoch's schedule is not known yet (only the current and the next epoch are); getVoteAccounts →
// { current, delinquent } with the identity's vote account and others, `delinquentPercent` of the stake delinquent.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export const SLOT_MS = 400
const LEADER_GROUP = 4

export interface SolanaRpcOptions {
  host: string
  port?: number
  identity: string
  slotsInEpoch?: number
  startSlot?: number
  /** Relative slot indices (in every epoch) where the identity's 4-slot groups start. */
  leaderGroupStarts: number[]
  /** Share of the stake held by delinquent vote accounts (default 0). */
  delinquentPercent?: number
}

export interface SolanaRpcSim {
  url: string
  /** The slot now (advances every 400 ms). */
  slot(): number
  close(): Promise<void>
}

export async function startSolanaRpc(o: SolanaRpcOptions): Promise<SolanaRpcSim> {
  const slotsInEpoch = o.slotsInEpoch ?? 432_000
  const t0 = Date.now()
  const startSlot = o.startSlot ?? 0
  const slot = () => startSlot + Math.floor((Date.now() - t0) / SLOT_MS)
  const indices = o.leaderGroupStarts
    .flatMap((s) => Array.from({ length: LEADER_GROUP }, (_, i) => s + i))
    .filter((s) => s < slotsInEpoch)

  const methods: Record<string, (params: unknown[]) => unknown> = {
    getSlot: () => slot(),
    getEpochInfo: () => {
      const s = slot()
      return {
        absoluteSlot: s,
        blockHeight: s,
        epoch: Math.floor(s / slotsInEpoch),
        slotIndex: s % slotsInEpoch,
        slotsInEpoch,
        transactionCount: null,
      }
    },
    getVoteAccounts: () => {
      const vote = (node: string, stake: number) => ({
        votePubkey: node,
        nodePubkey: node,
        activatedStake: stake,
        epochVoteAccount: true,
        commission: 5,
        lastVote: slot(),
        epochCredits: [],
        rootSlot: Math.max(0, slot() - 32),
      })
      const bad = Math.round((o.delinquentPercent ?? 0) * 100)
      return {
        current: [vote(o.identity, 1000), vote('Stake11111111111111111111111111111111111111', 9000 - bad)],
        delinquent: bad ? [vote('Config1111111111111111111111111111111111111', bad)] : [],
      }
    },
    getLeaderSchedule: (params) => {
      const at = typeof params[0] === 'number' ? params[0] : slot()
      const cfg = (params[1] ?? (typeof params[0] === 'object' ? params[0] : {})) as { identity?: string }
      if (Math.floor(at / slotsInEpoch) > Math.floor(slot() / slotsInEpoch) + 1) return null
      if (cfg.identity && cfg.identity !== o.identity) return {}
      return { [o.identity]: indices }
    },
  }

  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      let id: unknown = null
      let reply: object
      try {
        const msg = JSON.parse(body) as { id?: unknown; method?: string; params?: unknown[] }
        id = msg.id ?? null
        const fn = methods[msg.method ?? '']
        reply = fn
          ? { jsonrpc: '2.0', result: fn(msg.params ?? []), id }
          : { jsonrpc: '2.0', error: { code: -32601, message: 'Method not found' }, id }
      } catch {
        reply = { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id }
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(reply))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port ?? 0, o.host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${o.host}:${port}`,
    slot,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/**
 * `npx tsx lab/solana-rpc.ts --host H [--port P] --identity ID [--slots-in-epoch N] --leader-every N | --leader-at a,b`:
 * runs the simulated endpoint until killed, printing its URL once it listens. `--leader-every N`: the identity leads
 * a 4-slot group every N slots (from slot index 0).
 */
async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const host = arg('host') ?? '127.0.0.1'
  const identity = arg('identity')
  if (!identity) throw new Error('--identity is required')
  const slotsInEpoch = Number(arg('slots-in-epoch') ?? 1000)
  const every = arg('leader-every')
  const starts = every
    ? Array.from({ length: Math.floor(slotsInEpoch / Number(every)) }, (_, i) => i * Number(every))
    : (arg('leader-at') ?? '').split(',').filter(Boolean).map(Number)
  const sim = await startSolanaRpc({
    host,
    port: Number(arg('port') ?? 0),
    identity,
    slotsInEpoch,
    leaderGroupStarts: starts,
  })
  process.stdout.write(`${sim.url}\n`)
  const stop = () => void sim.close().then(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`solana-rpc: ${e.message}\n`)
    process.exit(2)
  })
}
