// A kubelet's certificates, as kubelet v1.33.1 gets them (k8s.io/kubernetes@v1.33.1, k8s.io/client-go@v0.33.1):
//
// - client: pkg/kubelet/certificate/bootstrap/bootstrap.go LoadClientCert (:109-176): a kubeconfig whose certificate
//   is still valid is reused; otherwise an ECDSA P-256 key (keyutil.LoadOrGenerateKeyFile, kept in
//   kubelet-client.key.tmp until the CSR succeeds) and, with the bootstrap credential, requestNodeCertificate
//   (:316-361): subject O=system:nodes, CN=system:node:<node>, no SANs, usages digital signature + client auth (key
//   encipherment only for RSA keys), signer kubernetes.io/kube-apiserver-client-kubelet, named
//   node-csr-<digestedName> (:367-397) so a restarted kubelet finds its own request again. The certificate goes to
//   the file store (util/certificate/certificate_store.go Update: kubelet-client-<time>.pem holding certificate and
//   key, kubelet-client-current.pem a symlink to it) and a kubeconfig naming that file
//   (writeKubeconfigFromBootstrapping, :178-210).
// - serving: with serverTLSBootstrap, pkg/kubelet/certificate/kubelet.go NewKubeletServerCertificateManager: the
//   template (newGetTemplateFn, :47-72) has the same subject and SANs from the Node's addresses
//   (addressesToHostnamesAndIPs, :158-196; nothing is asked before there is an IP), usages digital signature + server
//   auth (certificate_manager.go DefaultKubeletServingGetUsages), signer kubernetes.io/kubelet-serving, generateName
//   csr- (csr.go RequestCertificateWithContext :61-76); stored as kubelet-server-*.pem. Without serverTLSBootstrap
//   kubelet writes a self-signed kubelet.crt/kubelet.key in its cert dir instead (cmd/kubelet/app/server.go
//   InitializeTLS :1131-1160) and files no CSR.
// The keys and requests are real (openssl, lab/pki.ts); the waiting is a 1 s poll of the CSR where client-go watches.
import { createHash, createPublicKey, X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { isIP } from 'node:net'
import { genKey, openssl, withTmp } from '../pki.ts'
import type { ApiClient } from './client.ts'

export const CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet'
export const SERVING_SIGNER = 'kubernetes.io/kubelet-serving'
const CLIENT_USAGES = ['digital signature', 'client auth']
const SERVING_USAGES = ['digital signature', 'server auth']
const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests'

const subjectOf = (node: string) => ({ cn: `system:node:${node}`, orgs: ['system:nodes'] })

/** A P-256 key (PEM), as keyutil.MakeEllipticPrivateKeyPEM / the certificate manager's ecdsa.GenerateKey make it. */
export function newKey(): string {
  return withTmp((dir) => readFileSync(genKey(dir, 'ecdsa'), 'utf8'))
}

/** A PKCS#10 request (PEM) for key: O=system:nodes, CN=system:node:<node> (O before CN as pkix.Name marshals them). */
export function nodeCsr(keyPem: string, node: string, sans: string[] = []): string {
  const { cn, orgs } = subjectOf(node)
  const subj = [...orgs.map((o) => `/O=${o}`), `/CN=${cn}`].join('')
  const ext = sans.length
    ? ['-addext', `subjectAltName=${sans.map((s) => (isIP(s) ? `IP:${s}` : `DNS:${s}`)).join(',')}`]
    : []
  return withTmp((dir) => {
    writeFileSync(join(dir, 'key.pem'), keyPem, { mode: 0o600 })
    return openssl(['req', '-new', '-key', 'key.pem', '-subj', subj, ...ext], dir).toString()
  })
}

/** bootstrap.go digestedName: node-csr- and the base64url SHA-512/256 of public key, CN, O and usages. */
export function digestedName(keyPem: string, node: string, usages: string[]): string {
  const { cn, orgs } = subjectOf(node)
  const hash = createHash('sha512-256')
  const write = (data: Buffer) => hash.update(data.toString('base64url')).update('|')
  write(createPublicKey(keyPem).export({ type: 'spki', format: 'der' }))
  write(Buffer.from(cn))
  for (const o of orgs) write(Buffer.from(o))
  for (const u of usages) write(Buffer.from(u))
  return `node-csr-${hash.digest('base64url')}`
}

export class CsrDenied extends Error {}

/**
 * File a CSR (or find the one with this name from an earlier start) and wait until the signer has issued it: resolves
 * with the CSR's name and the certificate (PEM). Denied or Failed rejects (csr.go WaitForCertificate does too).
 */
export async function requestCertificate(
  api: ApiClient,
  req: { name?: string; csrPem: string; signerName: string; usages: string[] },
  signal: AbortSignal,
  onFiled: (name: string) => void = () => {},
): Promise<{ name: string; certPem: string }> {
  const csr = {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: req.name ? { name: req.name } : { generateName: 'csr-' },
    spec: {
      request: Buffer.from(req.csrPem).toString('base64'),
      signerName: req.signerName,
      usages: req.usages,
    },
  }
  const r = await api.call('POST', CSRS, csr, undefined, signal)
  let name: string
  if (r.status === 201) name = r.body.metadata.name
  else if (r.status === 409 && req.name)
    name = req.name // "csr for this node already exists, reusing"
  else throw new Error(`creating a ${req.signerName} CSR: ${r.status} ${r.body.message ?? ''}`)
  onFiled(name)
  for (;;) {
    const got = await api.ok('GET', `${CSRS}/${name}`, undefined, undefined, signal)
    const conds: { type: string; message?: string }[] = got.status?.conditions ?? []
    const bad = conds.find((c) => c.type === 'Denied' || c.type === 'Failed')
    if (bad) throw new CsrDenied(`certificate signing request ${name} is ${bad.type}: ${bad.message ?? ''}`)
    if (got.status?.certificate) return { name, certPem: Buffer.from(got.status.certificate, 'base64').toString() }
    await sleep(1000, undefined, { signal })
  }
}

/** The file store's Update: <prefix>-<time>.pem (certificate, then key), <prefix>-current.pem pointing at it. */
export function storePair(certDir: string, prefix: string, certPem: string, keyPem: string): string {
  mkdirSync(certDir, { recursive: true, mode: 0o755 })
  const d = new Date()
  const p = (n: number) => String(n).padStart(2, '0')
  const ts = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`
  const file = join(certDir, `${prefix}-${ts}.pem`)
  writeFileSync(file, certPem.trimEnd() + '\n' + keyPem, { mode: 0o600 })
  const current = join(certDir, `${prefix}-current.pem`)
  const tmp = `${current}.tmp`
  rmSync(tmp, { force: true })
  symlinkSync(file, tmp)
  renameSync(tmp, current)
  return current
}

/** A pair the store holds and that has not expired (isClientConfigStillValid's test), or undefined. */
export function currentPair(
  certDir: string,
  prefix: string,
): { certPem: string; keyPem: string; file: string } | undefined {
  const file = join(certDir, `${prefix}-current.pem`)
  if (!existsSync(file)) return undefined
  const pem = readFileSync(file, 'utf8')
  const cert = /-----BEGIN CERTIFICATE-----[^]*?-----END CERTIFICATE-----\n?/.exec(pem)?.[0]
  const key = /-----BEGIN [A-Z ]*PRIVATE KEY-----[^]*?-----END [A-Z ]*PRIVATE KEY-----\n?/.exec(pem)?.[0]
  if (!cert || !key) return undefined
  const x = new X509Certificate(cert)
  const now = Date.now()
  if (now < Date.parse(x.validFrom) || now > Date.parse(x.validTo)) return undefined
  return { certPem: cert, keyPem: key, file }
}

/** writeKubeconfigFromBootstrapping: the bootstrap kubeconfig's cluster, the stored pair as client certificate and key. */
export function writeKubeletKubeconfig(file: string, server: string, caPem: string, pemPath: string): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'default-cluster',
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: 'default-auth', user: { 'client-certificate': pemPath, 'client-key': pemPath } }],
    contexts: [
      { name: 'default-context', context: { cluster: 'default-cluster', user: 'default-auth', namespace: 'default' } },
    ],
    'current-context': 'default-context',
  }
  writeFileSync(file, JSON.stringify(doc, null, 2), { mode: 0o600 })
}

/**
 * InitializeTLS's self-signed serving pair in the cert dir (kubelet.crt, kubelet.key), made once. kubelet's
 * GenerateSelfSignedCertKey signs with a throwaway CA named <host>-ca@<time>; this one signs itself as <host>@<time>.
 */
export function selfSignedServing(certDir: string, hostname: string): { certPem: string; keyPem: string } {
  const crt = join(certDir, 'kubelet.crt')
  const key = join(certDir, 'kubelet.key')
  if (!existsSync(crt) || !existsSync(key)) {
    mkdirSync(certDir, { recursive: true, mode: 0o755 })
    const keyPem = newKey()
    const certPem = withTmp((dir) => {
      writeFileSync(join(dir, 'key.pem'), keyPem, { mode: 0o600 })
      const subj = `/CN=${hostname}@${Math.floor(Date.now() / 1000)}`
      const san = `subjectAltName=${isIP(hostname) ? 'IP' : 'DNS'}:${hostname}`
      return openssl(['req', '-x509', '-key', 'key.pem', '-subj', subj, '-addext', san, '-days', '365'], dir).toString()
    })
    writeFileSync(key, keyPem, { mode: 0o600 })
    writeFileSync(crt, certPem)
  }
  return { certPem: readFileSync(crt, 'utf8'), keyPem: readFileSync(key, 'utf8') }
}

export const clientCsrUsages = () => [...CLIENT_USAGES]
export const servingCsrUsages = () => [...SERVING_USAGES]
