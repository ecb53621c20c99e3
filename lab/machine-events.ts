// machined's event buffer, which `talosctl events` and every `--wait` of reboot/shutdown/reset/upgrade watch
// (v1.10.3 internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_events.go): machined publishes sequence, phase and
// task events and the machine's status into a buffer held in its memory, so each boot starts with an empty one.
// The lab keeps it in <node>/events.jsonl (several lab processes boot machines) and empties it at every boot.
// Each event is Talos's machine.Event as protojson: its payload an Any of type talos/runtime/machine.<Type>
// (internal/app/machined/pkg/runtime/events.go NewEvent), its id an xid (github.com/rs/xid) and the actor id of
// the API call that started the sequence.
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { paths } from './state.ts'

export type EventType = 'SequenceEvent' | 'PhaseEvent' | 'TaskEvent' | 'ServiceStateEvent' | 'MachineStatusEvent'

export interface StoredEvent {
  /** xid: sorts by time, then by a counter, as machined's tail_id search relies on. */
  id: string
  actorId: string
  type: EventType
  payload: Record<string, unknown>
}

const file = (name: string) => join(paths.nodeDir(name), 'events.jsonl')

// rs/xid: 4 bytes of seconds, 3 of machine id, 2 of pid, 3 of counter, base32hex (lower case, no padding)
const XID_ALPHABET = '0123456789abcdefghijklmnopqrstuv'
const machineId = randomBytes(3)
let counter = randomBytes(3).readUIntBE(0, 3)

function base32hex(b: Buffer): string {
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of b) {
    value = ((value << 8) | byte) & 0xffff
    bits += 8
    while (bits >= 5) {
      out += XID_ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += XID_ALPHABET[(value << (5 - bits)) & 31]
  return out
}

export function newXid(now = Date.now()): string {
  const b = Buffer.alloc(12)
  b.writeUInt32BE(Math.floor(now / 1000), 0)
  machineId.copy(b, 4)
  b.writeUInt16BE(process.pid & 0xffff, 7)
  counter = (counter + 1) & 0xffffff
  b.writeUIntBE(counter, 9, 3)
  return base32hex(b)
}

export const isXid = (s: string) => /^[0-9a-v]{20}$/.test(s)

/** Seconds since the epoch an xid was made at. */
export function xidTime(id: string): number {
  let bits = 0
  let value = 0
  const bytes: number[] = []
  for (const c of id) {
    value = ((value << 5) | XID_ALPHABET.indexOf(c)) & 0xffff
    bits += 5
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return Buffer.from(bytes.slice(0, 4)).readUInt32BE(0)
}

/** Events.Publish: append to the machine's buffer of this boot. */
export function publishEvent(
  name: string,
  type: EventType,
  payload: Record<string, unknown>,
  actorId = '',
): StoredEvent {
  const ev: StoredEvent = { id: newXid(), actorId, type, payload }
  appendFileSync(file(name), JSON.stringify(ev) + '\n', { mode: 0o644 })
  return ev
}

/** A new boot: a new machined with an empty buffer. */
export function clearEvents(name: string): void {
  rmSync(file(name), { force: true })
}

export function readEvents(name: string): StoredEvent[] {
  if (!existsSync(file(name))) return []
  return readFileSync(file(name), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as StoredEvent)
}

/** machine.Event as protojson: the payload as an Any that names its Talos type. */
export function toMachineEvent(ev: StoredEvent): Record<string, unknown> {
  return {
    data: { '@type': `talos/runtime/machine.${ev.type}`, ...ev.payload },
    id: ev.id,
    actorId: ev.actorId,
  }
}
