// Talos v1.10.3's ManifestApplyController against a real kube-apiserver, through kubectl with the control plane's
// admin kubeconfig (Talos uses LocalhostAdminKubeconfig). v1.10.3 internal/app/machined/pkg/controllers/k8s/
// manifest_apply.go apply(): each object is read first (:266-274) and left alone when it exists, whatever it holds;
// only a missing one is created (:276-296, AlreadyExists ignored). Reading first matters: a create of an object that
// exists is not always AlreadyExists (a Service with a fixed clusterIP is refused "provided IP is already allocated"
// before its name is checked). A kind the API server has no mapping for (:233-246) is an error for that object
// alone, as are BadRequest and Invalid; the controller then fails its run and is run again after its back-off.
// The objects and their order: lab/manifest-objects.ts; the etcd mutex around a run (:162): lab/real-kube-node.ts.
// Lab deviation: two kubectl calls per run (read all, create the missing), where Talos makes a request per object.
import { spawn } from 'node:child_process'
import { objName, type Obj } from './manifest-objects.ts'

const list = (items: Obj[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items })
const groupOf = (apiVersion: unknown) =>
  String(apiVersion ?? '').includes('/') ? String(apiVersion).split('/')[0] : ''
const keyOf = (o: Obj) => `${groupOf(o.apiVersion)}/${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`

interface KubectlResult {
  stdout: string
  stderr: string
  error?: Error
}

/**
 * kubectl without blocking: real-kube-node.ts's VIP campaign, lease keep-alives and forwarder run on the same event
 * loop, and a slow API server keeps kubectl for seconds.
 */
function kubectl(kubeconfig: string, args: string[], input: string): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 60_000 })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    const result = (error?: Error) => ({
      stdout: Buffer.concat(out).toString(),
      stderr: Buffer.concat(err).toString(),
      ...(error ? { error } : {}),
    })
    child.on('error', (e) => resolve(result(e)))
    child.on('close', (_code, signal) => resolve(result(signal ? new Error(`kubectl killed by ${signal}`) : undefined)))
    child.stdin.on('error', () => {}) // kubectl that exits early closes its stdin: its stderr says why
    child.stdin.end(input)
  })
}

/** kubectl's error lines, one per object it could not handle ("error: …" prefixes dropped). */
const errorLines = (stderr: string) =>
  stderr
    .split('\n')
    .map((l) => l.replace(/^error: /, '').trim())
    .filter(Boolean)

/** One run of apply(): what it created, and the errors that make the controller run again. */
export async function applyManifestObjects(
  kubeconfig: string,
  objects: Obj[],
): Promise<{ created: string[]; errors: string[] }> {
  if (!objects.length) return { created: [], errors: [] }
  const got = await kubectl(kubeconfig, ['get', '-f', '-', '-o', 'json', '--ignore-not-found'], list(objects))
  if (got.error) return { created: [], errors: [`reading the objects: ${got.error.message}`] }
  const existing = new Set<string>()
  try {
    for (const o of (JSON.parse(got.stdout || '{"items":[]}') as Obj).items as Obj[]) existing.add(keyOf(o))
  } catch {
    return { created: [], errors: [`reading the objects: ${errorLines(got.stderr).join('; ') || 'no answer'}`] }
  }
  // kubectl names an object it has no mapping for ("no matches for kind …") and goes on with the others
  const errors = errorLines(got.stderr)
  const unmapped = (o: Obj) => errors.some((e) => e.includes(`"${o.kind}"`) && /no matches for kind/.test(e))
  // a namespaced object without a namespace is read back in "default", as Talos defaults it
  const isMissing = (o: Obj) => {
    const ns = o.metadata?.namespace
    const keys = [keyOf(o), ...(ns ? [] : [keyOf({ ...o, metadata: { ...o.metadata, namespace: 'default' } })])]
    return !keys.some((k) => existing.has(k)) && !unmapped(o)
  }
  const missing = objects.filter(isMissing)
  if (!missing.length) return { created: [], errors }
  // one line per created object (kubectl prints each object it created on its own: no List)
  const made = await kubectl(
    kubeconfig,
    ['create', '-f', '-', '-o', 'jsonpath={.apiVersion} {.kind} {.metadata.name}{"\\n"}'],
    list(missing),
  )
  if (made.error) return { created: [], errors: [...errors, `creating: ${made.error.message}`] }
  // another control plane may have created it between the read and the create: AlreadyExists is not an error
  errors.push(...errorLines(made.stderr).filter((l) => !/AlreadyExists|already exists/.test(l)))
  const created = made.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .map(([apiVersion, kind, name]) => objName({ apiVersion, kind, metadata: { name } }))
  return { created, errors }
}
