// talosctl etcd status|members|leave|forfeit-leadership|remove-member|alarm list|alarm disarm — answered by the
// node's REAL etcd (lab/etcd-client.ts over its JSON gateway).
import { rmSync } from 'node:fs'
import type { RunContext } from './context.ts'
import { RpcFailure, nodeErrors, perNode, rpcError, warn, withClient, type NodeResult, type Session } from './common.ts'
import { humanizeBytes } from '../machine-api/humanize.ts'
import { table } from './tabwriter.ts'
import { EtcdClient, memberIdHex } from '../etcd-client.ts'
import { etcdClientUrl, findHealthyMember, stopEtcd } from '../node-services.ts'
import { isAlive } from '../processes.ts'
import { paths, updateNode, type LabNode } from '../state.ts'
import * as io from './io.ts'

const fmtId = (decimal: string | undefined) => (decimal ? memberIdHex(decimal).padStart(16, '0') : '0000000000000000')

/** Machined's local etcd client: fails as Talos does when etcd isn't up on the node. */
async function localEtcd(n: LabNode): Promise<EtcdClient> {
  if (n.role !== 'controlplane' || !isAlive(n.etcd.pid))
    throw new Error(rpcError('Unknown', 'failed to create etcd client: context deadline exceeded'))
  const c = new EtcdClient(etcdClientUrl(n), 2000)
  try {
    await c.status()
  } catch {
    throw new Error(rpcError('Unknown', 'failed to create etcd client: context deadline exceeded'))
  }
  return c
}

async function session(ctx: RunContext, what: string): Promise<Session> {
  try {
    return await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(what ? `${what}: ${e.message}` : e.message)
    throw e
  }
}

/** Per-node failures: a warning when some nodes answered, the command's error when none did. */
function report<T>(results: NodeResult<T>[], what: string): NodeResult<T>[] {
  const err = nodeErrors(results)
  const ok = results.filter((r) => r.error === undefined)
  if (err && !ok.length) throw new Error(`${what}: ${err}`)
  if (err) warn(err)
  return ok
}

export async function status(ctx: RunContext): Promise<void> {
  const s = await session(ctx, 'error getting status')
  const results = await perNode(s, async (n) => (await localEtcd(n)).status())
  const ok = report(results, 'error getting status')
  const header = [
    'MEMBER',
    'DB SIZE',
    'IN USE',
    'LEADER',
    'RAFT INDEX',
    'RAFT TERM',
    'RAFT APPLIED INDEX',
    'LEARNER',
    'ERRORS',
  ]
  const rows: (string | number | boolean)[][] = [s.proxied ? ['NODE', ...header] : header]
  for (const r of ok) {
    const st = r.value!
    const db = Number(st.dbSize ?? 0)
    const inUse = Number(st.dbSizeInUse ?? 0)
    const ratio = db > 0 ? (inUse / db) * 100 : 0
    const row = [
      fmtId(st.header.member_id),
      humanizeBytes(db),
      `${humanizeBytes(inUse)} (${ratio.toFixed(2)}%)`,
      fmtId(st.leader),
      Number(st.raftIndex ?? 0),
      Number(st.raftTerm ?? 0),
      Number(st.raftAppliedIndex ?? 0),
      st.isLearner === true,
      (st.errors ?? []).join(', '),
    ]
    rows.push(s.proxied ? [r.addr, ...row] : row)
  }
  if (ok.length) io.out(table(rows))
}

export async function members(ctx: RunContext): Promise<void> {
  const s = await session(ctx, 'error getting members')
  const results = await perNode(s, async (n) => (await localEtcd(n)).members())
  const ok = report(results, 'error getting members')
  const header = ['ID', 'HOSTNAME', 'PEER URLS', 'CLIENT URLS', 'LEARNER']
  const rows: (string | number | boolean)[][] = []
  for (const r of ok) {
    for (const m of r.value!) {
      const row = [fmtId(m.ID), m.name, m.peerURLs.join(','), (m.clientURLs ?? []).join(','), m.isLearner === true]
      rows.push(s.proxied ? [r.addr, ...row] : row)
    }
  }
  if (rows.length) io.out(table([s.proxied ? ['NODE', ...header] : header, ...rows]))
}

function single(s: Session, cmd: string): void {
  if (s.nodes.length > 1) throw new Error(`command "${cmd}" is not supported with multiple nodes`)
}

function failIfErrors<T>(results: NodeResult<T>[], prefix = ''): void {
  const err = nodeErrors(results)
  if (err) throw new Error(prefix + err)
}

export async function leave(ctx: RunContext): Promise<void> {
  const s = await session(ctx, '')
  single(s, 'etcd leave')
  const results = await perNode(s, async (n) => {
    const c = await localEtcd(n)
    const st = await c.status()
    // the member leaves through another member so the remaining cluster commits the removal
    const other = await findHealthyMember(n.name)
    await new EtcdClient(other ? etcdClientUrl(other) : etcdClientUrl(n)).removeMember(st.header.member_id)
    await stopEtcd(n.name)
    rmSync(paths.etcdData(n.name), { recursive: true, force: true })
    updateNode(n.name, (x) => {
      delete x.etcd.memberId
      x.bootstrapped = false
    })
  })
  failIfErrors(results)
}

export async function forfeitLeadership(ctx: RunContext): Promise<void> {
  const s = await session(ctx, '')
  const results = await perNode(s, async (n) => {
    const c = await localEtcd(n)
    const st = await c.status()
    if (st.leader !== st.header.member_id) return
    const ms = await c.members()
    const target = ms.find((m) => m.ID !== st.header.member_id && !m.isLearner && m.clientURLs?.length)
    if (!target) return
    await c.moveLeader(target.ID)
  })
  failIfErrors(results)
}

export async function removeMember(ctx: RunContext): Promise<void> {
  const raw = ctx.args[0]
  if (!/^[0-9a-fA-F]{1,16}$/.test(raw))
    throw new Error(`error parsing member ID: strconv.ParseUint: parsing "${raw}": invalid syntax`)
  const id = BigInt('0x' + raw).toString()
  const s = await session(ctx, '')
  const results = await perNode(s, async (n) => {
    const c = await localEtcd(n)
    const ms = await c.members()
    if (!ms.some((m) => m.ID === id)) throw new Error(rpcError('Unknown', `etcdserver: member not found`))
    await c.removeMember(id)
  })
  failIfErrors(results)
}

async function alarms(ctx: RunContext, disarm: boolean): Promise<void> {
  const what = disarm ? 'error disarming alarms' : 'error getting alarms'
  const s = await session(ctx, what)
  const results = await perNode(s, async (n) => {
    const c = await localEtcd(n)
    const list = await c.alarms()
    if (disarm)
      for (const a of list)
        await c.call('/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID: a.memberID, alarm: a.alarm })
    return list
  })
  const ok = report(results, what)
  const rows: string[][] = []
  for (const r of ok)
    for (const a of r.value!) rows.push(s.proxied ? [r.addr, fmtId(a.memberID), a.alarm] : [fmtId(a.memberID), a.alarm])
  if (rows.length) io.out(table([s.proxied ? ['NODE', 'MEMBER', 'ALARM'] : ['MEMBER', 'ALARM'], ...rows]))
}

export const alarmList = (ctx: RunContext) => alarms(ctx, false)
export const alarmDisarm = (ctx: RunContext) => alarms(ctx, true)
