// What the real API server does to an object on create besides storing it: metadata (uid, timestamps,
// generateName), defaulting (pod spec defaults, DefaultTolerationSeconds, status.qosClass) and the
// validation messages kubectl users see (422 Invalid). Pure functions.
import { randomUUID, randomBytes } from 'node:crypto'
import { ApiError, invalid, type Obj } from './errors.ts'
import { nowTs, parseQuantity } from './quantity.ts'
import { apiVersionOf, type ResourceDef } from './resources.ts'

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export function randomSuffix(n = 5): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789'
  return [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join('')
}

export function prepareCreate(
  r: ResourceDef,
  obj: Obj,
  ns: string | undefined,
  user: { name: string; groups: string[] },
): Obj {
  obj.kind = r.kind
  obj.apiVersion = apiVersionOf(r)
  obj.metadata ??= {}
  const md = obj.metadata
  if (!md.name && md.generateName) md.name = `${md.generateName}${randomSuffix()}`
  if (!md.name)
    throw invalid(r, '', [
      { field: 'metadata.name', type: 'Required value', message: 'name or generateName is required' },
    ])
  if (!NAME_RE.test(md.name) || md.name.length > 253)
    throw invalid(r, md.name, [
      {
        field: 'metadata.name',
        type: 'Invalid value',
        message: `"${md.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
      },
    ])
  if (r.namespaced) md.namespace = ns ?? md.namespace ?? 'default'
  else delete md.namespace
  md.uid = randomUUID()
  md.creationTimestamp = nowTs()
  delete md.resourceVersion
  delete md.deletionTimestamp
  if (r.kind === 'Pod') preparePod(r, obj)
  if (r.kind === 'Namespace') {
    md.labels = { ...(md.labels ?? {}), 'kubernetes.io/metadata.name': md.name }
    obj.spec = { finalizers: ['kubernetes'], ...(obj.spec ?? {}) }
    obj.status = { phase: 'Active' }
  }
  if (r.kind === 'CertificateSigningRequest') {
    obj.spec ??= {}
    if (!obj.spec.request) throw invalid(r, md.name, [{ field: 'spec.request', type: 'Required value', message: '' }])
    if (!obj.spec.signerName)
      throw invalid(r, md.name, [{ field: 'spec.signerName', type: 'Required value', message: '' }])
    // The API server records who asked, whatever the body says.
    obj.spec.username = user.name
    obj.spec.groups = [...user.groups, 'system:authenticated']
    obj.status = {}
  }
  return obj
}

/** Requests default to limits, per container (core/v1 defaulting). */
export function containerRequests(c: Obj): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries<string>(c.resources?.limits ?? {})) out[k] = parseQuantity(v)
  for (const [k, v] of Object.entries<string>(c.resources?.requests ?? {})) out[k] = parseQuantity(v)
  return out
}

/** Effective pod request: sum over containers, at least the largest init container, plus overhead. */
export function podRequests(p: Obj): Record<string, number> {
  const sum: Record<string, number> = {}
  for (const c of p.spec?.containers ?? [])
    for (const [k, v] of Object.entries(containerRequests(c))) sum[k] = (sum[k] ?? 0) + v
  for (const c of p.spec?.initContainers ?? [])
    for (const [k, v] of Object.entries(containerRequests(c))) sum[k] = Math.max(sum[k] ?? 0, v)
  for (const [k, v] of Object.entries<string>(p.spec?.overhead ?? {})) sum[k] = (sum[k] ?? 0) + parseQuantity(v)
  return sum
}

/** pkg/apis/core/helper/qos.GetPodQOS: only cpu and memory count. */
export function qosClass(p: Obj): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const compute = ['cpu', 'memory']
  const containers: Obj[] = [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])]
  const requests: Record<string, number> = {}
  const limits: Record<string, number> = {}
  let guaranteed = true
  for (const c of containers) {
    const req = c.resources?.requests ?? {}
    const lim = c.resources?.limits ?? {}
    for (const r of compute) {
      if (req[r] !== undefined && parseQuantity(req[r]) !== 0) requests[r] = (requests[r] ?? 0) + parseQuantity(req[r])
      if (lim[r] !== undefined && parseQuantity(lim[r]) !== 0) limits[r] = (limits[r] ?? 0) + parseQuantity(lim[r])
    }
    if (!compute.every((r) => lim[r] !== undefined && parseQuantity(lim[r]) !== 0)) guaranteed = false
  }
  if (!Object.keys(requests).length && !Object.keys(limits).length) return 'BestEffort'
  if (guaranteed) {
    for (const r of compute) if ((requests[r] ?? limits[r]) !== limits[r]) guaranteed = false
  }
  // requests that default from limits are equal to them; explicit smaller requests break Guaranteed
  if (guaranteed) {
    for (const c of containers)
      for (const r of compute) {
        const req = c.resources?.requests?.[r]
        if (req !== undefined && parseQuantity(req) !== parseQuantity(c.resources?.limits?.[r])) guaranteed = false
      }
  }
  return guaranteed ? 'Guaranteed' : 'Burstable'
}

/**
 * pkg/registry/core/pod/strategy.go applyAppArmorVersionSkew (v1.33.1), field to annotation only: a container with no
 * container.apparmor.security.beta.kubernetes.io/<name> annotation gets one from its (or the pod's) appArmorProfile.
 * The other way (an annotation copied into the field, with its deprecation warning) is not modelled.
 */
function appArmorAnnotations(p: Obj): void {
  const value = (f: Obj | undefined): string => {
    if (f?.type === 'Unconfined') return 'unconfined'
    if (f?.type === 'RuntimeDefault') return 'runtime/default'
    if (f?.type === 'Localhost' && f.localhostProfile != null) return `localhost/${f.localhostProfile}`
    return ''
  }
  const podProfile = p.spec.securityContext?.appArmorProfile
  const all: Obj[] = [
    ...(p.spec.initContainers ?? []),
    ...(p.spec.containers ?? []),
    ...(p.spec.ephemeralContainers ?? []),
  ]
  for (const c of all) {
    const key = `container.apparmor.security.beta.kubernetes.io/${c.name}`
    if (p.metadata.annotations && key in p.metadata.annotations) continue
    const v = value(c.securityContext?.appArmorProfile ?? podProfile)
    if (v) p.metadata.annotations = { ...(p.metadata.annotations ?? {}), [key]: v }
  }
}

function preparePod(r: ResourceDef, p: Obj): void {
  const name = p.metadata.name
  const spec = (p.spec ??= {})
  const containers: Obj[] = spec.containers ?? []
  if (!containers.length) throw invalid(r, name, [{ field: 'spec.containers', type: 'Required value', message: '' }])
  const causes: { field: string; type: string; message: string }[] = []
  containers.forEach((c, i) => {
    if (!c.name) causes.push({ field: `spec.containers[${i}].name`, type: 'Required value', message: '' })
    if (!c.image) causes.push({ field: `spec.containers[${i}].image`, type: 'Required value', message: '' })
    const reqs: Record<string, string> = c.resources?.requests ?? {}
    const lims: Record<string, string> = c.resources?.limits ?? {}
    const base = `spec.containers[${i}].resources`
    for (const [res, v] of Object.entries(reqs)) {
      const lim = lims[res]
      const huge = res.startsWith('hugepages-')
      if (lim !== undefined && huge && parseQuantity(v) !== parseQuantity(lim))
        causes.push({
          field: `${base}.requests[${res}]`,
          type: 'Invalid value',
          message: `"${v}": must be equal to ${res} limit of ${lim}`,
        })
      else if (lim !== undefined && parseQuantity(v) > parseQuantity(lim))
        causes.push({
          field: `${base}.requests[${res}]`,
          type: 'Invalid value',
          message: `"${v}": must be less than or equal to ${res} limit of ${lim}`,
        })
      else if (lim === undefined && (huge || res.includes('/')))
        causes.push({
          field: `${base}.limits[${res}]`,
          type: 'Required value',
          message: 'Limit must be set for non overcommitable resources',
        })
    }
    const all = { ...lims, ...reqs }
    if (Object.keys(all).some((k) => k.startsWith('hugepages-')) && all.cpu === undefined && all.memory === undefined)
      causes.push({ field: base, type: 'Forbidden', message: 'HugePages require cpu or memory' })
  })
  if (causes.length) throw invalid(r, name, causes)
  for (const c of containers) {
    const tag = /:[^/]+$/.test(c.image) ? c.image.split(':').pop() : ''
    c.imagePullPolicy ??= !tag || tag === 'latest' ? 'Always' : 'IfNotPresent'
    c.terminationMessagePath ??= '/dev/termination-log'
    c.terminationMessagePolicy ??= 'File'
    c.resources ??= {}
    if (c.resources.limits) c.resources.requests = { ...c.resources.limits, ...(c.resources.requests ?? {}) }
  }
  // core/v1 SetDefaults_Pod: a host-network pod's container ports are host ports too (defaultHostNetworkPorts)
  if (spec.hostNetwork)
    for (const c of [...containers, ...(spec.initContainers ?? [])])
      for (const port of c.ports ?? []) if (!port.hostPort) port.hostPort = port.containerPort
  if (spec.os?.name !== 'windows') appArmorAnnotations(p)
  spec.restartPolicy ??= 'Always'
  spec.terminationGracePeriodSeconds ??= 30
  spec.dnsPolicy ??= 'ClusterFirst'
  spec.securityContext ??= {}
  spec.schedulerName ??= 'default-scheduler'
  spec.enableServiceLinks ??= true
  spec.preemptionPolicy ??= 'PreemptLowerPriority'
  spec.priority ??= 0
  // DefaultTolerationSeconds admission plugin
  const tol: Obj[] = (spec.tolerations ??= [])
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    if (!tol.some((t) => t.key === key && (t.effect ?? 'NoExecute') === 'NoExecute'))
      tol.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 })
  }
  p.status = { phase: 'Pending', qosClass: qosClass(p) }
}

// ---- NodeRestriction ------------------------------------------------------------------------------------------
// The API server's NodeRestriction admission plugin, for requests made with a node's credentials (Talos on a worker
// applies machine.nodeLabels/nodeTaints with the kubelet's kubeconfig: internal/app/machined/pkg/controllers/k8s/
// node_apply.go at v1.10.3). Modelled on kubernetes plugin/pkg/admission/noderestriction/admission.go (admitNode,
// getForbiddenLabels) and staging/src/k8s.io/kubelet/pkg/apis/well_known_labels.go (IsKubeletLabel). The lab keeps
// its own copy of the rule instead of importing the product's lib/node-restriction.ts: the lab plays the API server,
// and a mistake in the product's rule must show up as a refusal here.

const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
])
const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io']

const labelNamespace = (key: string) => (key.includes('/') ? key.split('/', 1)[0]! : '')
const under = (ns: string, parent: string) => ns === parent || ns.endsWith(`.${parent}`)

function isKubeletLabel(key: string): boolean {
  return KUBELET_LABELS.has(key) || KUBELET_LABEL_NAMESPACES.some((ns) => under(labelNamespace(key), ns))
}

/** getForbiddenLabels: node-restriction.kubernetes.io labels, and kubernetes.io/k8s.io labels kubelet may not set. */
function forbiddenLabels(modified: string[]): string[] {
  return modified
    .filter((k) => {
      const ns = labelNamespace(k)
      if (under(ns, 'node-restriction.kubernetes.io')) return true
      return (under(ns, 'kubernetes.io') || under(ns, 'k8s.io')) && !isKubeletLabel(k)
    })
    .sort()
}

/** getModifiedLabels: keys added, removed or changed between two label maps. */
function modifiedLabels(a: Record<string, string> = {}, b: Record<string, string> = {}): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].filter((k) => a[k] !== b[k])
}

/** pkg/auth/nodeidentifier: user system:node:<name> in group system:nodes; undefined for anyone else. */
export function nodeIdentity(user: { name: string; groups: string[] }): string | undefined {
  if (!user.groups.includes('system:nodes') || !user.name.startsWith('system:node:')) return undefined
  return user.name.slice('system:node:'.length)
}

const forbidden = (name: string, why: string) =>
  new ApiError(403, 'Forbidden', `nodes "${name}" is forbidden: ${why}`, { name, kind: 'nodes' })

/** The taints as the API compares them (apiequality.Semantic.DeepEqual of spec.taints). */
const taintsOf = (n: Obj | undefined) =>
  JSON.stringify(((n?.spec?.taints ?? []) as Obj[]).map((t) => [t.key, t.value ?? '', t.effect, t.timeAdded ?? null]))

/**
 * admitNode for a request by `user` (no-op unless it is a node): create or update of Node `name`. Throws 403 as the
 * real plugin does; a refused update changes nothing, labels included.
 */
export function admitNodeRestriction(
  user: { name: string; groups: string[] },
  op: 'create' | 'update',
  name: string,
  obj: Obj,
  old?: Obj,
): void {
  const node = nodeIdentity(user)
  if (node === undefined) return
  if (node !== name) throw forbidden(name, `node "${node}" is not allowed to modify node "${name}"`)
  if (op === 'create') {
    const bad = forbiddenLabels(Object.keys(obj.metadata?.labels ?? {}))
    if (bad.length)
      throw forbidden(name, `node "${node}" is not allowed to set the following labels: ${bad.join(', ')}`)
    return
  }
  if (taintsOf(obj) !== taintsOf(old)) throw forbidden(name, `node "${node}" is not allowed to modify taints`)
  const bad = forbiddenLabels(modifiedLabels(obj.metadata?.labels, old?.metadata?.labels))
  if (bad.length) throw forbidden(name, `is not allowed to modify labels: ${bad.join(', ')}`)
}
