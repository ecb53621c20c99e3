// Talos v1.10.3's ManifestApplyController for a control plane's cluster.inlineManifests, against the lab API's store.
// Which objects, in what order: lab/manifest-objects.ts. Source of the rest: manifest_apply.go (each object read and
// created only when missing, never updated; run again on every event while etcd is healthy).
// Not modelled: cluster.extraManifests (URLs Talos downloads), and Talos's own bootstrap manifests (RBAC, the
// bootstrap token, CoreDNS, kube-proxy: kinds this API does not serve); objects of such kinds are logged and skipped,
// as the real controller skips a kind the API server has no mapping for.
import { inlineManifestObjects, objName } from '../manifest-objects.ts'
import { etcdHealthy } from '../node-services.ts'
import { prepareCreate } from './admission.ts'
import { ApiError, type Obj } from './errors.ts'
import type { LabMachine } from './labinfo.ts'
import { admitPodCreate, podSecurityConfig } from './pod-security.ts'
import { RESOURCES, byKind } from './resources.ts'
import type { Store } from './storage.ts'

/** Talos's clients on a control plane: LocalhostAdminKubeconfig (CN admin, O system:masters). */
const TALOS_ADMIN = { name: 'admin', groups: ['system:masters'] }
const NS = byKind('Namespace')

const nameOf = (o: Obj) => String(o.metadata?.name ?? '')

/**
 * One run of apply() for these objects: each one is read and created only when it is missing (an existing one is
 * left as it is, whatever it holds). Returns what it created and the errors; a connection-like failure (the real
 * controller's default case: Forbidden, a missing namespace) ends the run there, as it does in Talos.
 */
export async function applyObjects(
  store: Store,
  objects: Obj[],
  cfg: Obj | undefined,
): Promise<{ created: string[]; errors: string[] }> {
  const created: string[] = []
  const errors: string[] = []
  for (const src of objects) {
    const name = objName(src)
    const av = String(src.apiVersion ?? '')
    const [group, version] = av.includes('/') ? av.split('/', 2) : ['', av]
    const r = RESOURCES.find((x) => x.group === group && x.version === version && x.kind === src.kind)
    if (!r) {
      errors.push(`error creating mapping for object ${name}: no matches for kind "${src.kind}" in version "${av}"`)
      continue
    }
    const obj = structuredClone(src)
    const ns = r.namespaced ? String(obj.metadata?.namespace || 'default') : undefined
    if (await store.tryGet(r, ns, nameOf(obj))) continue
    try {
      if (ns) await store.get(NS, undefined, ns)
      const prepared = prepareCreate(r, obj, ns, TALOS_ADMIN)
      if (r.kind === 'Pod') {
        const nsObj = (await store.get(NS, undefined, ns!)).obj
        const v = admitPodCreate(
          podSecurityConfig(cfg),
          { name: ns!, labels: nsObj.metadata?.labels },
          prepared,
          TALOS_ADMIN.name,
        )
        if (!v.allowed) throw new ApiError(v.code, v.reason, v.message)
      }
      await store.create(r, prepared)
      created.push(name)
    } catch (e) {
      if (!(e instanceof ApiError)) throw e
      if (e.reason === 'AlreadyExists') continue
      if (['BadRequest', 'Invalid', 'MethodNotAllowed'].includes(e.reason)) {
        errors.push(`error creating ${name}: ${e.message}`)
        continue
      }
      errors.push(`error creating ${name}: ${e.message}`)
      break
    }
  }
  return { created, errors }
}

const lastErrors = new Map<string, string>()

/**
 * The ManifestApplyController of every control plane that runs with a config (not down, its API server up) and whose
 * etcd is healthy: its config's inline manifests applied through this API's store. Logs what it creates, and each
 * distinct failure once.
 */
export async function applyInlineManifests(
  store: Store,
  machines: LabMachine[],
  log: (m: string) => void,
): Promise<void> {
  for (const m of machines) {
    if (m.node.role !== 'controlplane' || !m.up || m.node.faults?.apiDown) continue
    if (!((m.cfg?.cluster?.inlineManifests ?? []) as unknown[]).length) continue
    if (!(await etcdHealthy(m.node))) continue
    const { objects, errors: parse } = inlineManifestObjects(m.cfg)
    const { created, errors } = await applyObjects(store, objects, m.cfg)
    for (const c of created) log(`${m.node.name}: k8s.ManifestApplyController: created ${c}`)
    const all = [...parse, ...errors].join('; ')
    if (all && lastErrors.get(m.node.name) !== all) log(`${m.node.name}: k8s.ManifestApplyController: ${all}`)
    if (all) lastErrors.set(m.node.name, all)
    else lastErrors.delete(m.node.name)
  }
}
