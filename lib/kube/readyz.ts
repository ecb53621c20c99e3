// GET /readyz on one Kubernetes API endpoint, in-process, with the kubeconfig's own credentials. A kubectl call costs
// ~100 ms of process start on its own; this costs one TLS handshake (a millisecond or two), so a drill can probe the
// cluster VIP every ~20 ms and see a move that lasts a couple of hundred ms (Talos moves its VIP that fast on a
// graceful shutdown: internal/app/machined/pkg/controllers/network/operator/vip.go resigns the election at once).
import { request } from 'node:https'
import { parse as parseYaml } from 'yaml'

/** What a TLS client needs from a kubeconfig's current context (secrets: never print one). */
export interface ApiCredentials {
  ca?: string
  cert?: string
  key?: string
  token?: string
}

const decoded = (b64: unknown) => (typeof b64 === 'string' ? Buffer.from(b64, 'base64').toString('utf8') : undefined)
const named = (list: unknown, name: unknown): Record<string, unknown> | undefined =>
  Array.isArray(list) ? (list.find((x) => x?.name === name) as Record<string, unknown> | undefined) : undefined

/**
 * The current context's CA, client certificate/key and token, from the `*-data` fields Talos's
 * `talosctl kubeconfig` writes. Throws naming what is missing; file-path credentials are not supported.
 */
export function credentialsFromKubeconfig(text: string, source = 'kubeconfig'): ApiCredentials {
  const doc = parseYaml(text) as Record<string, unknown> | null
  const ctxName = doc?.['current-context']
  const context = named(doc?.contexts, ctxName)?.context as Record<string, unknown> | undefined
  if (!context) throw new Error(`${source}: current-context ${JSON.stringify(ctxName)} is not among its contexts`)
  const cluster = (named(doc?.clusters, context.cluster)?.cluster ?? {}) as Record<string, unknown>
  const user = (named(doc?.users, context.user)?.user ?? {}) as Record<string, unknown>
  const creds: ApiCredentials = {
    ca: decoded(cluster['certificate-authority-data']),
    cert: decoded(user['client-certificate-data']),
    key: decoded(user['client-key-data']),
    token: typeof user.token === 'string' ? user.token : undefined,
  }
  if (!creds.token && !(creds.cert && creds.key))
    throw new Error(
      `${source}: user ${JSON.stringify(context.user)} has neither a token nor client-certificate-data/key`,
    )
  return creds
}

/** Resolves when `https://<endpoint>/readyz` answers 200 within timeoutMs; rejects with the reason otherwise. */
export function readyz(endpoint: string, creds: ApiCredentials, timeoutMs: number): Promise<void> {
  const url = new URL(`https://${endpoint}/readyz`)
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca: creds.ca,
        cert: creds.cert,
        key: creds.key,
        headers: creds.token ? { authorization: `Bearer ${creds.token}` } : {},
        agent: false, // a fresh connection each time: a kept-alive one would still reach the old VIP holder
        timeout: timeoutMs,
      },
      (res) => {
        res.resume()
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`readyz answered HTTP ${res.statusCode}`)),
        )
      },
    )
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}
