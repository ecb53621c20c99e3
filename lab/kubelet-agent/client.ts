// The kubelet agent's way to the real kube-apiserver: HTTPS with the cluster CA and one credential, either the bootstrap
// token (a bearer token, as Talos's bootstrap kubeconfig carries it: kubelet_service.go kubeletKubeConfigTemplate at
// v1.10.3) or the node's client certificate once it has one. JSON in and out, and a watch that reads the API's
// newline-delimited event stream (k8s.io/apimachinery pkg/watch, `?watch=true`).
import { Agent, request } from 'node:https'

export type Credential = { token: string } | { cert: string; key: string }

type Obj = Record<string, any>

export interface Reply {
  status: number
  body: Obj
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}

export class ApiClient {
  private agent: Agent
  private headers: Record<string, string>
  private readonly servers: URL[]
  private at = 0

  /**
   * One API server, or several as KubePrism balances them (Talos v1.10.3 controllers/k8s/kubeprism.go :195-204: a
   * health-checked load balancer over every control plane): a connection that fails moves the next request on to the
   * next one.
   */
  constructor(server: URL | URL[], ca: string, cred: Credential) {
    this.servers = Array.isArray(server) ? server : [server]
    const tls = 'token' in cred ? {} : { cert: cred.cert, key: cred.key }
    this.agent = new Agent({ keepAlive: true, ca, ...tls })
    this.headers = 'token' in cred ? { authorization: `Bearer ${cred.token}` } : {}
  }

  /** The API server the next request goes to. */
  get server(): URL {
    return this.servers[this.at]!
  }

  /** After a transport error (not an abort) the next request goes to the next server. */
  private failOver(signal?: AbortSignal): void {
    if (!signal?.aborted) this.at = (this.at + 1) % this.servers.length
  }

  /** One request; resolves with the HTTP status and the decoded body (a Status object on errors). */
  call(method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal) {
    return new Promise<Reply>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body)
      const req = request(
        {
          host: this.server.hostname,
          port: this.server.port || 443,
          path,
          method,
          agent: this.agent,
          signal,
          timeout: 30_000,
          headers: {
            ...this.headers,
            accept: 'application/json',
            // always framed: Node sends a DELETE's body unframed unless told its length, and the API server would
            // read it as the next request on the kept-alive connection
            ...(data ? { 'content-type': contentType, 'content-length': String(Buffer.byteLength(data)) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (d: Buffer) => chunks.push(d))
          res.on('error', reject)
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString()
            let parsed: Obj
            try {
              parsed = text ? (JSON.parse(text) as Obj) : {}
            } catch {
              parsed = { message: text }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed })
          })
        },
      )
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)))
      req.on('error', (e) => (this.failOver(signal), reject(e)))
      req.end(data)
    })
  }

  /** A request that must succeed (2xx); otherwise an ApiError with the API's reason and message. */
  async ok(method: string, path: string, body?: unknown, contentType?: string, signal?: AbortSignal): Promise<Obj> {
    const r = await this.call(method, path, body, contentType, signal)
    if (r.status >= 200 && r.status < 300) return r.body
    throw new ApiError(r.status, String(r.body.reason ?? ''), `${method} ${path}: ${r.status} ${r.body.message ?? ''}`)
  }

  /**
   * A watch (path with watch=true): calls onEvent for each {type, object} in order, awaiting each; resolves when the
   * server ends the stream, rejects on a transport error or when signal aborts.
   */
  watch(path: string, onEvent: (e: { type: string; object: Obj }) => Promise<void>, signal: AbortSignal) {
    return new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: this.server.hostname,
          port: this.server.port || 443,
          path,
          method: 'GET',
          agent: this.agent,
          signal,
          headers: { ...this.headers, accept: 'application/json' },
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume()
            return reject(new ApiError(res.statusCode ?? 0, '', `watch ${path}: ${res.statusCode}`))
          }
          let buf = ''
          let chain = Promise.resolve()
          res.on('data', (d: Buffer) => {
            buf += d.toString()
            let nl: number
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim()
              buf = buf.slice(nl + 1)
              if (line) chain = chain.then(() => onEvent(JSON.parse(line) as { type: string; object: Obj }))
            }
          })
          res.on('error', reject)
          res.on('end', () => chain.then(resolve, reject))
        },
      )
      req.on('error', (e) => (this.failOver(signal), reject(e)))
      req.end()
    })
  }

  close(): void {
    this.agent.destroy()
  }
}
