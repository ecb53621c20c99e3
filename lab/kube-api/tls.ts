// The API server's serving certificate, issued from the cluster's Kubernetes CA (cluster.ca in the
// machine config) and cached in nodes/<name>/pki/ so restarts keep it.
import { X509Certificate, createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { issueCert, unb64, type CertKey } from '../pki.ts'
import { paths, writeFileAtomic } from '../state.ts'
import type { Obj } from './errors.ts'

export function clusterCa(cfg: Obj, file: string): CertKey {
  const ca = cfg.cluster?.ca
  if (!ca?.crt || !ca?.key)
    throw new Error(`${file}: cluster.ca.crt/cluster.ca.key missing: the Kubernetes CA is needed to serve the API`)
  return { crt: unb64(ca.crt), key: unb64(ca.key) }
}

export function servingSans(address: string, endpoint: string | undefined, certSANs: string[] = []): string[] {
  const sans = [
    address,
    '127.0.0.1',
    'localhost',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
    ...certSANs,
  ]
  if (endpoint) {
    try {
      sans.splice(1, 0, new URL(endpoint).hostname)
    } catch {}
  }
  return [...new Set(sans.filter(Boolean))]
}

/** Reuse the cached cert while it is from the same CA and carries the same SANs. */
export function servingCert(node: string, ca: CertKey, sans: string[]): CertKey {
  const dir = join(paths.nodeDir(node), 'pki')
  const crtFile = join(dir, 'kube-apiserver.crt')
  const keyFile = join(dir, 'kube-apiserver.key')
  const stamp = createHash('sha256').update(ca.crt).update(sans.join(',')).digest('hex')
  const stampFile = join(dir, 'kube-apiserver.stamp')
  if (
    existsSync(crtFile) &&
    existsSync(keyFile) &&
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8') === stamp
  ) {
    const crt = readFileSync(crtFile, 'utf8')
    if (new Date(new X509Certificate(crt).validTo).getTime() > Date.now() + 86400_000)
      return { crt, key: readFileSync(keyFile, 'utf8') }
  }
  const cert = issueCert(ca, { cn: 'kube-apiserver', sans, usage: 'server' })
  writeFileAtomic(keyFile, cert.key, 0o600)
  writeFileAtomic(crtFile, cert.crt, 0o600)
  writeFileAtomic(stampFile, stamp, 0o600)
  return cert
}
