// Server-side printing (Accept: application/json;as=Table;g=meta.k8s.io;v=v1): the columns the real
// API server's printers produce, so `kubectl get` and `-o wide` print what they print against Kubernetes.
import type { Obj } from './errors.ts'
import { age } from './quantity.ts'
import type { ResourceDef } from './resources.ts'

interface Col {
  name: string
  type?: string
  format?: string
  priority?: number
  description?: string
}

const NAME: Col = { name: 'Name', format: 'name', description: 'Name must be unique within a namespace.' }
const AGE: Col = {
  name: 'Age',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
}
const none = (s: string | undefined) => (s ? s : '<none>')

function nodeStatus(n: Obj): string {
  const ready = (n.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready')
  const out = [!ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady']
  if (n.spec?.unschedulable) out.push('SchedulingDisabled')
  return out.join(',')
}

function nodeRoles(n: Obj): string {
  const roles = new Set<string>()
  for (const [k, v] of Object.entries<string>(n.metadata?.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) roles.add(k.slice('node-role.kubernetes.io/'.length))
    else if (k === 'kubernetes.io/role' && v) roles.add(v)
  }
  return roles.size ? [...roles].sort().join(',') : '<none>'
}

const addr = (n: Obj, t: string) => none((n.status?.addresses ?? []).find((a: Obj) => a.type === t)?.address)

/** printPod: READY x/y, STATUS reason as kubectl shows it. */
export function podStatusText(p: Obj): string {
  let reason: string = p.status?.reason || p.status?.phase || 'Pending'
  for (const cs of p.status?.containerStatuses ?? []) {
    if (cs.state?.waiting?.reason) reason = cs.state.waiting.reason
    else if (cs.state?.terminated?.reason) reason = cs.state.terminated.reason
  }
  if (p.metadata?.deletionTimestamp) reason = 'Terminating'
  return reason
}

function podReady(p: Obj): string {
  const total = (p.spec?.containers ?? []).length
  const ready = (p.status?.containerStatuses ?? []).filter((c: Obj) => c.ready).length
  return `${ready}/${total}`
}

const restarts = (p: Obj) =>
  String((p.status?.containerStatuses ?? []).reduce((s: number, c: Obj) => s + (c.restartCount ?? 0), 0))

function csrCondition(c: Obj): string {
  const conds = (c.status?.conditions ?? []).map((x: Obj) => x.type as string)
  const out = conds.length ? conds : ['Pending']
  if (c.status?.certificate) out.push('Issued')
  return out.join(',')
}

function durationText(sec: number | undefined): string {
  if (!sec) return '<none>'
  const s = sec
  if (s % 86400 === 0) return `${s / 86400}d`
  if (s % 3600 === 0) return `${s / 3600}h`
  if (s % 60 === 0) return `${s / 60}m`
  return `${s}s`
}

function eventObject(e: Obj): string {
  const o = e.involvedObject ?? {}
  return `${String(o.kind ?? '').toLowerCase()}/${o.name ?? ''}`
}

const PRINTERS: Record<string, { cols: Col[]; cells: (o: Obj, now: number) => unknown[] }> = {
  Node: {
    cols: [
      NAME,
      { name: 'Status', description: 'The status of the node' },
      { name: 'Roles', description: 'The roles of the node' },
      AGE,
      { name: 'Version', description: 'Kubelet Version reported by the node.' },
      {
        name: 'Internal-IP',
        priority: 1,
        description: 'List of addresses reachable to the node. Queried from cloud provider, if available.',
      },
      {
        name: 'External-IP',
        priority: 1,
        description: 'List of addresses reachable to the node. Queried from cloud provider, if available.',
      },
      {
        name: 'OS-Image',
        priority: 1,
        description: 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).',
      },
      {
        name: 'Kernel-Version',
        priority: 1,
        description: "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
      },
      {
        name: 'Container-Runtime',
        priority: 1,
        description:
          'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).',
      },
    ],
    cells: (n, now) => [
      n.metadata.name,
      nodeStatus(n),
      nodeRoles(n),
      age(n.metadata.creationTimestamp, now),
      n.status?.nodeInfo?.kubeletVersion ?? '',
      addr(n, 'InternalIP'),
      addr(n, 'ExternalIP'),
      none(n.status?.nodeInfo?.osImage),
      none(n.status?.nodeInfo?.kernelVersion),
      none(n.status?.nodeInfo?.containerRuntimeVersion),
    ],
  },
  Pod: {
    cols: [
      NAME,
      { name: 'Ready', description: 'The aggregate readiness state of this pod for accepting traffic.' },
      { name: 'Status', description: 'The aggregate status of the containers in this pod.' },
      {
        name: 'Restarts',
        description:
          'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
      },
      AGE,
      {
        name: 'IP',
        priority: 1,
        description:
          'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.',
      },
      { name: 'Node', priority: 1, description: 'NodeName is a request to schedule this pod onto a specific node.' },
      {
        name: 'Nominated Node',
        priority: 1,
        description: 'nominatedNodeName is set only when this pod preempts other pods on the node.',
      },
      {
        name: 'Readiness Gates',
        priority: 1,
        description: 'If specified, all readiness gates will be evaluated for pod readiness.',
      },
    ],
    cells: (p, now) => {
      const gates = p.spec?.readinessGates ?? []
      const gateText = gates.length
        ? `${gates.filter((g: Obj) => (p.status?.conditions ?? []).some((c: Obj) => c.type === g.conditionType && c.status === 'True')).length}/${gates.length}`
        : '<none>'
      return [
        p.metadata.name,
        podReady(p),
        podStatusText(p),
        restarts(p),
        age(p.metadata.creationTimestamp, now),
        none(p.status?.podIP),
        none(p.spec?.nodeName),
        none(p.status?.nominatedNodeName),
        gateText,
      ]
    },
  },
  CertificateSigningRequest: {
    cols: [
      NAME,
      AGE,
      { name: 'SignerName', description: 'Only one of signerName or signerNames may be specified.' },
      { name: 'Requestor', description: 'Name of the user who submitted the request.' },
      { name: 'RequestedDuration', description: 'Requested duration of the certificate.' },
      { name: 'Condition', description: 'Approval and issuance state of the request.' },
    ],
    cells: (c, now) => [
      c.metadata.name,
      age(c.metadata.creationTimestamp, now),
      c.spec?.signerName ?? '',
      c.spec?.username ?? '',
      durationText(c.spec?.expirationSeconds),
      csrCondition(c),
    ],
  },
  Namespace: {
    cols: [NAME, { name: 'Status', description: 'The status of the namespace' }, AGE],
    cells: (n, now) => [n.metadata.name, n.status?.phase ?? 'Active', age(n.metadata.creationTimestamp, now)],
  },
  Event: {
    cols: [
      { name: 'Last Seen', description: 'The time at which the most recent occurrence of this event was recorded.' },
      { name: 'Type', description: 'Type of this event (Normal, Warning), new types could be added in the future.' },
      {
        name: 'Reason',
        description:
          'This should be a short, machine understandable string that gives the reason for this event being generated.',
      },
      { name: 'Object', description: 'The object that this event is about.' },
      { name: 'Subobject', priority: 1, description: 'The subobject of the involved object.' },
      { name: 'Source', priority: 1, description: 'The component reporting this event.' },
      { name: 'Message', description: 'A human-readable description of the status of this operation.' },
      { name: 'First Seen', priority: 1, description: 'The time at which the event was first recorded.' },
      { name: 'Count', priority: 1, description: 'The number of times this event has occurred.' },
      { name: 'Name', priority: 1, format: 'name', description: 'Name must be unique within a namespace.' },
    ],
    cells: (e, now) => [
      age(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp, now),
      e.type ?? '',
      e.reason ?? '',
      eventObject(e),
      e.involvedObject?.fieldPath ?? '',
      [e.source?.component, e.source?.host].filter(Boolean).join(', '),
      (e.message ?? '').trim(),
      age(e.firstTimestamp ?? e.metadata.creationTimestamp, now),
      e.count ?? 1,
      e.metadata.name,
    ],
  },
  ConfigMap: {
    cols: [NAME, { name: 'Data', type: 'integer', description: 'Data contains the configuration data.' }, AGE],
    cells: (c, now) => [
      c.metadata.name,
      Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length,
      age(c.metadata.creationTimestamp, now),
    ],
  },
  Lease: {
    cols: [
      NAME,
      { name: 'Holder', description: 'holderIdentity contains the identity of the holder of a current lease.' },
      AGE,
    ],
    cells: (l, now) => [l.metadata.name, l.spec?.holderIdentity ?? '', age(l.metadata.creationTimestamp, now)],
  },
}

export function tableColumns(r: ResourceDef): object[] {
  return (PRINTERS[r.kind]?.cols ?? [NAME, AGE]).map((c) => ({
    name: c.name,
    type: c.type ?? 'string',
    format: c.format ?? '',
    description: c.description ?? '',
    priority: c.priority ?? 0,
  }))
}

/** includeObject: None | Metadata (default) | Object, as the real server honours it. */
export function tableRow(r: ResourceDef, o: Obj, includeObject: string | null, now = Date.now()): object {
  const p = PRINTERS[r.kind]
  const cells = p ? p.cells(o, now) : [o.metadata.name, age(o.metadata.creationTimestamp, now)]
  const row: Obj = { cells }
  if (includeObject === 'Object') row.object = o
  else if (includeObject !== 'None')
    row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata }
  return row
}

export function toTable(
  r: ResourceDef,
  objs: Obj[],
  resourceVersion: string | undefined,
  includeObject: string | null,
  withColumns = true,
): object {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: resourceVersion ? { resourceVersion } : {},
    ...(withColumns ? { columnDefinitions: tableColumns(r) } : {}),
    rows: objs.map((o) => tableRow(r, o, includeObject)),
  }
}

export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept)
}
