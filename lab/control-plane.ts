// The real Kubernetes control plane of a lab control-plane node (issue #23): etcd with TLS as Talos's etcd service
// runs it, and the real kube-apiserver, kube-controller-manager and kube-scheduler v1.33.1 with the flags and files
// Talos v1.10.3 renders from the node's machine config (`talos-api render-control-plane`,
// lab/talos-api/control_plane_*.go).
// Lab deviations, all because the lab's machines share one host: they bind the node's loopback address (Talos:
// 0.0.0.0 and 127.0.0.1), kube-apiserver reaches etcd at the node's address and the given port (Talos:
// https://localhost:2379) and the others the API at the node's address (Talos: KubePrism).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { kubeComponent } from './go-builds.ts'
import { waitForPort } from './processes.ts'
import type { Manifest } from './manifest-objects.ts'

export interface RenderedControlPlane {
  dir: string
  /** kube-apiserver's flags as Talos renders them, Talos's directories replaced by dir's (see the Go side). */
  args: string[]
  image: string
  /** kube-controller-manager's and kube-scheduler's, unless the config disables them. */
  controllerManager?: { args: string[]; image: string }
  scheduler?: { args: string[]; image: string }
}

/** `talos-api render-control-plane` for one node's machine config; the API at https://nodeIp:apiPort. */
export function renderControlPlane(
  talosApi: string,
  configFile: string,
  dir: string,
  nodeIp: string,
  apiPort = 6443,
): RenderedControlPlane {
  const endpoint = `https://${nodeIp}:${apiPort}`
  const args = ['render-control-plane', '--config', configFile, '--out', dir, '--node-ip', nodeIp]
  const r = spawnSync(talosApi, [...args, '--kube-endpoint', endpoint], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`render-control-plane ${configFile}: ${r.error?.message ?? r.stderr}`)
  return readRenderedControlPlane(dir)
}

/**
 * Talos's bootstrap manifests for a control plane's config as its ManifestController renders them (`talos-api
 * render-bootstrap-manifests`, lab/talos-api/bootstrap_manifests.go), written into dir as <id>.yaml and returned by id.
 */
export function renderBootstrapManifests(talosApi: string, configFile: string, dir: string): Manifest[] {
  const r = spawnSync(talosApi, ['render-bootstrap-manifests', '--config', configFile, '--out', dir], {
    encoding: 'utf8',
  })
  if (r.status !== 0) throw new Error(`render-bootstrap-manifests ${configFile}: ${r.error?.message ?? r.stderr}`)
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => ({ id: f.replace(/\.yaml$/, ''), contents: readFileSync(join(dir, f), 'utf8') }))
}

/** The kubelet-bootstrapping ones: the bootstrap token Secret and the CSR bindings (ids 00- and 01-). */
export const kubeletBootstrapping = (manifests: Manifest[]) =>
  manifests
    .filter((m) => /^0[01]-/.test(m.id))
    .map((m) => m.contents)
    .join('\n---\n')

/** What `render-control-plane` wrote into dir. */
export function readRenderedControlPlane(dir: string): RenderedControlPlane {
  const read = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { args: string[]; image: string }
  const optional = (f: string) => (existsSync(join(dir, f)) ? read(f) : undefined)
  return {
    dir,
    ...read('kube-apiserver.json'),
    controllerManager: optional('kube-controller-manager.json'),
    scheduler: optional('kube-scheduler.json'),
  }
}

/** A client certificate from the config's cluster CA (`talos-api kube-client-cert`); returns the path prefix. */
export function kubeClientCert(talosApi: string, configFile: string, prefix: string, cn: string, orgs: string[] = []) {
  const args = ['kube-client-cert', '--config', configFile, '--cn', cn, '--out', prefix]
  const r = spawnSync(talosApi, orgs.length ? [...args, '--org', orgs.join(',')] : args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`kube-client-cert ${cn}: ${r.error?.message ?? r.stderr}`)
  return prefix
}

/** A kubeconfig for a client certificate (PREFIX.crt/.key), trusting the rendered ca.crt. */
export function writeKubeconfig(file: string, server: string, caFile: string, prefix: string): string {
  const b64 = (f: string) => readFileSync(f).toString('base64')
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server, 'certificate-authority-data': b64(caFile) } }],
    users: [
      { name: 'u', user: { 'client-certificate-data': b64(`${prefix}.crt`), 'client-key-data': b64(`${prefix}.key`) } },
    ],
    contexts: [{ name: 'lab', context: { cluster: 'lab', user: 'u' } }],
    'current-context': 'lab',
  }
  writeFileSync(file, JSON.stringify(doc), { mode: 0o600 })
  return file
}

function spawnLogged(cmd: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a', 0o600)
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] })
  closeSync(fd)
  return child
}

/**
 * The mutual TLS of Talos's etcd (services/etcd.go argsForInit/argsForControlPlane:384-398) with the certificates in
 * dir, laid out as /system/secrets/etcd: client and peer certificates required, one CA.
 */
export function etcdTlsFlags(dir: string): string[] {
  const c = (f: string) => join(dir, f)
  return [
    '--auto-tls=false',
    '--peer-auto-tls=false',
    '--client-cert-auth=true',
    `--cert-file=${c('server.crt')}`,
    `--key-file=${c('server.key')}`,
    `--trusted-ca-file=${c('ca.crt')}`,
    '--peer-client-cert-auth=true',
    `--peer-cert-file=${c('peer.crt')}`,
    `--peer-key-file=${c('peer.key')}`,
    `--peer-trusted-ca-file=${c('ca.crt')}`,
  ]
}

export interface EtcdTls {
  name: string
  ip: string
  clientPort: number
  peerPort: number
  dataDir: string
  /** the rendered etcd/ directory: ca.crt, server.*, peer.* */
  certs: string
}

/**
 * One etcd member with TLS and client-certificate auth, as argsForInit (internal/app/machined/pkg/system/services/
 * etcd.go) starts it. Not passed: experimental-compact-hash-check-enabled, which Debian's etcd 3.4 does not know
 * (Talos runs etcd 3.5).
 */
export async function startEtcd(e: EtcdTls, logFile: string): Promise<ChildProcess> {
  mkdirSync(e.dataDir, { recursive: true, mode: 0o700 })
  const client = `https://${e.ip}:${e.clientPort}`
  const peer = `https://${e.ip}:${e.peerPort}`
  const child = spawnLogged(
    'etcd',
    [
      `--name=${e.name}`,
      `--data-dir=${e.dataDir}`,
      `--listen-peer-urls=${peer}`,
      `--listen-client-urls=${client}`,
      ...etcdTlsFlags(e.certs),
      '--experimental-initial-corrupt-check=true',
      '--experimental-watch-progress-notify-interval=5s',
      '--initial-cluster-state=new',
      `--initial-cluster=${e.name}=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--advertise-client-urls=${client}`,
    ],
    logFile,
  )
  await waitForPort(e.ip, e.clientPort, 20_000)
  return child
}

/** Talos's flags with the lab's overrides (see the top of this file). */
export function overrideArgs(rendered: string[], override: Record<string, string>): string[] {
  return rendered.map((a) => {
    const key = a.includes('=') ? a.slice(2, a.indexOf('=')) : ''
    return key in override ? `--${key}=${override[key]}` : a
  })
}

export const flagValue = (args: string[], key: string) =>
  args.find((a) => a.startsWith(`--${key}=`))?.slice(key.length + 3)

/** Start the real kube-apiserver with the rendered flags and wait until /readyz says ok (as admin). */
export async function startKubeApiServer(
  cp: RenderedControlPlane,
  ip: string,
  etcdUrl: string,
  admin: string,
  logFile: string,
  timeoutMs = 180_000,
): Promise<ChildProcess> {
  const args = overrideArgs(cp.args, { 'bind-address': ip, 'etcd-servers': etcdUrl })
  const child = spawnLogged(kubeComponent('kube-apiserver'), args, logFile)
  const port = Number(flagValue(args, 'secure-port'))
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`kube-apiserver exited ${child.exitCode}: see ${logFile}`)
    const r = await readyz(ip, port, join(cp.dir, 'secrets', 'ca.crt'), admin).catch(() => undefined)
    if (r === 'ok') return child
    await new Promise((res) => setTimeout(res, 500))
  }
  child.kill('SIGKILL')
  throw new Error(`kube-apiserver not ready after ${timeoutMs} ms: see ${logFile}`)
}

/** Start the real kube-controller-manager with the rendered flags, bound to ip; waits for its secure port. */
export async function startKubeControllerManager(cp: RenderedControlPlane, ip: string, logFile: string) {
  if (!cp.controllerManager) throw new Error('the config disables kube-controller-manager')
  const args = overrideArgs(cp.controllerManager.args, { 'bind-address': ip })
  const child = spawnLogged(kubeComponent('kube-controller-manager'), args, logFile)
  // 10257: kube-controller-manager's default secure port (Talos sets none)
  await waitForPort(ip, 10257, 60_000)
  if (child.exitCode !== null) throw new Error(`kube-controller-manager exited ${child.exitCode}: see ${logFile}`)
  return child
}

/** Start the real kube-scheduler with the rendered flags, bound to ip; waits for its secure port. */
export async function startKubeScheduler(cp: RenderedControlPlane, ip: string, logFile: string) {
  if (!cp.scheduler) throw new Error('the config disables kube-scheduler')
  const args = overrideArgs(cp.scheduler.args, { 'bind-address': ip })
  const child = spawnLogged(kubeComponent('kube-scheduler'), args, logFile)
  // 10259: kube-scheduler's default secure port (Talos sets none)
  await waitForPort(ip, 10259, 60_000)
  if (child.exitCode !== null) throw new Error(`kube-scheduler exited ${child.exitCode}: see ${logFile}`)
  return child
}

function readyz(host: string, port: number, caFile: string, prefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        path: '/readyz',
        ca: readFileSync(caFile),
        cert: readFileSync(`${prefix}.crt`),
        key: readFileSync(`${prefix}.key`),
        timeout: 5000,
      },
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => resolve(body.trim()))
      },
    )
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

/** SIGTERM, then SIGKILL after graceMs. */
export async function stopChild(child: ChildProcess | undefined, graceMs = 5000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await gone
  clearTimeout(timer)
}
