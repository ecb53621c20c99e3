// Real X.509 for the lab (openssl CLI): CAs for `talosctl gen secrets`, the API server's serving cert,
// and the admin client cert `talosctl kubeconfig` hands out. Keys never leave the lab dir.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isIP } from 'node:net'

export type KeyType = 'ed25519' | 'ecdsa'
export interface CertKey {
  crt: string // PEM
  key: string // PEM
}

export function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'lab-pki-'))
  try {
    return fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export const openssl = (args: string[], cwd: string) =>
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })

export function genKey(dir: string, type: KeyType): string {
  const file = join(dir, 'key.pem')
  if (type === 'ed25519') openssl(['genpkey', '-algorithm', 'ED25519', '-out', file], dir)
  else openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], dir)
  return file
}

const subject = (cn: string, org: string[] = []) => [...org.map((o) => `/O=${o}`), `/CN=${cn}`].join('')

export function generateCa(cn: string, keyType: KeyType = 'ecdsa', days = 3650): CertKey {
  return withTmp((dir) => {
    const key = genKey(dir, keyType)
    const crt = join(dir, 'ca.crt')
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-key',
        key,
        '-subj',
        subject(cn),
        '-days',
        String(days),
        '-out',
        crt,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
      ],
      dir,
    )
    return { crt: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') }
  })
}

export interface IssueOptions {
  cn: string
  org?: string[]
  /** IP addresses and DNS names. */
  sans?: string[]
  usage: 'server' | 'client' | 'both'
  keyType?: KeyType
  days?: number
}

export function issueCert(ca: CertKey, o: IssueOptions): CertKey {
  return withTmp((dir) => {
    const key = genKey(dir, o.keyType ?? 'ecdsa')
    const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[o.usage]
    const san = (o.sans ?? []).map((s) => (isIP(s) ? `IP:${s}` : `DNS:${s}`)).join(',')
    openssl(['req', '-new', '-key', key, '-subj', subject(o.cn, o.org), '-out', 'req.csr'], dir)
    const crt = signRequest(dir, ca, o.days ?? 365, [
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${eku}`,
      ...(san ? [`subjectAltName=${san}`] : []),
    ])
    return { crt, key: readFileSync(key, 'utf8') }
  })
}

/**
 * Sign `dir/req.csr` with `ca` into `dir/cert.crt` as a leaf (CA:FALSE) with the given extension lines;
 * `copyRequested` keeps the extensions the request asked for (a kubelet's SANs), as kube-controller-manager does.
 */
export function signRequest(dir: string, ca: CertKey, days: number, ext: string[], copyRequested = false): string {
  writeFileSync(join(dir, 'ca.crt'), ca.crt)
  writeFileSync(join(dir, 'ca.key'), ca.key, { mode: 0o600 })
  writeFileSync(join(dir, 'ext.cnf'), ['basicConstraints=critical,CA:FALSE', ...ext].join('\n') + '\n')
  const copy = copyRequested ? ['-copy_extensions', 'copyall'] : []
  const signing = ['-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', String(days), ...copy]
  openssl(['x509', '-req', '-in', 'req.csr', ...signing, '-extfile', 'ext.cnf', '-out', 'cert.crt'], dir)
  return readFileSync(join(dir, 'cert.crt'), 'utf8')
}

export const b64 = (pem: string) => Buffer.from(pem).toString('base64')
export const unb64 = (s: string) => Buffer.from(s, 'base64').toString()
