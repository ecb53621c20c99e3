// Kubelet serving certificates: the CSR a Talos kubelet files when it registers (a real PKCS#10 request
// made with openssl), and the signing kube-controller-manager does once the CSR is approved.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CertKey } from '../pki.ts'

function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'lab-csr-'))
  try {
    return fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const openssl = (args: string[], cwd: string) =>
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })

/** PEM CSR for system:node:<name> (O=system:nodes) with the node's hostname and address as SANs. */
export function kubeletServingCsr(nodeName: string, hostname: string, address: string): string {
  return withTmp((dir) => {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'key.pem'], dir)
    openssl(
      [
        'req',
        '-new',
        '-key',
        'key.pem',
        '-subj',
        `/O=system:nodes/CN=system:node:${nodeName}`,
        '-addext',
        `subjectAltName=DNS:${hostname},IP:${address}`,
        '-out',
        'req.csr',
      ],
      dir,
    )
    return readFileSync(join(dir, 'req.csr'), 'utf8')
  })
}

const USAGE_EKU: Record<string, string> = { 'server auth': 'serverAuth', 'client auth': 'clientAuth' }

/** Sign an approved CSR with the cluster CA, keeping the requested SANs and usages. */
export function signCsr(ca: CertKey, csrPem: string, usages: string[], days = 365): string {
  return withTmp((dir) => {
    writeFileSync(join(dir, 'ca.crt'), ca.crt)
    writeFileSync(join(dir, 'ca.key'), ca.key, { mode: 0o600 })
    writeFileSync(join(dir, 'req.csr'), csrPem)
    const eku = usages.map((u) => USAGE_EKU[u]).filter(Boolean)
    writeFileSync(
      join(dir, 'ext.cnf'),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature' + (usages.includes('key encipherment') ? ',keyEncipherment' : ''),
        ...(eku.length ? [`extendedKeyUsage=${eku.join(',')}`] : []),
      ].join('\n') + '\n',
    )
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'req.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        String(days),
        '-copy_extensions',
        'copyall',
        '-extfile',
        'ext.cnf',
        '-out',
        'cert.crt',
      ],
      dir,
    )
    return readFileSync(join(dir, 'cert.crt'), 'utf8')
  })
}
