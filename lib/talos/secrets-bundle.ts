// The secrets bundle `talosctl gen secrets` writes (pkg/machinery/config/generate/secrets: yaml.v3 lower-cases
// the Go field names; certs and keys are base64-encoded PEM). It is the cluster's root of trust: rendered
// configs embed it, so it is parsed strictly and its contents never appear in messages.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseDocument } from 'yaml'

interface CertAndKey {
  /** base64 PEM */
  crt: string
  /** base64 PEM */
  key: string
}

export interface SecretsBundle {
  cluster: { id: string; secret: string }
  secrets: { bootstraptoken: string; secretboxencryptionsecret?: string; aescbcencryptionsecret?: string }
  trustdinfo: { token: string }
  certs: {
    etcd: CertAndKey
    k8s: CertAndKey
    k8saggregator: CertAndKey
    k8sserviceaccount: { key: string }
    os: CertAndKey
  }
}

export class SecretsBundleError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid secrets bundle:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'SecretsBundleError'
  }
}

/** Kubernetes bootstrap-token format, which Talos also uses for trustd's token. */
const TOKEN = /^[a-z0-9]{6}\.[a-z0-9]{16}$/
const B64 = /^[A-Za-z0-9+/_-]+={0,2}$/

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- YAML documents are walked by path, their shape checked by the schema
type Obj = Record<string, any>

function b64pem(v: unknown, what: string, problems: string[], kind: 'CERTIFICATE' | 'PRIVATE KEY'): string | undefined {
  if (typeof v !== 'string' || !v) {
    problems.push(`${what} is missing`)
    return undefined
  }
  if (!B64.test(v)) {
    problems.push(`${what} is not base64`)
    return undefined
  }
  const pem = Buffer.from(v, 'base64').toString('utf8')
  const re = kind === 'CERTIFICATE' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/
  if (!re.test(pem)) {
    problems.push(`${what} is not a base64-encoded PEM ${kind.toLowerCase()}`)
    return undefined
  }
  return pem
}

function checkPair(b: Obj | undefined, name: string, problems: string[], requireCa: boolean) {
  const crt = b64pem(b?.crt, `certs.${name}.crt`, problems, 'CERTIFICATE')
  const key = b64pem(b?.key, `certs.${name}.key`, problems, 'PRIVATE KEY')
  let cert: X509Certificate | undefined
  if (crt) {
    try {
      cert = new X509Certificate(crt)
    } catch (e) {
      problems.push(`certs.${name}.crt does not parse as X.509: ${(e as Error).message}`)
    }
  }
  if (cert && requireCa && !cert.ca) problems.push(`certs.${name}.crt is not a CA certificate`)
  if (cert && new Date(cert.validTo).getTime() < Date.now())
    problems.push(`certs.${name}.crt expired on ${cert.validTo}`)
  if (key) {
    try {
      const k = createPrivateKey(normalizeKeyPem(key))
      if (cert && !cert.checkPrivateKey(k)) problems.push(`certs.${name}.key does not belong to certs.${name}.crt`)
    } catch (e) {
      problems.push(`certs.${name}.key does not parse as a private key: ${(e as Error).message}`)
    }
  }
}

/**
 * Talos (siderolabs/crypto) writes Ed25519 keys as "ED25519 PRIVATE KEY" PEM blocks holding PKCS#8 DER,
 * a type name OpenSSL does not know; the body is a plain PKCS#8 key.
 */
const normalizeKeyPem = (pem: string) =>
  pem.replace(/-----(BEGIN|END) ED25519 PRIVATE KEY-----/g, '-----$1 PRIVATE KEY-----')

/** Parse and check a bundle's text. Throws SecretsBundleError listing every problem (never the secret values). */
export function parseSecretsBundle(text: string, file = 'secrets.yaml'): SecretsBundle {
  const doc = parseDocument(text)
  if (doc.errors.length)
    throw new SecretsBundleError(file, [`YAML syntax error at line ${doc.errors[0].linePos?.[0].line ?? '?'}`])
  const b = doc.toJS() as Obj | null
  if (!b || typeof b !== 'object') throw new SecretsBundleError(file, ['not a YAML mapping'])
  const problems: string[] = []
  const need = (v: unknown, what: string, re?: RegExp) => {
    if (typeof v !== 'string' || !v) problems.push(`${what} is missing`)
    else if (re && !re.test(v)) problems.push(`${what} has the wrong format`)
  }
  const known = new Set(['cluster', 'secrets', 'trustdinfo', 'certs'])
  for (const k of Object.keys(b)) if (!known.has(k)) problems.push(`unknown top-level key "${k}"`)
  need(b.cluster?.id, 'cluster.id', B64)
  need(b.cluster?.secret, 'cluster.secret', B64)
  need(b.secrets?.bootstraptoken, 'secrets.bootstraptoken', TOKEN)
  // v1.3+ bundles carry secretbox; older ones aescbc. Talos v1.10 configs use secretbox when present.
  if (!b.secrets?.secretboxencryptionsecret && !b.secrets?.aescbcencryptionsecret)
    problems.push('secrets.secretboxencryptionsecret is missing')
  else if (b.secrets?.secretboxencryptionsecret) {
    need(b.secrets.secretboxencryptionsecret, 'secrets.secretboxencryptionsecret', B64)
    if (
      B64.test(b.secrets.secretboxencryptionsecret) &&
      Buffer.from(b.secrets.secretboxencryptionsecret, 'base64').length !== 32
    )
      problems.push('secrets.secretboxencryptionsecret must decode to 32 bytes')
  }
  need(b.trustdinfo?.token, 'trustdinfo.token', TOKEN)
  checkPair(b.certs?.etcd, 'etcd', problems, true)
  checkPair(b.certs?.k8s, 'k8s', problems, true)
  checkPair(b.certs?.k8saggregator, 'k8saggregator', problems, true)
  checkPair(b.certs?.os, 'os', problems, true)
  const sa = b64pem(b.certs?.k8sserviceaccount?.key, 'certs.k8sserviceaccount.key', problems, 'PRIVATE KEY')
  if (sa) {
    try {
      createPrivateKey(normalizeKeyPem(sa))
    } catch (e) {
      problems.push(`certs.k8sserviceaccount.key does not parse as a private key: ${(e as Error).message}`)
    }
  }
  if (problems.length) throw new SecretsBundleError(file, problems)
  return b as SecretsBundle
}

export function loadSecretsBundle(file: string): SecretsBundle {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new SecretsBundleError(file, [`cannot read: ${(e as Error).message}`])
  }
  return parseSecretsBundle(text, file)
}
