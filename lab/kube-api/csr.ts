// Kubelet serving certificates: the CSR a Talos kubelet files when it registers (a real PKCS#10 request
// made with openssl), and the signing kube-controller-manager does once the CSR is approved.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { genKey, openssl, signRequest, withTmp, type CertKey } from '../pki.ts'

/** PEM CSR for system:node:<name> (O=system:nodes) with the node's hostname and address as SANs. */
export function kubeletServingCsr(nodeName: string, hostname: string, address: string): string {
  return withTmp((dir) => {
    genKey(dir, 'ecdsa')
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
  const eku = usages.map((u) => USAGE_EKU[u]).filter(Boolean)
  const ext = [
    'keyUsage=critical,digitalSignature' + (usages.includes('key encipherment') ? ',keyEncipherment' : ''),
    ...(eku.length ? [`extendedKeyUsage=${eku.join(',')}`] : []),
  ]
  return withTmp((dir) => {
    writeFileSync(join(dir, 'req.csr'), csrPem)
    return signRequest(dir, ca, days, ext, true)
  })
}
