// Which changes of a running node's machine config Talos cannot apply at once. `talosctl apply-config --mode auto`
// (what 02 uses) then reboots the node to apply them. Talos v1.10.3 compares the v1alpha1 documents after copying
// over the fields it applies live (internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_runtime.go CanApplyImmediate
// :119-206): .debug, .cluster, and these machine fields (YAML names from pkg/machinery/config/types/v1alpha1/
// v1alpha1_types.go). Any other difference, machine.files for one, needs a reboot. Other documents
// (UserVolumeConfig, …) are not part of that comparison.
import { parseAllDocuments } from 'yaml'

const LIVE_MACHINE = new Set([
  'ca',
  'acceptedCAs',
  'time',
  'certSANs',
  'install',
  'network',
  'sysfs',
  'sysctls',
  'logging',
  'controlPlane',
  'kubelet',
  'kernel',
  'registries',
  'pods',
  'seccompProfiles',
  'nodeAnnotations',
  'nodeLabels',
  'nodeTaints',
])
const LIVE_FEATURES = new Set([
  'kubernetesTalosAPIAccess',
  'kubePrism',
  'hostDNS',
  'imageCache',
  'nodeAddressSortAlgorithm',
])

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v)

function v1alpha1(text: string): Obj {
  for (const d of parseAllDocuments(text)) {
    const v = d.toJS() as unknown
    if (isObj(v) && v.version === 'v1alpha1') return v
  }
  return {}
}

const same = (a: unknown, b: unknown) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b))
function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted)
  if (isObj(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sorted(v[k])]),
    )
  return v
}

/** The dotted fields that differ and that Talos applies only by rebooting (empty: the change applies live). */
export function fieldsNeedingReboot(runningText: string, renderedText: string): string[] {
  const a = v1alpha1(runningText)
  const b = v1alpha1(renderedText)
  const out: string[] = []
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
    if (k !== 'debug' && k !== 'cluster' && k !== 'machine' && !same(a[k], b[k])) out.push(k)
  const ma = isObj(a.machine) ? a.machine : {}
  const mb = isObj(b.machine) ? b.machine : {}
  for (const k of new Set([...Object.keys(ma), ...Object.keys(mb)])) {
    if (LIVE_MACHINE.has(k)) continue
    if (k === 'features' && isObj(ma.features) && isObj(mb.features)) {
      const fa = ma.features
      const fb = mb.features
      for (const f of new Set([...Object.keys(fa), ...Object.keys(fb)]))
        if (!LIVE_FEATURES.has(f) && !same(fa[f], fb[f])) out.push(`machine.features.${f}`)
      continue
    }
    if (!same(ma[k], mb[k])) out.push(`machine.${k}`)
  }
  return out
}
