// The one redaction path: every line an entry point prints (runbooks, checks, the linter, the lab CLI; lib/log.ts's
// sink and the stdout writers call redactString) and everything the journal stores goes through here. It replaces
// secret VALUES (key material, tokens, credentials in URLs, values of secret-named keys) and never the words of a
// message: in `inventory.yaml:3:5: defaults.rescue.password: unknown field "password"` the field path is a name, not
// a key with a value.

// Words that, in a key name, mark its value as a credential or key material: `token`, `bootstrapToken`,
// `client-key`, `ca_crt`, `secretsBundle`... A harmless `keyFile` is redacted too: better a missing path than a key.
const SECRET_WORDS = new Set([
  'token',
  'tokens',
  'key',
  'keys',
  'secret',
  'secrets',
  'crt',
  'cert',
  'certs',
  'pem',
  'password',
  'passwd',
  'passphrase',
  'private',
  'credential',
  'credentials',
  'kubeconfig',
  'talosconfig',
  'bearer',
  'auth',
  'authorization',
])
export const REDACTED = '<redacted>'

export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
  return words.some((w) => SECRET_WORDS.has(w))
}

// Secret material that can hide inside a free-text error message.
const PEM = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|$)/g
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi
const BOOTSTRAP_TOKEN = /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/g
const KV_SECRET =
  /\b([\w-]*(?:token|secret|password|passwd|passphrase)[\w-]*)(\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;)\]}]+)/gi
// https://user:password@host → https://<redacted>@host (a URL's userinfo is a credential, whatever its words)
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi
// `FILE:LINE:COL: [error[rule]: ]FIELD: message`: what precedes the message names a place and a field, not a value
const DIAGNOSTIC_HEAD = /^(.*?:\d+:\d+: (?:(?:error|warning|info)\[[\w-]+\]: )?[^\s:]+: )(.*)$/

const redactKeyValues = (s: string) => s.replace(KV_SECRET, (_, k: string, sep: string) => `${k}${sep}${REDACTED}`)

/** Scrub credentials out of free text (error messages, step data strings, printed lines). */
export function redactString(s: string): string {
  const scrubbed = s
    .replace(PEM, REDACTED)
    .replace(BEARER, (_, kind: string) => `${kind} ${REDACTED}`)
    .replace(BOOTSTRAP_TOKEN, REDACTED)
    .replace(URL_USERINFO, (_, scheme: string) => `${scheme}${REDACTED}@`)
  return scrubbed
    .split('\n')
    .map((line) => {
      const m = DIAGNOSTIC_HEAD.exec(line)
      return m ? m[1]! + redactKeyValues(m[2]!) : redactKeyValues(line)
    })
    .join('\n')
}

/** A deep copy of `value` with secret-named keys replaced and secret-looking strings scrubbed. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 20) return '<too deep>'
  if (typeof value === 'string') return redactString(value)
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' ? value.toString() : typeof value === 'function' ? undefined : value
  }
  if (value instanceof Date) return value.toISOString()
  if (Buffer.isBuffer(value)) return REDACTED // raw bytes in a journal are almost always key material
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1))
  if (value instanceof Map) return redactSecrets(Object.fromEntries(value), depth + 1)
  if (value instanceof Set) return redactSecrets([...value], depth + 1)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      isSecretKey(k) && v !== null && v !== undefined && typeof v !== 'boolean' && typeof v !== 'number'
        ? REDACTED
        : redactSecrets(v, depth + 1)
  }
  return out
}
