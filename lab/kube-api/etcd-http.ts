// The API server talks to its etcd many times a second. fetch() (undici, web streams, a new AbortSignal each call)
// cost more CPU than the rest of an idle API server, so this client speaks the same JSON gateway over node:http
// with kept-alive connections. Same answers and the same EtcdError messages as EtcdClient.call.
import { Agent, request, type IncomingMessage } from 'node:http'
import { EtcdClient, EtcdError } from '../etcd-client.ts'

const agent = new Agent({ keepAlive: true, maxSockets: 16 })

function post(
  url: URL,
  body: string,
  timeoutMs: number,
): Promise<{ status: number; statusText: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            text: Buffer.concat(chunks).toString(),
          }),
        )
        res.on('error', reject)
      },
    )
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TimeoutError' })))
    req.on('error', (e: NodeJS.ErrnoException) => {
      // a kept-alive socket the server closed meanwhile: the request never reached etcd, send it once more
      if (req.reusedSocket && e.code === 'ECONNRESET') return post(url, body, timeoutMs).then(resolve, reject)
      reject(e)
    })
    req.end(body)
  })
}

export class HttpEtcdClient extends EtcdClient {
  override async call<T>(path: string, body: unknown = {}): Promise<T> {
    let res: { status: number; statusText: string; text: string }
    try {
      res = await post(new URL(`${this.endpoint}${path}`), JSON.stringify(body), this.timeoutMs)
    } catch (e) {
      throw new EtcdError(
        `etcd ${this.endpoint} unreachable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).name}`,
        this.endpoint,
      )
    }
    const json = res.text ? JSON.parse(res.text) : {}
    if (res.status < 200 || res.status >= 300 || json.error) {
      throw new EtcdError(
        `etcd ${this.endpoint}${path}: ${json.error ?? json.message ?? res.statusText}`,
        this.endpoint,
        json.code,
      )
    }
    return json as T
  }
}
