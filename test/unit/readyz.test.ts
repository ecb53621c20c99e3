import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { stringify } from 'yaml'
import { credentialsFromKubeconfig, readyz } from '../../lib/kube/readyz.ts'
import { generateCa, issueCert, type CertKey } from '../../lab/pki.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
let ca: CertKey, client: CertKey, server: Server, endpoint: string
let status = 200

function kubeconfig(user: Record<string, unknown>, current = 'admin@lab') {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server: `https://${endpoint}`, 'certificate-authority-data': b64(ca.crt) } }],
    users: [{ name: 'admin@lab', user }],
    contexts: [{ name: 'admin@lab', context: { cluster: 'lab', user: 'admin@lab' } }],
    'current-context': current,
  })
}

before(async () => {
  ca = generateCa('kubernetes')
  client = issueCert(ca, { cn: 'admin', org: ['system:masters'], usage: 'client' })
  const serving = issueCert(ca, { cn: 'kube-apiserver', sans: ['127.0.0.1'], usage: 'server' })
  // like an API server with anonymous-auth=false: no client certificate, no answer
  server = createServer(
    { key: serving.key, cert: serving.crt, ca: ca.crt, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      res.statusCode = req.url === '/readyz' ? status : 404
      res.end(status === 200 ? 'ok' : '[-]etcd failed')
    },
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`
})
after(() => server.close())

test('the current context gives the CA, client certificate and key from the *-data fields', () => {
  const c = credentialsFromKubeconfig(
    kubeconfig({ 'client-certificate-data': b64(client.crt), 'client-key-data': b64(client.key) }),
  )
  assert.equal(c.ca, ca.crt)
  assert.equal(c.cert, client.crt)
  assert.equal(c.key, client.key)
})

test('a kubeconfig without credentials or with a dangling current-context is an error naming the file', () => {
  assert.throws(() => credentialsFromKubeconfig(kubeconfig({}), 'out/kubeconfig'), /out\/kubeconfig: user "admin@lab"/)
  assert.throws(
    () => credentialsFromKubeconfig(kubeconfig({ token: 't' }, 'nope'), 'k'),
    /k: current-context "nope" is not among/,
  )
})

test('readyz resolves on 200 with the client certificate, rejects on 500 and without one', async () => {
  const creds = credentialsFromKubeconfig(
    kubeconfig({ 'client-certificate-data': b64(client.crt), 'client-key-data': b64(client.key) }),
  )
  status = 200
  await readyz(endpoint, creds, 2000)
  status = 500
  await assert.rejects(readyz(endpoint, creds, 2000), /HTTP 500/)
  status = 200
  await assert.rejects(readyz(endpoint, { ca: creds.ca }, 2000))
})

test('readyz rejects when nothing listens and when the server does not answer in time', async () => {
  const creds = { ca: ca.crt, cert: client.crt, key: client.key }
  await assert.rejects(readyz('127.0.0.1:1', creds, 2000), /ECONNREFUSED/)
  const silent = (await import('node:net')).createServer(() => {})
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
  const port = (silent.address() as AddressInfo).port
  await assert.rejects(readyz(`127.0.0.1:${port}`, creds, 300), /no answer within 300 ms/)
  silent.close()
})
