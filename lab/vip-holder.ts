// One control plane's part in the shared VIP (Talos v1.10.3 internal/app/machined/pkg/controllers/network/operator/
// vip.go): it campaigns in the etcd election (./vip-election.ts) while its etcd is healthy, and while it
// leads, the VIP address is on its NIC, so connections to VIP:port reach this machine's API server. The lab has no
// NIC to move: the holder listens on VIP:port itself (`listen` makes the listener: a TCP forwarder to this node's
// kube-apiserver). A node whose etcd has been unhealthy for 2 s gives the VIP up without
// resigning (its observe loop ends with etcd; the lease is not revoked: the others wait for it to expire).
import type { Server } from 'node:net'
import type { VipElection } from './vip-election.ts'
import { CAMPAIGN_POLL_MS } from './vip-election.ts'
import { recordVipEvent } from './vip-holders.ts'

export interface VipHolderOptions {
  node: string
  address: string
  /** The cluster endpoint (https://VIP:port); a node whose own address it names has no VIP to elect. */
  endpoint: string
  election: VipElection
  listen: () => Server
  log: (m: string) => void
}

export class VipHolder {
  holding = false
  private server?: Server
  private candidate?: Server
  private listening = false
  private etcdBadSince?: number
  private stopping = false
  private campaigning = false
  private lastError = ''
  private timer?: NodeJS.Timeout
  private readonly host: string
  private readonly port: number

  constructor(private o: VipHolderOptions) {
    const vip = new URL(o.endpoint)
    this.host = vip.hostname
    this.port = Number(vip.port || 443)
  }

  /** Whether this node is the one the endpoint names (no VIP), or holds the VIP. */
  get servesEndpoint(): boolean {
    return this.host === this.o.address || this.holding
  }

  start(): void {
    this.timer = setInterval(() => void this.round(), CAMPAIGN_POLL_MS)
    void this.round()
  }

  /** What the node's etcd probe saw: an error keeps it out of the election, and after 2 s gives the VIP up. */
  etcdProbe(error: string | undefined): void {
    if (!error) return void (this.etcdBadSince = undefined)
    this.etcdBadSince ??= Date.now()
    if (Date.now() - this.etcdBadSince > 2000) {
      this.release(`local etcd unhealthy: ${error}`)
      this.o.election.abandon()
    }
  }

  /** A graceful stop: the VIP released and the election resigned at once (vip.go's deferred Resign). */
  async stop(): Promise<void> {
    this.stopping = true
    clearInterval(this.timer)
    this.release('shutting down')
    await this.o.election.resign()
  }

  private async round(): Promise<void> {
    if (this.stopping || this.campaigning || this.host === this.o.address || this.etcdBadSince !== undefined) return
    this.campaigning = true
    try {
      const standing = await this.o.election.round()
      this.lastError = ''
      if (this.stopping) return
      if (standing === 'leader') this.bind()
      else this.release('another node leads the election')
    } catch (e) {
      const msg = (e as Error).message
      if (msg !== this.lastError) this.o.log(`VIP election: ${msg}`)
      this.lastError = msg
    } finally {
      this.campaigning = false
    }
  }

  // the listener is made once and only asked to listen again while the old holder's socket is still closing
  private bind(): void {
    if (this.stopping || this.server || this.listening) return
    const s = (this.candidate ??= this.o.listen())
    this.listening = true
    const onError = () => {
      this.listening = false
      s.off('listening', onListening)
    }
    const onListening = () => {
      s.off('error', onError)
      s.once('error', (e) => this.release(`listener error: ${e.message}`))
      this.listening = false
      this.server = s
      this.holding = true
      this.o.log(`holding the cluster VIP ${this.host}:${this.port}`)
      recordVipEvent({ node: this.o.node, pid: process.pid, event: 'acquired', why: 'won the etcd election' })
    }
    s.once('error', onError)
    s.once('listening', onListening)
    s.listen(this.port, this.host)
  }

  private release(why: string): void {
    if (!this.server) return
    this.o.log(`releasing the cluster VIP ${this.host}:${this.port}: ${why}`)
    const s = this.server as Server & { closeAllConnections?: () => void }
    s.close()
    s.closeAllConnections?.()
    this.server = undefined
    this.candidate = undefined // a closing server cannot listen again until every connection is gone: use a new one
    this.holding = false
    recordVipEvent({ node: this.o.node, pid: process.pid, event: 'released', why })
  }
}
