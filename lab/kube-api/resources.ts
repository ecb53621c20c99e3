import { createHash } from 'node:crypto'

// The resources this lab API serves, and the discovery documents kubectl builds its REST mapping from.

export interface ResourceDef {
  group: string // '' = core
  version: string
  plural: string
  singular: string
  kind: string
  namespaced: boolean
  shortNames?: string[]
  categories?: string[]
  subresources?: string[] // 'status', 'binding', 'approval', 'eviction'
}

export const RESOURCES: ResourceDef[] = [
  {
    group: '',
    version: 'v1',
    plural: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
  },
  {
    group: '',
    version: 'v1',
    plural: 'nodes',
    singular: 'node',
    kind: 'Node',
    namespaced: false,
    shortNames: ['no'],
    subresources: ['status'],
  },
  {
    group: '',
    version: 'v1',
    plural: 'pods',
    singular: 'pod',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    subresources: ['status', 'binding', 'eviction'],
  },
  {
    group: '',
    version: 'v1',
    plural: 'events',
    singular: 'event',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
  },
  {
    group: '',
    version: 'v1',
    plural: 'configmaps',
    singular: 'configmap',
    kind: 'ConfigMap',
    namespaced: true,
    shortNames: ['cm'],
  },
  {
    group: 'certificates.k8s.io',
    version: 'v1',
    plural: 'certificatesigningrequests',
    singular: 'certificatesigningrequest',
    kind: 'CertificateSigningRequest',
    namespaced: false,
    shortNames: ['csr'],
    subresources: ['status', 'approval'],
  },
  { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', singular: 'lease', kind: 'Lease', namespaced: true },
]

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease']

export const findResource = (group: string, version: string, plural: string) =>
  RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural)

export const byKind = (kind: string) => RESOURCES.find((r) => r.kind === kind)!

export const apiVersionOf = (r: ResourceDef) => (r.group ? `${r.group}/${r.version}` : r.version)

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']
const SUB: Record<string, { verbs: string[]; kind?: string; group?: string; version?: string }> = {
  status: { verbs: ['get', 'patch', 'update'] },
  binding: { verbs: ['create'], kind: 'Binding' },
  approval: { verbs: ['get', 'patch', 'update'] },
  eviction: { verbs: ['create'], kind: 'Eviction', group: 'policy', version: 'v1' },
}

/** /api/v1 or /apis/<group>/<version>: metav1.APIResourceList. */
export function resourceList(group: string, version: string): object | undefined {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version)
  if (!rs.length) return undefined
  const resources: object[] = []
  for (const r of rs) {
    resources.push({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: VERBS,
      ...(r.shortNames ? { shortNames: r.shortNames } : {}),
      ...(r.categories ? { categories: r.categories } : {}),
    })
    for (const s of r.subresources ?? []) {
      const d = SUB[s]
      resources.push({
        name: `${r.plural}/${s}`,
        singularName: '',
        namespaced: r.namespaced,
        ...(d.group ? { group: d.group, version: d.version } : {}),
        kind: d.kind ?? r.kind,
        verbs: d.verbs,
      })
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources }
}

export function apiVersions(serverAddress: string): object {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  }
}

function groups(): string[] {
  return [...new Set(RESOURCES.filter((r) => r.group).map((r) => r.group))]
}

export function apiGroup(name: string): object | undefined {
  const versions = [...new Set(RESOURCES.filter((r) => r.group === name).map((r) => r.version))]
  if (!versions.length) return undefined
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }))
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: vs, preferredVersion: vs[0] }
}

export function apiGroupList(): object {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups().map((g) => {
      const { kind: _k, apiVersion: _a, ...rest } = apiGroup(g) as Record<string, unknown>
      return rest
    }),
  }
}

/**
 * A minimal OpenAPI v3 document per group-version: only the PATCH operations with their
 * x-kubernetes-group-version-kind and the fieldValidation query parameter, which is what kubectl
 * reads to decide that the server validates fields itself (so `kubectl apply` needs no schema).
 */
export function openapiV3Paths(): object {
  const gvs = [...new Set(RESOURCES.map((r) => (r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`)))]
  const hash = (gv: string) =>
    createHash('sha512')
      .update(JSON.stringify(openapiV3Doc(gv)))
      .digest('hex')
      .slice(0, 128)
      .toUpperCase()
  return {
    paths: Object.fromEntries(gvs.map((gv) => [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash(gv)}` }])),
  }
}

export function openapiV3Doc(gvPath: string): object | undefined {
  const rs = RESOURCES.filter((r) => (r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`) === gvPath)
  if (!rs.length) return undefined
  const paths: Record<string, object> = {}
  for (const r of rs) {
    const base = `/${gvPath}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.plural}/{name}`
    paths[base] = {
      patch: {
        'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
        'x-kubernetes-action': 'patch',
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
      },
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } }],
    }
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'lab' }, paths, components: { schemas: {} } }
}
