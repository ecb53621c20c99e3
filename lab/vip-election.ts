// The shared VIP's election, as Talos v1.10.3 runs it (internal/app/machined/pkg/controllers/network/operator/vip.go):
// each control plane whose etcd is healthy opens an etcd session (a lease kept alive) on its LOCAL etcd member and
// campaigns with go.etcd.io/etcd/client/v3/concurrency (v3.5.21, client/v3/concurrency/{session,election}.go):
//   - key `talos:v1:vip:election:<ip>/<lease id in hex>` (vip.go etcdElectionKey: constants.EtcdRootTalosKey
//     "talos:v1" + ":vip:election:" + IP; NewElection appends "/", Campaign appends the lease as %x), value = hostname,
//     put only if absent and attached to the session's lease;
//   - the leader is the key created first (Leader: WithFirstCreate); a candidate wins once every key with a smaller
//     create revision is gone (Campaign → waitDeletes);
//   - graceful stop: Resign deletes the key (vip.go's deferred election.Resign) and the session's Close revokes the
//     lease, so the next candidate wins at once;
//   - crash, power loss, local etcd gone: nothing deletes the key; it goes when its lease expires, the session TTL
//     after the last keep-alive: concurrency.defaultSessionTTL = 60 s (vip.go calls NewSession without WithTTL);
//     the Go client renews every TTL/3 (client/v3/lease.go: nextKeepAlive = now + TTL/3), so a crashed holder's
//     key lingers 40–60 s (longer if etcd's own leader changes meanwhile: a new etcd leader renews every lease);
//   - on a new campaign, a node that finds itself still leader from a previous session resigns that key first
//     ("resigning from previous election" in vip.go).
// Real Go waits on watches; the lab polls every CAMPAIGN_POLL_MS, so a takeover costs up to one poll more.
import type { EtcdClient, KV } from './etcd-client.ts'

/** concurrency.defaultSessionTTL (client/v3/concurrency/session.go): Talos does not pass WithTTL. Not shortened. */
export const VIP_SESSION_TTL_S = 60
/** The Go lease client renews a lease a third of its TTL after the last renewal (client/v3/lease.go). */
export const KEEPALIVE_EVERY_MS = (VIP_SESSION_TTL_S * 1000) / 3
/** How often the lab re-checks the queue where Go would be woken by a watch. */
export const CAMPAIGN_POLL_MS = 250

/** The election's key prefix for a shared IP (vip.go etcdElectionKey + the "/" NewElection adds). */
export const electionPrefix = (ip: string) => `talos:v1:vip:election:${ip}/`

/** A candidate's key: the prefix and its session's lease id in lower-case hex (Campaign: "%s%x"). */
export const candidateKey = (prefix: string, leaseIdDecimal: string) => prefix + BigInt(leaseIdDecimal).toString(16)

interface Session {
  lease: string
  renewedAt: number
  key?: string
  createRevision?: number
  /** The key last seen just ahead of ours, so the log says each change of place once. */
  waitingBehind?: string
  /** Once nothing was ahead of our key. */
  leading?: boolean
}

export type Standing = 'leader' | 'waiting'

export class VipElection {
  private session: Session | undefined
  readonly prefix: string

  constructor(
    private readonly etcd: EtcdClient,
    ip: string,
    private readonly hostname: string,
    private readonly log: (msg: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.prefix = electionPrefix(ip)
  }

  /** One campaign round: open a session and campaign if needed, keep the lease alive, say where we stand. */
  async round(): Promise<Standing> {
    const s = this.session ?? (await this.open())
    if (this.now() - s.renewedAt >= KEEPALIVE_EVERY_MS) {
      if ((await this.etcd.keepAliveLease(s.lease)) <= 0) return this.lost(s, 'its etcd lease expired')
      s.renewedAt = this.now()
    }
    if (s.createRevision === undefined) {
      const { kv } = await this.etcd.createIfAbsent(candidateKey(this.prefix, s.lease), this.hostname, s.lease)
      s.key = kv.key
      s.createRevision = kv.createRevision
      this.log(`VIP election: campaigning as ${kv.key} (created at revision ${kv.createRevision})`)
    }
    // A leader stays one while its key stands: create revisions only grow, so no key can get ahead of it (Go's
    // leader watches its own key, election.go Observe); one read a round
    if (s.leading) return this.stillMine(s)
    // waitDeletes: any key created before ours still stands between us and the VIP
    const ahead = await this.etcd.firstCreated(this.prefix, s.createRevision - 1, 'DESCEND')
    if (ahead?.key !== s.waitingBehind) {
      if (ahead)
        this.log(`VIP election: waiting behind ${ahead.key} (${ahead.value}, revision ${ahead.createRevision})`)
      s.waitingBehind = ahead?.key
    }
    if (ahead) return 'waiting'
    return this.stillMine(s)
  }

  private async stillMine(s: Session): Promise<Standing> {
    const mine = await this.etcd.get(s.key!)
    if (!mine || mine.createRevision !== s.createRevision) return this.lost(s, 'its election key is gone')
    s.leading = true
    return 'leader'
  }

  /** Who leads now (the first-created key's value), for the log; undefined when nobody campaigns. */
  async leader(): Promise<KV | undefined> {
    return this.etcd.firstCreated(this.prefix)
  }

  /** Graceful: delete our key and revoke the lease, as vip.go's Resign and the session's Close do. */
  async resign(): Promise<void> {
    const s = this.session
    this.session = undefined
    if (!s) return
    try {
      if (s.key && s.createRevision !== undefined) await this.etcd.deleteIfCreatedAt(s.key, s.createRevision)
      await this.etcd.revokeLease(s.lease)
    } catch (e) {
      // vip.go ignores Resign's error: with the local etcd gone the key stays until its lease expires
      this.log(`VIP election: could not resign (${(e as Error).message}); the key expires with its lease`)
    }
  }

  /** The local etcd is gone: stop renewing and forget the session; its lease expires by itself. */
  abandon(): void {
    this.session = undefined
  }

  private async open(): Promise<Session> {
    const lease = await this.etcd.grantLease(VIP_SESSION_TTL_S)
    const s: Session = { lease, renewedAt: this.now() }
    const leader = await this.leader()
    for (const kv of await this.etcd.list(this.prefix)) {
      if (kv.value !== this.hostname) continue
      // vip.go resigns a previous leadership of this host. Talos never has a stale *waiting* key of its own: the
      // session lives in machined, which outlives a kube-apiserver crash; the lab's lives in the API server
      // process, so a restarted one also withdraws its node's old waiting keys (else they block the queue ≤ 60 s).
      this.log(
        kv.key === leader?.key
          ? `VIP election: resigning from previous election (${kv.key})`
          : `VIP election: withdrawing this node's previous candidate key (${kv.key})`,
      )
      await this.etcd.deleteIfCreatedAt(kv.key, kv.createRevision)
    }
    this.session = s
    return s
  }

  private lost(s: Session, why: string): Standing {
    if (this.session === s) this.session = undefined
    this.log(`VIP election: session ended: ${why}`)
    return 'waiting'
  }
}
