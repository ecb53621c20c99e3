// The lab's record of who held the shared VIP when: every API server appends one line when it starts answering on
// the VIP and one when it stops (a process that is killed writes nothing: its hold ends with the process).
// `lab status` shows the holder from it; tests check that no two nodes ever held the VIP at once.
import { appendFileSync, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { labDir } from './state.ts'

export interface VipEvent {
  at: number
  node: string
  pid: number
  event: 'acquired' | 'released'
  why: string
}

export const vipLogPath = () => join(labDir(), 'vip-holders.log')

export function recordVipEvent(e: Omit<VipEvent, 'at'>): void {
  appendFileSync(vipLogPath(), `${new Date().toISOString()} ${e.node} ${e.pid} ${e.event} ${e.why}\n`)
}

/** Parse the log's lines: `<ISO time> <node> <pid> acquired|released <why…>`; other lines are skipped. */
export function parseVipLog(text: string): VipEvent[] {
  const out: VipEvent[] = []
  for (const line of text.split('\n')) {
    const m = /^(\S+) (\S+) (\d+) (acquired|released) ?(.*)$/.exec(line)
    if (!m || Number.isNaN(Date.parse(m[1]!))) continue
    out.push({ at: Date.parse(m[1]!), node: m[2]!, pid: Number(m[3]), event: m[4] as VipEvent['event'], why: m[5]! })
  }
  return out
}

export function readVipLog(): VipEvent[] {
  return existsSync(vipLogPath()) ? parseVipLog(readFileSync(vipLogPath(), 'utf8')) : []
}

/**
 * Times two nodes held the VIP at once. A hold runs from `acquired` to that process's `released`, or, for a process
 * that never released (killed), to `endOf(pid)` (when it died, if the caller knows) or else forever.
 */
export function overlappingHolds(events: VipEvent[], endOf: (pid: number) => number | undefined = () => undefined) {
  const holds: { node: string; pid: number; from: number; to: number }[] = []
  for (const e of events) {
    if (e.event !== 'acquired') continue
    const rel = events.find((r) => r.event === 'released' && r.pid === e.pid && r.at >= e.at)
    holds.push({ node: e.node, pid: e.pid, from: e.at, to: rel?.at ?? endOf(e.pid) ?? Infinity })
  }
  const clashes: string[] = []
  for (let i = 0; i < holds.length; i++)
    for (let j = i + 1; j < holds.length; j++) {
      const a = holds[i]!
      const b = holds[j]!
      if (a.pid !== b.pid && a.from < b.to && b.from < a.to)
        clashes.push(`${a.node} (pid ${a.pid}) and ${b.node} (pid ${b.pid}) both held the VIP`)
    }
  return clashes
}

/** The node holding the VIP according to the log: the last acquirer, unless it released since (or, given `alive`, died). */
export function currentVipHolder(events: VipEvent[], alive: (pid: number) => boolean = () => true): string | undefined {
  const last = events.filter((e) => e.event === 'acquired').at(-1)
  if (!last || !alive(last.pid)) return undefined
  return events.some((e) => e.event === 'released' && e.pid === last.pid && e.at >= last.at) ? undefined : last.node
}
