// etcd health as `talosctl etcd status/members/alarm list` show it, judged against the inventory's control planes.
import { controlPlaneNodes, names, type CheckInventory } from '../engine/inventory.ts'
import { bytes, count, fail, pass, warn, worded } from '../engine/results.ts'
import { defineCheck, type EtcdStatusRow, type Result } from '../engine/types.ts'
import { DEFAULT_BACKUP_MAX_AGE, formatAge, newestBackup } from '../../lib/talos/etcd-backups.ts'
import { parseGoDuration } from '../../lib/talos/parse.ts'

const RAFT_LAG_WARN = 100
const RAFT_LAG_FAIL = 1000
/** etcd's default quota-backend-bytes, which Talos does not change. */
const DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3
const DB_WARN_RATIO = 0.8

const cps = (inv: CheckInventory) => names(controlPlaneNodes(inv))
const GiB = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB`
const MiB = (b: number) => `${(b / 1024 ** 2).toFixed(1)} MiB`

/** Rows by node, and a fail Result for each control plane that did not answer or reported member errors. */
function answered(
  check: string,
  inv: CheckInventory,
  data: { rows: EtcdStatusRow[]; nodeErrors: Record<string, string> },
) {
  const byNode = new Map(data.rows.map((r) => [r.node, r]))
  const failures: Result[] = []
  const ok: EtcdStatusRow[] = []
  for (const node of cps(inv)) {
    const row = byNode.get(node)
    if (!row) {
      const err = data.nodeErrors[node] ?? 'no etcd status row'
      failures.push(fail(check, node, err, 'etcd status from the member', `etcd on ${node} did not answer: ${err}`))
    } else ok.push(row)
  }
  return { ok, failures }
}

/** `cp1 at 127.0.10.11`: a member by its name and where its peer URLs point. */
const memberWords = (m: { id: string; hostname: string; peerUrls: string[] }) =>
  `${m.hostname || m.id} at ${m.peerUrls.map(hostOf).join(',') || '(no peer URL)'}`

const NO_ERRORS = worded([], 'no errors')

export const etcdMembers = defineCheck({
  id: 'etcd.members',
  group: 'etcd',
  title: 'etcd member list equals the inventory control planes',
  targets: cps,
  needs: ['etcdMembers'],
  evaluate: ({ etcdMembers: data }, inv) => {
    const out: Result[] = []
    const claimed = new Set<string>()
    for (const cp of controlPlaneNodes(inv)) {
      const m = data.members.find((x) => x.hostname === cp.name || x.peerUrls.some((u) => hostOf(u) === cp.address))
      const wanted = worded({ hostname: cp.name, peer: cp.address }, `${cp.name} at ${cp.address}`)
      if (!m) {
        out.push(
          fail(
            'etcd.members',
            cp.name,
            null,
            wanted,
            `${cp.name} (${cp.address}) is not an etcd member (asked ${data.from})`,
          ),
        )
        continue
      }
      claimed.add(m.id)
      const seen = worded(
        { id: m.id, hostname: m.hostname, peerUrls: m.peerUrls, learner: m.learner },
        `${memberWords(m)}${m.learner ? ', learner' : ''}`,
      )
      if (!m.peerUrls.some((u) => hostOf(u) === cp.address)) {
        out.push(
          fail(
            'etcd.members',
            cp.name,
            seen,
            wanted,
            `member ${m.id} (${m.hostname}) peer URLs ${m.peerUrls.join(',')} do not point at ${cp.address}`,
          ),
        )
      } else if (m.learner) {
        out.push(warn('etcd.members', cp.name, seen, wanted, `member ${m.id} (${cp.name}) is still a learner`))
      } else {
        out.push(pass('etcd.members', cp.name, seen, wanted, `member ${m.id} is ${cp.name} at ${cp.address}`))
      }
    }
    for (const m of data.members.filter((x) => !claimed.has(x.id))) {
      out.push(
        fail(
          'etcd.members',
          'cluster',
          worded({ id: m.id, hostname: m.hostname, peerUrls: m.peerUrls }, memberWords(m)),
          worded(cps(inv), count(cps(inv).length, 'member')),
          `etcd member ${m.id} (${m.hostname || 'unnamed'}, ${m.peerUrls.join(',')}) is not an inventory control plane`,
        ),
      )
    }
    return out
  },
})

export const etcdHealthy = defineCheck({
  id: 'etcd.member-health',
  group: 'etcd',
  title: 'every control plane answers etcd status without errors',
  targets: cps,
  needs: ['etcdStatus'],
  evaluate: ({ etcdStatus }, inv) => {
    const { ok, failures } = answered('etcd.member-health', inv, etcdStatus)
    return [
      ...failures,
      ...ok.map((r) =>
        r.errors.length > 0
          ? fail(
              'etcd.member-health',
              r.node,
              worded(r.errors, count(r.errors.length, 'error')),
              NO_ERRORS,
              `member ${r.memberId} on ${r.node} reports errors: ${r.errors.join('; ')}`,
            )
          : pass(
              'etcd.member-health',
              r.node,
              worded({ memberId: r.memberId, errors: [] }, 'no errors'),
              NO_ERRORS,
              `member ${r.memberId} on ${r.node} is healthy`,
            ),
      ),
    ]
  },
})

export const etcdLeader = defineCheck({
  id: 'etcd.leader',
  group: 'etcd',
  title: 'exactly one leader, and every member agrees on it',
  targets: () => ['cluster'],
  needs: ['etcdStatus'],
  evaluate: ({ etcdStatus }) => {
    const rows = etcdStatus.rows
    if (rows.length === 0)
      return [
        fail(
          'etcd.leader',
          'cluster',
          worded(etcdStatus.nodeErrors, 'no member answered'),
          'one leader',
          'no etcd member answered',
        ),
      ]
    const leaders = Object.fromEntries(rows.map((r) => [r.node, r.leader]))
    const nodeOf = (id: string) => rows.find((r) => r.memberId === id)?.node ?? id
    const distinct = [...new Set(rows.map((r) => r.leader))]
    const selfLeaders = rows.filter((r) => r.memberId === r.leader).map((r) => `${r.node} (${r.memberId})`)
    const views = (text: string) => worded(leaders, text)
    if (distinct.length !== 1) {
      return [
        fail(
          'etcd.leader',
          'cluster',
          views(`${distinct.length} leaders named: ${distinct.map(nodeOf).join(', ')}`),
          'all members name the same leader',
          `members disagree on the leader: ${fmtViews(leaders)}`,
        ),
      ]
    }
    const leader = distinct[0]!
    if (leader === '' || /^0+$/.test(leader)) {
      return [fail('etcd.leader', 'cluster', views('no leader'), 'one leader', 'the members report no leader')]
    }
    if (selfLeaders.length > 1) {
      return [
        fail(
          'etcd.leader',
          'cluster',
          views(`${selfLeaders.length} leaders`),
          'one leader',
          `several members claim leadership: ${selfLeaders.join(', ')}`,
        ),
      ]
    }
    const leaderNode = rows.find((r) => r.memberId === leader)?.node
    const missing = Object.keys(etcdStatus.nodeErrors)
    const msg = `leader ${leader}${leaderNode ? ` (${leaderNode})` : ''}, agreed by ${rows.length} member(s)`
    // A leader no answering member is: it may be the one that did not answer; agreement among the rest still counts.
    if (!leaderNode && missing.length === 0) {
      return [
        fail(
          'etcd.leader',
          'cluster',
          views(`leader ${leader}, not a member`),
          'a leader among the members',
          `all members name ${leader} as leader but no member has that id`,
        ),
      ]
    }
    return [
      pass(
        'etcd.leader',
        'cluster',
        worded({ leader, leaderNode, views: leaders }, `leader ${leaderNode ?? leader}`),
        worded('one leader all members agree on', 'one agreed leader'),
        msg,
      ),
    ]
  },
})

function fmtViews(v: Record<string, string>): string {
  return Object.entries(v)
    .map(([n, l]) => `${n}→${l}`)
    .join(', ')
}

export const etcdRaftLag = defineCheck({
  id: 'etcd.raft-lag',
  group: 'etcd',
  title: `raft index lag between members (warn > ${RAFT_LAG_WARN}, fail > ${RAFT_LAG_FAIL})`,
  targets: cps,
  needs: ['etcdStatus'],
  evaluate: ({ etcdStatus }, inv) => {
    const { ok, failures } = answered('etcd.raft-lag', inv, etcdStatus)
    if (ok.length === 0) return failures
    const head = Math.max(...ok.map((r) => r.raftIndex))
    return [
      ...failures,
      ...ok.map((r) => {
        const lag = head - r.raftIndex
        const seen = worded({ raftIndex: r.raftIndex, head, lag }, `lag ${lag}`)
        const wanted = `lag ≤ ${RAFT_LAG_WARN}`
        if (lag > RAFT_LAG_FAIL)
          return fail(
            'etcd.raft-lag',
            r.node,
            seen,
            wanted,
            `${r.node} is ${lag} raft entries behind (index ${r.raftIndex} vs ${head})`,
          )
        if (lag > RAFT_LAG_WARN)
          return warn(
            'etcd.raft-lag',
            r.node,
            seen,
            wanted,
            `${r.node} is ${lag} raft entries behind (index ${r.raftIndex} vs ${head})`,
          )
        return pass('etcd.raft-lag', r.node, seen, wanted, `${r.node} raft index ${r.raftIndex}, lag ${lag}`)
      }),
    ]
  },
})

export const etcdAlarms = defineCheck({
  id: 'etcd.alarms',
  group: 'etcd',
  title: 'no etcd alarms (NOSPACE, CORRUPT)',
  targets: () => ['cluster'],
  needs: ['etcdAlarms'],
  evaluate: ({ etcdAlarms: data }) => {
    const alarms = data.alarms.filter((a) => a.alarm !== '' && a.alarm !== 'NONE')
    const none = worded([], 'no alarms')
    if (alarms.length === 0) return [pass('etcd.alarms', 'cluster', none, none, 'no alarms')]
    // One alarm is raised cluster-wide and every queried node reports it: name each member once.
    const byMember = new Map<string, { alarm: string; nodes: string[] }>()
    for (const a of alarms) {
      const k = `${a.memberId}/${a.alarm}`
      const e = byMember.get(k) ?? { alarm: a.alarm, nodes: [] }
      e.nodes.push(a.node)
      byMember.set(k, e)
    }
    return [...byMember.entries()].map(([k, e]) => {
      const member = k.split('/')[0]
      return fail(
        'etcd.alarms',
        'cluster',
        worded({ member, alarm: e.alarm, reportedBy: e.nodes }, `${e.alarm} on ${member}`),
        none,
        `alarm ${e.alarm} on member ${member}`,
      )
    })
  },
})

export const etcdDbSize = defineCheck({
  id: 'etcd.db-size',
  group: 'etcd',
  title: `etcd db size under quota (warn > ${DB_WARN_RATIO * 100}%)`,
  targets: cps,
  needs: ['etcdStatus'],
  evaluate: ({ etcdStatus }, inv) => {
    const quota = inv.cluster.etcdQuotaBytes ?? DEFAULT_QUOTA_BYTES
    const { ok, failures } = answered('etcd.db-size', inv, etcdStatus)
    return [
      ...failures,
      ...ok.map((r) => {
        const ratio = r.dbSize / quota
        const seen = worded(
          { dbSize: MiB(r.dbSize), inUse: MiB(r.dbSizeInUse), ofQuota: `${(ratio * 100).toFixed(1)}%` },
          `${bytes(r.dbSize)} of ${bytes(quota)}`,
        )
        const wanted = `< ${DB_WARN_RATIO * 100}% of ${bytes(quota)}`
        if (ratio >= 1)
          return fail(
            'etcd.db-size',
            r.node,
            seen,
            wanted,
            `${r.node} db ${MiB(r.dbSize)} is at or over the ${GiB(quota)} quota`,
          )
        if (ratio > DB_WARN_RATIO)
          return warn(
            'etcd.db-size',
            r.node,
            seen,
            wanted,
            `${r.node} db ${MiB(r.dbSize)} is ${(ratio * 100).toFixed(0)}% of the quota: defragment`,
          )
        return pass(
          'etcd.db-size',
          r.node,
          seen,
          wanted,
          `${r.node} db ${MiB(r.dbSize)} (${(ratio * 100).toFixed(1)}% of quota)`,
        )
      }),
    ]
  },
})

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '')
  } catch {
    return url
  }
}

export const etcdBackupAge = defineCheck({
  id: 'etcd.backup-age',
  group: 'etcd',
  title: 'the newest etcd snapshot (10-etcd-backup) is younger than cluster.etcdBackupMaxAge (default 24h)',
  targets: () => ['cluster'],
  needs: ['etcdBackups'],
  evaluate: ({ etcdBackups: b }, inv) => {
    const maxAge = inv.cluster.etcdBackupMaxAge ?? DEFAULT_BACKUP_MAX_AGE
    const maxMs = parseGoDuration(maxAge)
    const newest = newestBackup(b.entries)
    const wanted = worded({ maxAge }, `younger than ${maxAge}`)
    if (!newest)
      return [
        warn(
          'etcd.backup-age',
          'cluster',
          worded(null, 'no snapshot'),
          wanted,
          `no etcd snapshot in ${b.dir}: take one with npx zx runbooks/10-etcd-backup.ts`,
        ),
      ]
    const ageMs = b.readAt - Date.parse(newest.takenAt)
    const seen = worded(
      { file: newest.file, takenAt: newest.takenAt, revision: newest.revision, age: formatAge(ageMs) },
      `${formatAge(ageMs)} old`,
    )
    if (ageMs > maxMs)
      return [
        warn(
          'etcd.backup-age',
          'cluster',
          seen,
          wanted,
          `the newest etcd snapshot ${newest.file} is ${formatAge(ageMs)} old (more than ${maxAge}): take one with npx zx runbooks/10-etcd-backup.ts`,
        ),
      ]
    return [
      pass(
        'etcd.backup-age',
        'cluster',
        seen,
        wanted,
        `newest etcd snapshot ${newest.file} is ${formatAge(ageMs)} old (revision ${newest.revision})`,
      ),
    ]
  },
})

export const etcdChecks = [etcdMembers, etcdHealthy, etcdLeader, etcdRaftLag, etcdAlarms, etcdDbSize, etcdBackupAge]
