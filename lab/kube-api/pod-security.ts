// The kube-apiserver's PodSecurity admission plugin for pods, pure: k8s.io/pod-security-admission v0.33.1 (Kubernetes
// v1.33.1), read from its source: policy/check_*.go (every baseline and restricted check, with their versions),
// policy/registry.go (which checks a level:version runs, in what order), policy/checks.go (how results join),
// api/helpers.go (PolicyToEvaluate: namespace labels over the configured defaults) and admission/admission.go
// (ValidatePod / EvaluatePod: exemptions, the enforce refusal, the warn level's warnings). The configuration is the
// PodSecurityConfiguration Talos passes the API server: the control-plane machine config's
// cluster.apiServer.admissionControl entry named PodSecurity.
// Not modelled: audit (annotations nobody here reads), namespace label validation on namespace writes, and pod
// updates (the real plugin only re-checks the few fields a pod update may change).
import type { Obj } from './errors.ts'

export type Level = 'privileged' | 'baseline' | 'restricted'
/** [major, minor], or 'latest'. */
export type Version = [number, number] | 'latest'
export interface LevelVersion {
  level: Level
  version: Version
}
export interface Policy {
  enforce: LevelVersion
  audit: LevelVersion
  warn: LevelVersion
}
export interface PodSecurityConfig {
  defaults: Policy
  exemptions: { namespaces: string[]; usernames: string[]; runtimeClasses: string[] }
}

const LEVELS: Level[] = ['privileged', 'baseline', 'restricted']
const privilegedLatest = (): LevelVersion => ({ level: 'privileged', version: 'latest' })

/** What kube-apiserver runs with when nothing configures the plugin: privileged:latest everywhere, no exemptions. */
export const DEFAULT_POD_SECURITY: PodSecurityConfig = {
  defaults: { enforce: privilegedLatest(), audit: privilegedLatest(), warn: privilegedLatest() },
  exemptions: { namespaces: [], usernames: [], runtimeClasses: [] },
}

/** api.ParseLevel: an unknown level fails closed (restricted). */
function parseLevel(s: string): { level: Level; error?: string } {
  if ((LEVELS as string[]).includes(s)) return { level: s as Level }
  return { level: 'restricted', error: `must be one of ${LEVELS.join(', ')}` }
}

/** api.ParseVersion: "latest" or "v1.x"; anything else is an error and latest. */
function parseVersion(s: string): { version: Version; error?: string } {
  if (s === 'latest') return { version: 'latest' }
  const m = /^v1\.([0-9]|[1-9][0-9]*)$/.exec(s)
  if (!m) return { version: 'latest', error: 'must be "latest" or "v1.x"' }
  return { version: [1, Number(m[1])] }
}

export const versionString = (v: Version) => (v === 'latest' ? 'latest' : `v${v[0]}.${v[1]}`)
export const levelVersionString = (lv: LevelVersion) => `${lv.level}:${versionString(lv.version)}`

/**
 * The PodSecurityConfiguration in a control-plane machine config (cluster.apiServer.admissionControl[name=PodSecurity]
 * .configuration), defaulted as the API server's scheme defaults it (levels privileged, versions latest).
 */
export function podSecurityConfig(machineConfig: Obj | undefined): PodSecurityConfig {
  const entries: Obj[] = machineConfig?.cluster?.apiServer?.admissionControl ?? []
  const c: Obj | undefined = entries.find((e) => e?.name === 'PodSecurity')?.configuration
  if (!c) return structuredClone(DEFAULT_POD_SECURITY)
  const d: Obj = c.defaults ?? {}
  const lv = (level: unknown, version: unknown): LevelVersion => ({
    level: parseLevel(String(level || 'privileged')).level,
    version: parseVersion(String(version || 'latest')).version,
  })
  const list = (x: unknown) => (Array.isArray(x) ? x.map(String) : [])
  return {
    defaults: {
      enforce: lv(d.enforce, d['enforce-version']),
      audit: lv(d.audit, d['audit-version']),
      warn: lv(d.warn, d['warn-version']),
    },
    exemptions: {
      namespaces: list(c.exemptions?.namespaces),
      usernames: list(c.exemptions?.usernames),
      runtimeClasses: list(c.exemptions?.runtimeClasses),
    },
  }
}

const LABEL = 'pod-security.kubernetes.io/'

const compareLevels = (a: Level, b: Level) => LEVELS.indexOf(a) - LEVELS.indexOf(b)

/** api.PolicyToEvaluate: the namespace's pod-security.kubernetes.io labels over the defaults, and the label errors. */
export function policyToEvaluate(
  labels: Record<string, string> | undefined,
  defaults: Policy,
): { policy: Policy; errors: string[] } {
  // each level its own copy (one shared object in the defaults must not tie them together)
  const p: Policy = {
    enforce: structuredClone(defaults.enforce),
    audit: structuredClone(defaults.audit),
    warn: structuredClone(defaults.warn),
  }
  const errors: string[] = []
  if (!labels || !Object.keys(labels).length) return { policy: p, errors }
  const err = (label: string, value: string, e?: string) => {
    if (e) errors.push(`metadata.labels[${LABEL}${label}]: Invalid value: "${value}": ${e}`)
  }
  let hasEnforceLevel = false
  let hasWarnLevel = false
  let hasWarnVersion = false
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, LABEL + k)
  if (has('enforce')) {
    const r = parseLevel(labels[LABEL + 'enforce']!)
    p.enforce.level = r.level
    hasEnforceLevel = !r.error
    err('enforce', labels[LABEL + 'enforce']!, r.error)
  }
  if (has('enforce-version')) {
    const r = parseVersion(labels[LABEL + 'enforce-version']!)
    p.enforce.version = r.version
    err('enforce-version', labels[LABEL + 'enforce-version']!, r.error)
  }
  if (has('audit')) {
    const r = parseLevel(labels[LABEL + 'audit']!)
    p.audit.level = r.error ? 'privileged' : r.level // fail open for audit
    err('audit', labels[LABEL + 'audit']!, r.error)
  }
  if (has('audit-version')) {
    const r = parseVersion(labels[LABEL + 'audit-version']!)
    p.audit.version = r.version
    err('audit-version', labels[LABEL + 'audit-version']!, r.error)
  }
  if (has('warn')) {
    hasWarnLevel = true
    const r = parseLevel(labels[LABEL + 'warn']!)
    p.warn.level = r.error ? 'privileged' : r.level // fail open for warn
    err('warn', labels[LABEL + 'warn']!, r.error)
  }
  if (has('warn-version')) {
    hasWarnVersion = true
    const r = parseVersion(labels[LABEL + 'warn-version']!)
    p.warn.version = r.version
    err('warn-version', labels[LABEL + 'warn-version']!, r.error)
  }
  // an enforce label stricter than the warn level raises warn with it
  if (!hasWarnLevel && hasEnforceLevel && compareLevels(p.enforce.level, p.warn.level) > 0) {
    p.warn.level = p.enforce.level
    if (!hasWarnVersion) p.warn.version = p.enforce.version
  }
  return { policy: p, errors }
}

// ---- the checks (policy/check_*.go) ------------------------------------------------------------------------------

interface CheckResult {
  allowed: boolean
  reason?: string
  detail?: string
}
type CheckFn = (meta: Obj, spec: Obj) => CheckResult
interface Check {
  id: string
  level: 'baseline' | 'restricted'
  versions: { min: [number, number]; fn: CheckFn; overrides?: string[] }[]
}

const ALLOWED: CheckResult = { allowed: true }
const plural = (one: string, many: string, n: number) => (n === 1 ? one : many)
const joinQuote = (items: string[]) => (items.length ? `"${items.join('", "')}"` : '')
/** Go's sort.Strings / sets.List order: by UTF-8 bytes, which for these ASCII names is code-unit order. */
const sorted = (s: Iterable<string>) => [...new Set(s)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

/** visitContainers: init containers, containers, ephemeral containers. */
function containers(spec: Obj): Obj[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])]
}
const sc = (c: Obj): Obj | undefined => c.securityContext ?? undefined
const podSc = (spec: Obj): Obj | undefined => spec.securityContext ?? undefined
const isWindows = (spec: Obj) => spec.os?.name === 'windows'
/** "container(s) "a", "b"" */
const containersPhrase = (names: string[]) => `${plural('container', 'containers', names.length)} ${joinQuote(names)}`

function hostNamespaces(_m: Obj, spec: Obj): CheckResult {
  const on: string[] = []
  if (spec.hostNetwork) on.push('hostNetwork=true')
  if (spec.hostPID) on.push('hostPID=true')
  if (spec.hostIPC) on.push('hostIPC=true')
  return on.length ? { allowed: false, reason: 'host namespaces', detail: on.join(', ') } : ALLOWED
}

function privileged(_m: Obj, spec: Obj): CheckResult {
  const bad = containers(spec)
    .filter((c) => sc(c)?.privileged === true)
    .map((c) => c.name)
  if (!bad.length) return ALLOWED
  return {
    allowed: false,
    reason: 'privileged',
    detail: `${containersPhrase(bad)} must not set securityContext.privileged=true`,
  }
}

const CAPS_BASELINE = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
])

function capabilitiesBaseline(_m: Obj, spec: Obj): CheckResult {
  const bad: string[] = []
  const caps: string[] = []
  for (const c of containers(spec)) {
    const add: string[] = sc(c)?.capabilities?.add ?? []
    const extra = add.filter((x) => !CAPS_BASELINE.has(x))
    if (extra.length) {
      bad.push(c.name)
      caps.push(...extra)
    }
  }
  if (!bad.length) return ALLOWED
  return {
    allowed: false,
    reason: 'non-default capabilities',
    detail: `${containersPhrase(bad)} must not include ${joinQuote(sorted(caps))} in securityContext.capabilities.add`,
  }
}

function hostPathVolumes(_m: Obj, spec: Obj): CheckResult {
  const bad = ((spec.volumes ?? []) as Obj[]).filter((v) => v.hostPath != null).map((v) => v.name)
  if (!bad.length) return ALLOWED
  return {
    allowed: false,
    reason: 'hostPath volumes',
    detail: `${plural('volume', 'volumes', bad.length)} ${joinQuote(bad)}`,
  }
}

function hostPorts(_m: Obj, spec: Obj): CheckResult {
  const bad: string[] = []
  const ports: string[] = []
  for (const c of containers(spec)) {
    const hp = ((c.ports ?? []) as Obj[]).filter((p) => p.hostPort && p.hostPort !== 0).map((p) => String(p.hostPort))
    if (hp.length) {
      bad.push(c.name)
      ports.push(...hp)
    }
  }
  if (!bad.length) return ALLOWED
  const list = sorted(ports) // sets.NewString().List(): string order, as Go sorts them
  return {
    allowed: false,
    reason: 'hostPort',
    detail: `${containersPhrase(bad)} ${plural('uses', 'use', bad.length)} ${plural('hostPort', 'hostPorts', list.length)} ${list.join(', ')}`,
  }
}

const APPARMOR_OK_TYPES = new Set(['RuntimeDefault', 'Localhost'])
const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/'

function appArmorProfile(meta: Obj, spec: Obj): CheckResult {
  const setters: string[] = []
  const values: string[] = []
  const podType = podSc(spec)?.appArmorProfile
  if (podType && !APPARMOR_OK_TYPES.has(podType.type)) {
    setters.push('pod')
    values.push(String(podType.type ?? ''))
  }
  const bad: string[] = []
  for (const c of containers(spec)) {
    const p = sc(c)?.appArmorProfile
    if (p && !APPARMOR_OK_TYPES.has(p.type)) {
      bad.push(c.name)
      values.push(String(p.type ?? ''))
    }
  }
  if (bad.length) setters.push(containersPhrase(bad))
  const annotations = Object.entries<string>(meta.annotations ?? {})
    .filter(
      ([k, v]) =>
        k.startsWith(APPARMOR_ANNOTATION) && !(v === '' || v === 'runtime/default' || v.startsWith('localhost/')),
    )
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
  const valueList = sorted(values)
  if (annotations.length) {
    valueList.push(...sorted(annotations))
    setters.push(plural('annotation', 'annotations', annotations.length))
  }
  if (!setters.length) return ALLOWED
  return {
    allowed: false,
    reason: plural('forbidden AppArmor profile', 'forbidden AppArmor profiles', valueList.length),
    detail: `${setters.join(' and ')} must not set AppArmor profile type to ${joinQuote(valueList)}`,
  }
}

const SELINUX_TYPES_1_0 = ['', 'container_t', 'container_init_t', 'container_kvm_t']
const SELINUX_TYPES_1_31 = [...SELINUX_TYPES_1_0, 'container_engine_t']

function seLinuxOptions(allowedTypes: string[]): CheckFn {
  return (_m, spec) => {
    const setters: string[] = []
    const types: string[] = []
    let user = false
    let role = false
    const valid = (o: Obj) => {
      let ok = true
      const t = String(o.type ?? '')
      if (!allowedTypes.includes(t)) {
        ok = false
        types.push(t)
      }
      if (o.user) {
        ok = false
        user = true
      }
      if (o.role) {
        ok = false
        role = true
      }
      return ok
    }
    const po = podSc(spec)?.seLinuxOptions
    if (po && !valid(po)) setters.push('pod')
    const bad = containers(spec)
      .filter((c) => sc(c)?.seLinuxOptions && !valid(sc(c)!.seLinuxOptions))
      .map((c) => c.name)
    if (bad.length) setters.push(containersPhrase(bad))
    if (!setters.length) return ALLOWED
    const data: string[] = []
    const ts = sorted(types)
    if (ts.length) data.push(`${plural('type', 'types', ts.length)} ${joinQuote(ts)}`)
    if (user) data.push('user may not be set')
    if (role) data.push('role may not be set')
    return {
      allowed: false,
      reason: 'seLinuxOptions',
      detail: `${setters.join(' and ')} set forbidden securityContext.seLinuxOptions: ${data.join('; ')}`,
    }
  }
}

function procMount(_m: Obj, spec: Obj): CheckResult {
  const bad: string[] = []
  const types: string[] = []
  for (const c of containers(spec)) {
    const pm = sc(c)?.procMount
    if (pm != null && pm !== 'Default') {
      bad.push(c.name)
      types.push(String(pm))
    }
  }
  if (!bad.length) return ALLOWED
  return {
    allowed: false,
    reason: 'procMount',
    detail: `${containersPhrase(bad)} must not set securityContext.procMount to ${joinQuote(sorted(types))}`,
  }
}

const SECCOMP_POD_ANNOTATION = 'seccomp.security.alpha.kubernetes.io/pod'
const SECCOMP_CONTAINER_ANNOTATION = 'container.seccomp.security.alpha.kubernetes.io/'
const validSeccomp = (t: unknown) => t === 'Localhost' || t === 'RuntimeDefault'
const validSeccompAnnotation = (v: string) =>
  v === 'runtime/default' || v === 'docker/default' || v.startsWith('localhost/')

function seccompBaseline_1_0(meta: Obj, spec: Obj): CheckResult {
  const a: Record<string, string> = meta.annotations ?? {}
  const bad: string[] = []
  const keys = [SECCOMP_POD_ANNOTATION, ...containers(spec).map((c) => SECCOMP_CONTAINER_ANNOTATION + c.name)]
  for (const k of keys) if (k in a && !validSeccompAnnotation(a[k]!)) bad.push(`${k}=${JSON.stringify(a[k])}`)
  const list = sorted(bad)
  if (!list.length) return ALLOWED
  return {
    allowed: false,
    reason: 'seccompProfile',
    detail: `forbidden ${plural('annotation', 'annotations', list.length)} ${list.join(', ')}`,
  }
}

function seccompBaseline_1_19(_m: Obj, spec: Obj): CheckResult {
  const setters: string[] = []
  const values: string[] = []
  const ps = podSc(spec)?.seccompProfile
  if (ps && !validSeccomp(ps.type)) {
    setters.push('pod')
    values.push(String(ps.type ?? ''))
  }
  const bad: string[] = []
  for (const c of containers(spec)) {
    const s = sc(c)?.seccompProfile
    if (s && !validSeccomp(s.type)) {
      bad.push(c.name)
      values.push(String(s.type ?? ''))
    }
  }
  if (bad.length) setters.push(containersPhrase(bad))
  if (!setters.length) return ALLOWED
  return {
    allowed: false,
    reason: 'seccompProfile',
    detail: `${setters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(sorted(values))}`,
  }
}

const SYSCTLS_1_0 = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
]
const SYSCTLS_1_27 = [...SYSCTLS_1_0, 'net.ipv4.ip_local_reserved_ports']
const SYSCTLS_1_29 = [
  ...SYSCTLS_1_27,
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]
const SYSCTLS_1_32 = [...SYSCTLS_1_29, 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem']

function sysctls(allowed: string[]): CheckFn {
  return (_m, spec) => {
    const bad = ((podSc(spec)?.sysctls ?? []) as Obj[]).map((s) => String(s.name)).filter((n) => !allowed.includes(n))
    return bad.length ? { allowed: false, reason: 'forbidden sysctls', detail: bad.join(', ') } : ALLOWED
  }
}

function windowsHostProcess(_m: Obj, spec: Obj): CheckResult {
  const bad = containers(spec)
    .filter((c) => sc(c)?.windowsOptions?.hostProcess === true)
    .map((c) => c.name)
  const setters: string[] = []
  if (podSc(spec)?.windowsOptions?.hostProcess === true) setters.push('pod')
  if (bad.length) setters.push(containersPhrase(bad))
  if (!setters.length) return ALLOWED
  return {
    allowed: false,
    reason: 'hostProcess',
    detail: `${setters.join(' and ')} must not set securityContext.windowsOptions.hostProcess=true`,
  }
}

// restricted

function allowPrivilegeEscalation(skipWindows: boolean): CheckFn {
  return (_m, spec) => {
    if (skipWindows && isWindows(spec)) return ALLOWED
    const bad = containers(spec)
      .filter((c) => sc(c)?.allowPrivilegeEscalation !== false)
      .map((c) => c.name)
    if (!bad.length) return ALLOWED
    return {
      allowed: false,
      reason: 'allowPrivilegeEscalation != false',
      detail: `${containersPhrase(bad)} must set securityContext.allowPrivilegeEscalation=false`,
    }
  }
}

function capabilitiesRestricted(skipWindows: boolean): CheckFn {
  return (_m, spec) => {
    if (skipWindows && isWindows(spec)) return ALLOWED
    const missingDrop: string[] = []
    const adding: string[] = []
    const caps: string[] = []
    for (const c of containers(spec)) {
      const cap = sc(c)?.capabilities
      if (!cap) {
        missingDrop.push(c.name)
        continue
      }
      if (!((cap.drop ?? []) as string[]).includes('ALL')) missingDrop.push(c.name)
      const extra = ((cap.add ?? []) as string[]).filter((x) => x !== 'NET_BIND_SERVICE')
      if (extra.length) {
        adding.push(c.name)
        caps.push(...extra)
      }
    }
    const details: string[] = []
    if (missingDrop.length)
      details.push(`${containersPhrase(missingDrop)} must set securityContext.capabilities.drop=["ALL"]`)
    if (adding.length)
      details.push(
        `${containersPhrase(adding)} must not include ${joinQuote(sorted(caps))} in securityContext.capabilities.add`,
      )
    return details.length
      ? { allowed: false, reason: 'unrestricted capabilities', detail: details.join('; ') }
      : ALLOWED
  }
}

const ALLOWED_VOLUMES = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'image',
  'persistentVolumeClaim',
  'projected',
  'secret',
]
/** The order restrictedVolumes_1_0 tests the source types in (the first one set names the volume's type). */
const RESTRICTED_VOLUME_TYPES = [
  'hostPath',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'nfs',
  'iscsi',
  'glusterfs',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'fc',
  'azureFile',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'portworxVolume',
  'scaleIO',
  'storageos',
]

function restrictedVolumes(_m: Obj, spec: Obj): CheckResult {
  const bad: string[] = []
  const types: string[] = []
  for (const v of (spec.volumes ?? []) as Obj[]) {
    if (ALLOWED_VOLUMES.some((t) => v[t] != null)) continue
    bad.push(v.name)
    types.push(RESTRICTED_VOLUME_TYPES.find((t) => v[t] != null) ?? 'unknown')
  }
  if (!bad.length) return ALLOWED
  const ts = sorted(types)
  return {
    allowed: false,
    reason: 'restricted volume types',
    detail: `${plural('volume', 'volumes', bad.length)} ${joinQuote(bad)} ${plural('uses', 'use', bad.length)} ${plural('restricted volume type', 'restricted volume types', ts.length)} ${joinQuote(ts)}`,
  }
}

function runAsNonRoot(_m: Obj, spec: Obj): CheckResult {
  const setters: string[] = []
  let podNonRoot = false
  const p = podSc(spec)?.runAsNonRoot
  if (p != null) {
    if (!p) setters.push('pod')
    else podNonRoot = true
  }
  const explicit: string[] = []
  const implicit: string[] = []
  for (const c of containers(spec)) {
    const v = sc(c)?.runAsNonRoot
    if (v != null) {
      if (!v) explicit.push(c.name)
    } else if (!podNonRoot) implicit.push(c.name)
  }
  if (explicit.length) setters.push(containersPhrase(explicit))
  if (setters.length)
    return {
      allowed: false,
      reason: 'runAsNonRoot != true',
      detail: `${setters.join(' and ')} must not set securityContext.runAsNonRoot=false`,
    }
  if (implicit.length)
    return {
      allowed: false,
      reason: 'runAsNonRoot != true',
      detail: `pod or ${containersPhrase(implicit)} must set securityContext.runAsNonRoot=true`,
    }
  return ALLOWED
}

function runAsUser(_m: Obj, spec: Obj): CheckResult {
  const setters: string[] = []
  if (podSc(spec)?.runAsUser === 0) setters.push('pod')
  const bad = containers(spec)
    .filter((c) => sc(c)?.runAsUser === 0)
    .map((c) => c.name)
  if (bad.length) setters.push(containersPhrase(bad))
  if (!setters.length) return ALLOWED
  return { allowed: false, reason: 'runAsUser=0', detail: `${setters.join(' and ')} must not set runAsUser=0` }
}

function seccompRestricted(skipWindows: boolean): CheckFn {
  return (_m, spec) => {
    if (skipWindows && isWindows(spec)) return ALLOWED
    const setters: string[] = []
    const values: string[] = []
    let podSet = false
    const ps = podSc(spec)?.seccompProfile
    if (ps) {
      if (!validSeccomp(ps.type)) {
        setters.push('pod')
        values.push(String(ps.type ?? ''))
      } else podSet = true
    }
    const explicit: string[] = []
    const implicit: string[] = []
    for (const c of containers(spec)) {
      const s = sc(c)?.seccompProfile
      if (s) {
        if (!validSeccomp(s.type)) {
          explicit.push(c.name)
          values.push(String(s.type ?? ''))
        }
      } else if (!podSet) implicit.push(c.name)
    }
    if (explicit.length) setters.push(containersPhrase(explicit))
    if (setters.length)
      return {
        allowed: false,
        reason: 'seccompProfile',
        detail: `${setters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(sorted(values))}`,
      }
    if (implicit.length)
      return {
        allowed: false,
        reason: 'seccompProfile',
        detail: `pod or ${containersPhrase(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
      }
    return ALLOWED
  }
}

const CHECKS: Check[] = [
  { id: 'appArmorProfile', level: 'baseline', versions: [{ min: [1, 0], fn: appArmorProfile }] },
  { id: 'capabilities_baseline', level: 'baseline', versions: [{ min: [1, 0], fn: capabilitiesBaseline }] },
  { id: 'hostNamespaces', level: 'baseline', versions: [{ min: [1, 0], fn: hostNamespaces }] },
  { id: 'hostPathVolumes', level: 'baseline', versions: [{ min: [1, 0], fn: hostPathVolumes }] },
  { id: 'hostPorts', level: 'baseline', versions: [{ min: [1, 0], fn: hostPorts }] },
  { id: 'privileged', level: 'baseline', versions: [{ min: [1, 0], fn: privileged }] },
  { id: 'procMount', level: 'baseline', versions: [{ min: [1, 0], fn: procMount }] },
  {
    id: 'seLinuxOptions',
    level: 'baseline',
    versions: [
      { min: [1, 0], fn: seLinuxOptions(SELINUX_TYPES_1_0) },
      { min: [1, 31], fn: seLinuxOptions(SELINUX_TYPES_1_31) },
    ],
  },
  {
    id: 'seccompProfile_baseline',
    level: 'baseline',
    versions: [
      { min: [1, 0], fn: seccompBaseline_1_0 },
      { min: [1, 19], fn: seccompBaseline_1_19 },
    ],
  },
  {
    id: 'sysctls',
    level: 'baseline',
    versions: [
      { min: [1, 0], fn: sysctls(SYSCTLS_1_0) },
      { min: [1, 27], fn: sysctls(SYSCTLS_1_27) },
      { min: [1, 29], fn: sysctls(SYSCTLS_1_29) },
      { min: [1, 32], fn: sysctls(SYSCTLS_1_32) },
    ],
  },
  { id: 'windowsHostProcess', level: 'baseline', versions: [{ min: [1, 0], fn: windowsHostProcess }] },
  {
    id: 'allowPrivilegeEscalation',
    level: 'restricted',
    versions: [
      { min: [1, 8], fn: allowPrivilegeEscalation(false) },
      { min: [1, 25], fn: allowPrivilegeEscalation(true) },
    ],
  },
  {
    id: 'capabilities_restricted',
    level: 'restricted',
    versions: [
      { min: [1, 22], fn: capabilitiesRestricted(false), overrides: ['capabilities_baseline'] },
      { min: [1, 25], fn: capabilitiesRestricted(true), overrides: ['capabilities_baseline'] },
    ],
  },
  {
    id: 'restrictedVolumes',
    level: 'restricted',
    versions: [{ min: [1, 0], fn: restrictedVolumes, overrides: ['hostPathVolumes'] }],
  },
  { id: 'runAsNonRoot', level: 'restricted', versions: [{ min: [1, 0], fn: runAsNonRoot }] },
  { id: 'runAsUser', level: 'restricted', versions: [{ min: [1, 23], fn: runAsUser }] },
  {
    id: 'seccompProfile_restricted',
    level: 'restricted',
    versions: [
      { min: [1, 19], fn: seccompRestricted(false), overrides: ['seccompProfile_baseline'] },
      { min: [1, 25], fn: seccompRestricted(true), overrides: ['seccompProfile_baseline'] },
    ],
  },
]

const older = (a: [number, number], b: [number, number]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])
/** registry.go maxVersion: the newest MinimumVersion of any check; "latest" and anything newer evaluate as it. */
const MAX_VERSION: [number, number] = CHECKS.flatMap((c) => c.versions.map((v) => v.min)).reduce((m, v) =>
  older(m, v) ? v : m,
)

/** The version of check c in force at v, if any. */
function versionAt(c: Check, v: [number, number]) {
  let hit: Check['versions'][number] | undefined
  for (const cv of c.versions) if (!older(v, cv.min)) hit = cv
  return hit
}

/**
 * registry.EvaluatePod: the checks of a level at a version, in the registry's order (baseline IDs sorted, then
 * restricted IDs sorted; restricted runs the baseline checks no restricted check of that version overrides).
 */
export function evaluatePod(lv: LevelVersion, meta: Obj, spec: Obj): CheckResult[] {
  if (lv.level === 'privileged') return []
  const v: [number, number] = lv.version === 'latest' || older(MAX_VERSION, lv.version) ? MAX_VERSION : lv.version
  const byId = (a: Check, b: Check) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  const ordered = [
    ...CHECKS.filter((c) => c.level === 'baseline').sort(byId),
    ...CHECKS.filter((c) => c.level === 'restricted').sort(byId),
  ]
  const overridden = new Set(
    lv.level === 'restricted'
      ? CHECKS.filter((c) => c.level === 'restricted').flatMap((c) => versionAt(c, v)?.overrides ?? [])
      : [],
  )
  const fns = ordered
    .filter((c) => (lv.level === 'restricted' || c.level === 'baseline') && !overridden.has(c.id))
    .map((c) => versionAt(c, v)?.fn)
    .filter((f): f is CheckFn => !!f)
  return fns.map((f) => f(meta ?? {}, spec ?? {}))
}

/** AggregateCheckResult.ForbiddenDetail: "reason (detail), reason (detail)"; undefined when all allowed. */
export function forbiddenDetail(results: CheckResult[]): string | undefined {
  const bad = results.filter((r) => !r.allowed)
  if (!bad.length) return undefined
  return bad
    .map((r) => {
      const reason = r.reason || 'unknown forbidden reason'
      return r.detail ? `${reason} (${r.detail})` : reason
    })
    .join(', ')
}

export type PodSecurityVerdict =
  | { allowed: true; warnings: string[]; exempt?: 'namespace' | 'user' | 'runtimeClass' }
  | { allowed: false; code: 403; reason: 'Forbidden'; message: string }

/**
 * admission.ValidatePod + EvaluatePod for a pod create in `namespace` (its labels) by `username`: exemptions, the
 * enforce level (a refusal is HTTP 403 with the real message), then the warn level's warning on an admitted pod.
 */
export function admitPodCreate(
  cfg: PodSecurityConfig,
  namespace: { name: string; labels?: Record<string, string> },
  pod: Obj,
  username: string,
): PodSecurityVerdict {
  if (namespace.name && cfg.exemptions.namespaces.includes(namespace.name))
    return { allowed: true, warnings: [], exempt: 'namespace' }
  if (username && cfg.exemptions.usernames.includes(username)) return { allowed: true, warnings: [], exempt: 'user' }
  const { policy, errors } = policyToEvaluate(namespace.labels, cfg.defaults)
  const all = [policy.enforce, policy.audit, policy.warn]
  if (!errors.length && all.every((lv) => lv.level === 'privileged')) return { allowed: true, warnings: [] }
  const meta: Obj = pod.metadata ?? {}
  const spec: Obj = pod.spec ?? {}
  const rc = spec.runtimeClassName
  if (rc && cfg.exemptions.runtimeClasses.includes(rc)) return { allowed: true, warnings: [], exempt: 'runtimeClass' }
  const enforced = forbiddenDetail(evaluatePod(policy.enforce, meta, spec))
  if (enforced !== undefined)
    return {
      allowed: false,
      code: 403,
      reason: 'Forbidden',
      message: `pods "${meta.name ?? ''}" is forbidden: violates PodSecurity "${levelVersionString(policy.enforce)}": ${enforced}`,
    }
  const warned = forbiddenDetail(evaluatePod(policy.warn, meta, spec))
  return {
    allowed: true,
    warnings: warned === undefined ? [] : [`would violate PodSecurity "${levelVersionString(policy.warn)}": ${warned}`],
  }
}

/** k8s.io/apimachinery util/net NewWarningHeader: `299 - "<text>"`, with " and \ escaped. */
export function warningHeader(text: string): string {
  return `299 - "${text.replace(/["\\]/g, (c) => `\\${c}`)}"`
}
