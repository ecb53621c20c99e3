// Parsers for what talosctl v1.10 prints. Formats follow cmd/talosctl (etcd.go, service.go, version.go,
// output/{json,yaml,table}.go) and pkg/cluster/check; tests run them on verbatim outputs from the Talos docs.
import { parseAllDocuments } from 'yaml'

// ---------------------------------------------------------------- units

const SI: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, PB: 1e15, EB: 1e18 }
const IEC: Record<string, number> = {
  KIB: 2 ** 10,
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  TIB: 2 ** 40,
  PIB: 2 ** 50,
  EIB: 2 ** 60,
}

/**
 * Bytes from a go-humanize size: `humanize.Bytes` ("4.5 MB", "21 MB", "9 B", SI, base 1000) or `humanize.IBytes`
 * ("1.5 GiB", base 1024). humanize rounds to 2 significant digits, so the result is approximate by up to ~5%.
 */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  if (!m) throw new Error(`not a byte size: ${JSON.stringify(text)}`)
  const unit = (m[2] || 'B').toUpperCase()
  const mult = SI[unit] ?? IEC[unit]
  if (mult === undefined) throw new Error(`unknown byte unit ${JSON.stringify(m[2])} in ${JSON.stringify(text)}`)
  return Math.round(Number(m[1]) * mult)
}

const GO_DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1e3,
  m: 60e3,
  h: 3600e3,
}

/** Milliseconds from a Go time.Duration string ("19m27s", "1h2m3.5s", "100ms", "0s"). */
export function parseGoDuration(text: string): number {
  const s = text.trim()
  if (s === '0') return 0
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/gy
  let total = 0
  let consumed = 0
  const sign = s.startsWith('-') ? -1 : 1
  const body = s.replace(/^[-+]/, '')
  for (let m = re.exec(body); m; m = re.exec(body)) {
    total += Number(m[1]) * GO_DURATION_UNITS[m[2]!]!
    consumed = re.lastIndex
  }
  if (body === '' || consumed !== body.length) throw new Error(`not a Go duration: ${JSON.stringify(text)}`)
  return sign * total
}

/** A Go duration string for talosctl flags (--wait-timeout 5m0s style; whole seconds). */
export function formatGoDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`
}

// ---------------------------------------------------------------- tabwriter tables

interface ParsedTable {
  columns: string[]
  rows: Record<string, string>[]
}

function lines(text: string): string[] {
  return text.replace(/\r\n/g, '\n').split('\n')
}

// Header names are separated by tabwriter padding (3 spaces; 2 tolerated for hand-edited docs) and may contain
// single spaces themselves ("DB SIZE", "RAFT APPLIED INDEX", "LAST CHANGE").
function headerColumns(header: string): { names: string[]; starts: number[] } {
  const names: string[] = []
  const starts: number[] = []
  const re = /\S+(?: \S+)*/g
  for (let m = re.exec(header); m; m = re.exec(header)) {
    names.push(m[0])
    starts.push(m.index)
  }
  return { names, starts }
}

// Cell boundaries for one row. tabwriter left-aligns every cell at its column's start, so the header positions
// are the boundaries; when a doc was hand-edited and a value sits a character or two off, snap to the value.
function rowBoundaries(row: string, starts: number[]): number[] {
  const bounds = [0]
  for (let j = 1; j < starts.length; j++) {
    let b = starts[j]!
    const prev = bounds[j - 1]!
    if (b < row.length && b > 0 && row[b - 1] !== ' ' && row[b] !== ' ') {
      let s = b
      while (s > 0 && row[s - 1] !== ' ') s--
      if (b - s <= 2 && s > prev) b = s
      else {
        let e = b
        while (e < row.length && row[e] !== ' ') e++
        b = e
      }
    }
    bounds.push(Math.max(b, prev))
  }
  return bounds
}

function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>()
  return names.map((n) => {
    const count = (seen.get(n) ?? 0) + 1
    seen.set(n, count)
    return count === 1 ? n : `${n}_${count}`
  })
}

/**
 * A Go tabwriter table: the first non-empty line is the header; column boundaries come from where each header name
 * starts. Repeated header names get a suffix (`TYPE`, `TYPE_2`). Missing trailing cells are ''.
 */
export function parseTableWithColumns(text: string): ParsedTable {
  const all = lines(text).filter((l) => l.trim() !== '' && !/^WARNING: /.test(l))
  if (all.length === 0) return { columns: [], rows: [] }
  const { names, starts } = headerColumns(all[0]!)
  const columns = uniqueNames(names)
  const rows = all.slice(1).map((row) => {
    const bounds = rowBoundaries(row, starts)
    const rec: Record<string, string> = {}
    columns.forEach((col, j) => {
      const end = j + 1 < bounds.length ? bounds[j + 1]! : row.length
      rec[col] = row.slice(bounds[j], end).trim()
    })
    return rec
  })
  return { columns, rows }
}

export function parseTable(text: string): Record<string, string>[] {
  return parseTableWithColumns(text).rows
}

function requireColumns(table: ParsedTable, what: string, needed: string[]): void {
  const missing = needed.filter((c) => !table.columns.includes(c))
  if (table.columns.length > 0 && missing.length > 0) {
    throw new Error(`${what}: missing column(s) ${missing.join(', ')} in header [${table.columns.join(' | ')}]`)
  }
}

function parseBool(text: string, what: string): boolean {
  if (text === 'true') return true
  if (text === 'false') return false
  throw new Error(`${what}: expected true/false, got ${JSON.stringify(text)}`)
}

function parseIntStrict(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`${what}: expected an integer, got ${JSON.stringify(text)}`)
  return Number(text)
}

function optionalNode(row: Record<string, string>): { node?: string } {
  return row.NODE !== undefined && row.NODE !== '' ? { node: row.NODE } : {}
}

// ---------------------------------------------------------------- etcd

export interface EtcdStatusRow {
  node?: string
  memberId: string
  /** On-disk DB size in bytes (from humanize.Bytes, so approximate). */
  dbSize: number
  dbSizeText: string
  dbSizeInUse: number
  dbSizeInUseText: string
  /** "IN USE" ratio printed by talosctl, percent. */
  inUsePercent: number
  leader: string
  isLeader: boolean
  raftIndex: number
  raftTerm: number
  raftAppliedIndex: number
  learner: boolean
  /** ERRORS column as printed (talosctl joins the member's errors with ", "); '' when none. */
  errors: string
}

/** `talosctl etcd status`: [NODE] MEMBER DB SIZE IN USE LEADER RAFT INDEX RAFT TERM RAFT APPLIED INDEX LEARNER ERRORS. */
export function parseEtcdStatus(text: string): EtcdStatusRow[] {
  const table = parseTableWithColumns(text)
  requireColumns(table, 'etcd status', [
    'MEMBER',
    'DB SIZE',
    'IN USE',
    'LEADER',
    'RAFT INDEX',
    'RAFT TERM',
    'RAFT APPLIED INDEX',
    'LEARNER',
  ])
  return table.rows.map((r) => {
    const where = `etcd status${r.NODE ? ` (node ${r.NODE})` : ''}`
    const inUse = /^(.+?)\s*\((\d+(?:\.\d+)?)%\)$/.exec(r['IN USE']!)
    if (!inUse) throw new Error(`${where}: cannot read IN USE ${JSON.stringify(r['IN USE'])}`)
    const memberId = r.MEMBER!
    return {
      ...optionalNode(r),
      memberId,
      dbSize: parseBytes(r['DB SIZE']!),
      dbSizeText: r['DB SIZE']!,
      dbSizeInUse: parseBytes(inUse[1]!),
      dbSizeInUseText: inUse[1]!,
      inUsePercent: Number(inUse[2]),
      leader: r.LEADER!,
      isLeader: memberId === r.LEADER,
      raftIndex: parseIntStrict(r['RAFT INDEX']!, `${where} RAFT INDEX`),
      raftTerm: parseIntStrict(r['RAFT TERM']!, `${where} RAFT TERM`),
      raftAppliedIndex: parseIntStrict(r['RAFT APPLIED INDEX']!, `${where} RAFT APPLIED INDEX`),
      learner: parseBool(r.LEARNER!, `${where} LEARNER`),
      errors: r.ERRORS ?? '',
    }
  })
}

export interface EtcdMemberRow {
  node?: string
  id: string
  hostname: string
  peerUrls: string[]
  clientUrls: string[]
  learner: boolean
}

const splitList = (s: string) => (s === '' ? [] : s.split(','))

/** `talosctl etcd members`: [NODE] ID HOSTNAME PEER URLS CLIENT URLS LEARNER (URLs comma-joined). */
export function parseEtcdMembers(text: string): EtcdMemberRow[] {
  const table = parseTableWithColumns(text)
  requireColumns(table, 'etcd members', ['ID', 'HOSTNAME', 'PEER URLS', 'CLIENT URLS', 'LEARNER'])
  return table.rows.map((r) => ({
    ...optionalNode(r),
    id: r.ID!,
    hostname: r.HOSTNAME!,
    peerUrls: splitList(r['PEER URLS']!),
    clientUrls: splitList(r['CLIENT URLS']!),
    learner: parseBool(r.LEARNER!, `etcd members${r.NODE ? ` (node ${r.NODE})` : ''} LEARNER`),
  }))
}

export interface EtcdAlarmRow {
  node?: string
  memberId: string
  /** etcd AlarmType name: NOSPACE, CORRUPT, ... */
  alarm: string
}

/** `talosctl etcd alarm list`: [NODE] MEMBER ALARM. Prints nothing at all when there are no alarms. */
export function parseEtcdAlarms(text: string): EtcdAlarmRow[] {
  const table = parseTableWithColumns(text)
  requireColumns(table, 'etcd alarm list', ['MEMBER', 'ALARM'])
  return table.rows.map((r) => ({ ...optionalNode(r), memberId: r.MEMBER!, alarm: r.ALARM! }))
}

// ---------------------------------------------------------------- services

export interface ServiceEvent {
  state: string
  message: string
  /** "17s" as printed (time since the event, rounded to seconds). */
  ago: string
  agoMs: number
}

export interface ServiceStatus {
  node?: string
  id: string
  /** Running, Preparing, Waiting, Finished, Failed, Skipped, ... */
  state: string
  /** "OK", "Fail" or "?" as printed. */
  health: string
  /** true for OK, false for Fail, undefined when unknown ("?"). */
  healthy?: boolean
  lastHealthMessage?: string
  /** Time since the last event ("19m27s"), from LAST CHANGE or the newest event. */
  lastChange?: string
  lastChangeMs?: number
  lastEvent?: string
  /** Newest first, as talosctl prints them (detail form only). */
  events?: ServiceEvent[]
}

function healthBool(h: string): boolean | undefined {
  return h === 'OK' ? true : h === 'Fail' ? false : undefined
}

/**
 * A service event message is printed raw (pkg/machinery/formatters/formatters.go RenderServicesInfo, and
 * cmd/talosctl/cmd/talos/service.go serviceList: `%s` of the message), so a message with newlines, such as a
 * program's multi-line error in a restart event, continues on lines of its own. In the list form a row always has its
 * "<duration> ago" LAST CHANGE cell; any other line continues the row above it. Continuations are kept on that row
 * behind a NUL (which no talosctl output holds) and turned back into newlines once the columns are cut.
 */
const CONTINUED = '\u0000'

function joinServiceListRows(text: string): string {
  const out: string[] = []
  for (const line of lines(text)) {
    if (out.length > 1 && line.trim() !== '' && !/^WARNING: /.test(line) && !/ ago( {2,}|$)/.test(line))
      out[out.length - 1] += CONTINUED + line
    else out.push(line)
  }
  return out.join('\n')
}

/** Cut a list row into the header's cells: every cell but the last ends at a run of 2+ spaces; the last takes the rest. */
function serviceListCells(row: string, columns: string[]): Record<string, string> {
  const rec: Record<string, string> = {}
  let rest = row
  columns.forEach((col, i) => {
    if (i === columns.length - 1) {
      rec[col] = rest.trim()
      return
    }
    const m = /^(\S+(?: \S+)*)?( {2,}|$)/.exec(rest)
    rec[col] = m?.[1] ?? ''
    rest = rest.slice(m ? m[0].length : rest.length)
  })
  return rec
}

function parseServiceList(text: string): ServiceStatus[] {
  const all = lines(joinServiceListRows(text)).filter((l) => l.trim() !== '' && !/^WARNING: /.test(l))
  if (all.length === 0) return []
  // the cells are cut by their spacing, not by the header's positions: after a multi-line event the tabwriter aligns
  // the following rows anew
  const columns = all[0]!.trim().split(/ {2,}/)
  requireColumns({ columns, rows: [] }, 'service list', ['SERVICE', 'STATE', 'HEALTH', 'LAST CHANGE', 'LAST EVENT'])
  return all.slice(1).map((line) => {
    const r = serviceListCells(line, columns)
    const ago = r['LAST CHANGE']!.replace(/\s*ago$/, '')
    return {
      ...optionalNode(r),
      id: r.SERVICE!,
      state: r.STATE!,
      health: r.HEALTH!,
      healthy: healthBool(r.HEALTH!),
      ...(ago ? { lastChange: ago, lastChangeMs: parseGoDuration(ago) } : {}),
      lastEvent: r['LAST EVENT']!.replaceAll(CONTINUED, '\n'),
    }
  })
}

const EVENT_RE = /^\[([^\]]*)\]: ([\s\S]*) \(([^()\s]+) ago\)$/

function parseServiceEvent(line: string, where: string): ServiceEvent {
  const m = EVENT_RE.exec(line)
  if (!m) throw new Error(`${where}: cannot read event ${JSON.stringify(line)}`)
  return { state: m[1]!, message: m[2]!, ago: m[3]!, agoMs: parseGoDuration(m[3]!) }
}

// The detail form is a two-column tabwriter table of KEY VALUE lines; EVENTS continues on lines with an empty key.
function parseServiceInfo(text: string): ServiceStatus[] {
  const body = lines(text).filter((l) => l.trim() !== '' && !/^WARNING: /.test(l))
  if (body.length === 0) return []
  const out: ServiceStatus[] = []
  let cur: Partial<ServiceStatus> & { events: ServiceEvent[] } = { events: [] }
  let lastKey = ''
  const flush = () => {
    if (cur.id === undefined) return
    const newest = cur.events[0]
    out.push({
      ...(cur.node !== undefined ? { node: cur.node } : {}),
      id: cur.id,
      state: cur.state ?? '',
      health: cur.health ?? '',
      healthy: healthBool(cur.health ?? ''),
      ...(cur.lastHealthMessage !== undefined ? { lastHealthMessage: cur.lastHealthMessage } : {}),
      ...(newest ? { lastChange: newest.ago, lastChangeMs: newest.agoMs, lastEvent: newest.message } : {}),
      events: cur.events,
    })
  }
  // An event message with newlines goes on over raw lines of its own until its "(… ago)" (see joinServiceListRows),
  // and the tabwriter aligns each block between such lines anew: so lines are read by their shape, not by a column.
  let pending: string | undefined
  for (const line of body) {
    const where = `service ${cur.id ?? ''}${cur.node ? ` on ${cur.node}` : ''}`.trim()
    const event = (text: string) => {
      if (EVENT_RE.test(text)) {
        cur.events.push(parseServiceEvent(text, where))
        pending = undefined
      } else pending = text
    }
    if (pending !== undefined) {
      event(`${pending}\n${line.trimEnd()}`)
      continue
    }
    const kv = /^([A-Z][A-Z ]*[A-Z])(?: {2,}|\t)(.*)$/.exec(line)
    if (!kv) {
      // an indented line continues EVENTS with the next event; an unindented one continues a multi-line value
      if (lastKey === 'EVENTS' && /^\s/.test(line)) event(line.trim())
      else if (lastKey === 'LAST HEALTH MESSAGE') cur.lastHealthMessage += `\n${line.trimEnd()}`
      else throw new Error(`${where}: unexpected line ${JSON.stringify(line)}`)
      continue
    }
    const [, key, rawValue] = kv as unknown as [string, string, string]
    const value = rawValue.trim()
    if (key === 'NODE' || (key === 'ID' && cur.id !== undefined)) {
      flush()
      cur = { events: [] }
    }
    lastKey = key
    switch (key) {
      case 'NODE':
        cur.node = value
        break
      case 'ID':
        cur.id = value
        break
      case 'STATE':
        cur.state = value
        break
      case 'HEALTH':
        cur.health = value
        break
      case 'LAST HEALTH MESSAGE':
        cur.lastHealthMessage = value
        break
      case 'EVENTS':
        event(value)
        break
      default:
        break // fields added by later talosctl versions are not needed here
    }
  }
  if (pending !== undefined)
    throw new Error(`service ${cur.id ?? ''}: event without its time: ${JSON.stringify(pending)}`)
  flush()
  return out
}

/** `talosctl service` (the NODE SERVICE STATE ... table) and `talosctl service <id>` (the KEY VALUE detail form). */
export function parseService(text: string): ServiceStatus[] {
  const head = lines(text).find((l) => l.trim() !== '' && !/^WARNING: /.test(l)) ?? ''
  return /^(NODE\s+)?SERVICE\s+STATE\s/.test(head) ? parseServiceList(text) : parseServiceInfo(text)
}

// ---------------------------------------------------------------- per-node errors of a multi-node call

export interface NodeErrors {
  /** Node (as given to -n) → what apid reported for it. */
  byNode: Record<string, string>
  /** Errors that name no node: `talosctl get` prints its per-node errors so, and a call that failed as a whole. */
  other: string[]
}

/**
 * The errors of a multi-node call, from stderr. apid answers for every node it was asked about and puts a node's
 * failure in that node's message (metadata.error); the client gathers them into a go-multierror whose list format
 * is "N error(s) occurred:" then one "\t* <node>: <error>" line each (pkg/machinery/client FilterMessages). talosctl
 * prints it after "WARNING: " when some nodes answered (version, service, etcd, mounts: cli.Warning) or after
 * "error getting version: " when none did (exit 1). `get` lists its errors without the node ("\t* rpc error: …").
 */
export function parseNodeErrors(stderr: string): NodeErrors {
  const out: NodeErrors = { byNode: {}, other: [] }
  for (const raw of lines(stderr)) {
    const line = raw.trim()
    if (line === '') continue
    const item = /^\* (.*)$/.exec(line)
    if (!item) {
      // the multierror's header, alone or after talosctl's prefix, carries nothing of its own
      if (!/(^|: )\d+ errors? occurred:$/.test(line)) out.other.push(line)
      continue
    }
    const node = /^([A-Za-z0-9][\w.:[\]-]*): (.+)$/.exec(item[1]!)
    // "rpc error: code = …" names no node: its first word is followed by a space, not ": "
    if (node && !/^rpc$/.test(node[1]!)) out.byNode[node[1]!] = node[2]!
    else out.other.push(item[1]!)
  }
  return out
}

// ---------------------------------------------------------------- version

interface VersionInfo {
  tag: string
  sha: string
  built: string
  goVersion: string
  os: string
  arch: string
}

interface ServerVersion extends VersionInfo {
  node: string
  /** "Enabled:" features, e.g. ["RBAC"]. */
  enabled: string[]
}

export interface VersionReport {
  client?: VersionInfo
  servers: ServerVersion[]
}

const VERSION_KEYS: Record<string, keyof VersionInfo | 'node' | 'enabled' | 'osArch'> = {
  NODE: 'node',
  Tag: 'tag',
  SHA: 'sha',
  Built: 'built',
  'Go version': 'goVersion',
  'OS/Arch': 'osArch',
  Enabled: 'enabled',
}

/** `talosctl version`: "Client:" then indented "Key: value" lines; under "Server:" each node starts with "NODE:". */
export function parseVersion(text: string): VersionReport {
  const report: VersionReport = { servers: [] }
  let section: 'client' | 'server' | undefined
  let cur: Record<string, string> | undefined
  const finish = () => {
    if (!cur) return
    const [os = '', arch = ''] = (cur.osArch ?? '').split('/')
    const info: VersionInfo = {
      tag: cur.tag ?? '',
      sha: cur.sha ?? '',
      built: cur.built ?? '',
      goVersion: cur.goVersion ?? '',
      os,
      arch,
    }
    if (section === 'client') report.client = info
    else {
      const enabled = (cur.enabled ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
      report.servers.push({ node: cur.node ?? '', ...info, enabled })
    }
    cur = undefined
  }
  for (const raw of lines(text)) {
    const line = raw.trim()
    if (line === 'Client:' || line === 'Server:') {
      finish()
      section = line === 'Client:' ? 'client' : 'server'
      continue
    }
    const m = /^([A-Za-z][A-Za-z /]*?):(?:\s+(.*))?$/.exec(line)
    if (!m || !section || !/^\s/.test(raw)) continue
    const key = VERSION_KEYS[m[1]!]
    if (!key) continue
    if (section === 'server' && key === 'node') finish()
    cur ??= {}
    cur[key] = (m[2] ?? '').trim()
  }
  finish()
  return report
}

// ---------------------------------------------------------------- resources (talosctl get)

interface ResourceMetadata {
  namespace: string
  type: string
  id: string
  version: number | string
  owner?: string
  phase?: string
  created?: string
  updated?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  finalizers?: string[]
  [extra: string]: unknown
}

export interface TalosResource<T = unknown> {
  node: string
  metadata: ResourceMetadata
  spec: T
}

// `-o json` writes one indented JSON document per resource back to back (output/json.go); split them by depth.
function splitJsonStream(text: string): string[] {
  const docs: string[] = []
  let depth = 0
  let start = -1
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
      continue
    }
    if (c === '"') inString = true
    else if (c === '{' || c === '[') {
      if (depth === 0) start = i
      depth++
    } else if (c === '}' || c === ']') {
      depth--
      if (depth === 0) docs.push(text.slice(start, i + 1))
      if (depth < 0) throw new Error(`talosctl -o json: unbalanced '${c}' at offset ${i}`)
    } else if (depth === 0 && !/\s/.test(c!)) {
      throw new Error(`talosctl -o json: unexpected ${JSON.stringify(c)} at offset ${i} between documents`)
    }
  }
  if (depth !== 0) throw new Error('talosctl -o json: output ends inside a document')
  return docs
}

function toResource<T>(doc: unknown, where: string): TalosResource<T> {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${where}: not a resource object`)
  const o = doc as Record<string, unknown>
  const md = o.metadata as ResourceMetadata | undefined
  // talosctl's -o json re-reads each resource's YAML, so an ID that looks like a number comes out as one: the
  // ExtensionStatus IDs "0", "1", … print as "id": 0 (cmd/talosctl/cmd/talos/output/json.go prepareEncodableData: yaml.Marshal, then yaml.Unmarshal)
  if (md && typeof md === 'object' && typeof md.id === 'number') md.id = String(md.id)
  if (!md || typeof md !== 'object' || typeof md.id !== 'string') throw new Error(`${where}: no metadata.id`)
  return { node: typeof o.node === 'string' ? o.node : String(o.node ?? ''), metadata: md, spec: o.spec as T }
}

/** `talosctl get X -o json` (concatenated JSON objects) or `-o yaml` (`---`-separated documents). */
export function parseResources<T = unknown>(text: string): TalosResource<T>[] {
  const trimmed = text.trim()
  if (trimmed === '') return []
  if (trimmed.startsWith('{')) {
    return splitJsonStream(trimmed).map((d, i) => {
      let parsed: unknown
      try {
        parsed = JSON.parse(d)
      } catch (e) {
        throw new Error(`talosctl -o json: document ${i + 1}: ${(e as Error).message}`, { cause: e })
      }
      return toResource<T>(parsed, `talosctl -o json: document ${i + 1}`)
    })
  }
  return parseAllDocuments(text).flatMap((d, i) => {
    if (d.errors.length > 0) throw new Error(`talosctl -o yaml: document ${i + 1}: ${d.errors[0]!.message}`)
    const value = d.toJS()
    return value == null ? [] : [toResource<T>(value, `talosctl -o yaml: document ${i + 1}`)]
  })
}

interface GetTableRow {
  node?: string
  namespace: string
  type: string
  id: string
  version: number
  /** The resource's own print columns (everything after VERSION), keyed by header. */
  columns: Record<string, string>
}

const GET_FIXED = ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION']

/** `talosctl get X` table: NODE NAMESPACE TYPE ID VERSION then the resource's print columns. */
export function parseGetTable(text: string): GetTableRow[] {
  const table = parseTableWithColumns(text)
  requireColumns(table, 'talosctl get', ['ID', 'VERSION'])
  const dynamic = table.columns.slice(table.columns.indexOf('VERSION') + 1)
  return table.rows.map((r) => {
    const columns: Record<string, string> = {}
    // a print column named like a fixed one (DiscoveredVolume's TYPE) was suffixed by parseTable; drop the suffix
    for (const c of dynamic) columns[GET_FIXED.includes(c.replace(/_\d+$/, '')) ? c.replace(/_\d+$/, '') : c] = r[c]!
    return {
      ...optionalNode(r),
      namespace: r.NAMESPACE ?? '',
      type: r.TYPE ?? '',
      id: r.ID!,
      version: parseIntStrict(r.VERSION!, `talosctl get ${r.ID} VERSION`),
      columns,
    }
  })
}

// ---------------------------------------------------------------- containers

export interface ContainerRow {
  node?: string
  namespace: string
  /** "<pod ns>/<pod>" for a sandbox, "<pod ns>/<pod>:<container>:<12 hex>" for a container (cri.go buildContainer). */
  id: string
  /** The pod ("<pod ns>/<pod>"); for a sandbox row, id itself. */
  pod: string
  /** The container's name; undefined for a sandbox row. */
  container?: string
  image: string
  pid: number
  status: string
}

/**
 * `talosctl containers [-k]` (cmd/talosctl/cmd/talos/containers.go containerRender at v1.10.3: NODE NAMESPACE ID
 * IMAGE PID STATUS, a container in a sandbox shown as "└─ <id>").
 */
export function parseContainers(text: string): ContainerRow[] {
  const table = parseTableWithColumns(text)
  requireColumns(table, 'talosctl containers', ['ID', 'PID', 'STATUS'])
  return table.rows.map((r) => {
    const id = r.ID!.replace(/^└─\s*/, '')
    const [pod, container] = id.split(':')
    return {
      ...optionalNode(r),
      namespace: r.NAMESPACE ?? '',
      id,
      pod: pod!,
      ...(container !== undefined ? { container } : {}),
      image: r.IMAGE ?? '',
      pid: parseIntStrict(r.PID!, `talosctl containers ${id} PID`),
      status: r.STATUS ?? '',
    }
  })
}

// ---------------------------------------------------------------- health

type HealthStatus = 'running' | 'ok' | 'skip' | 'error'

interface HealthCheck {
  /** The condition, e.g. "etcd to be healthy". */
  name: string
  status: HealthStatus
  /** "...", "OK", "SKIP" or the last error (multi-line errors joined with "\n"). */
  message: string
}

export interface HealthReport {
  discoveredNodes?: string[]
  /** Last state of each check, in the order they ran. */
  checks: HealthCheck[]
  /** Lines that are not progress updates (e.g. "healthcheck error: ...", "context deadline exceeded"). */
  errors: string[]
  /** Every check reported OK or SKIP and nothing else went wrong. */
  ok: boolean
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g
const SPINNER = /^[◰◳◲◱]\s+/

/**
 * `talosctl health` progress (stderr): "waiting for <check>: ..." / ": OK" / ": SKIP" / ": <error>", the error may
 * continue on indented lines ("1 error occurred:" then "    * 10.5.0.2: ..."); the server-side check first prints
 * `discovered nodes: ["a" "b"]`.
 */
export function parseHealth(text: string): HealthReport {
  const checks = new Map<string, HealthCheck>()
  const errors: string[] = []
  let discoveredNodes: string[] | undefined
  let last: HealthCheck | undefined
  for (const raw of lines(text)) {
    const line = raw.replace(ANSI, '').replace(SPINNER, '').trimEnd()
    if (line.trim() === '') continue
    if (/^\s/.test(line) && last) {
      // continuation of a multi-line error: the reporter prints the whole message again on each change
      last.message += '\n' + line.trim()
      continue
    }
    const w = /^waiting for (.+?): (.*)$/.exec(line)
    if (w) {
      const rest = w[2]!
      const status: HealthStatus =
        rest === '...' ? 'running' : rest === 'OK' ? 'ok' : rest === 'SKIP' ? 'skip' : 'error'
      last = { name: w[1]!, status, message: rest }
      checks.set(last.name, last) // a Map keeps the first-seen position of a key on re-set
      continue
    }
    last = undefined
    const d = /^discovered nodes: \[(.*)\]$/.exec(line)
    if (d) {
      discoveredNodes = [...d[1]!.matchAll(/"([^"]*)"/g)].map((m) => m[1]!)
      continue
    }
    errors.push(line.trim())
  }
  const list = [...checks.values()]
  const ok = list.length > 0 && errors.length === 0 && list.every((c) => c.status === 'ok' || c.status === 'skip')
  return { ...(discoveredNodes ? { discoveredNodes } : {}), checks: list, errors, ok }
}
