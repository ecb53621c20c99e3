// lab/kube-api/pod-security.ts (the lab API's PodSecurity admission, pod-security-admission v0.33.1) and the pure part
// of lab/manifest-objects.ts (which objects of cluster.inlineManifests Talos applies, in what order). The
// messages here are the real plugin's; test/lab/real-kube-apiserver.test.ts checks the same function against the real
// kube-apiserver v1.33.1.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments, stringify } from 'yaml'
import { prepareCreate } from '../../lab/kube-api/admission.ts'
import { inlineManifestObjects } from '../../lab/manifest-objects.ts'
import {
  admitPodCreate,
  evaluatePod,
  forbiddenDetail,
  podSecurityConfig,
  policyToEvaluate,
  warningHeader,
  DEFAULT_POD_SECURITY,
  type PodSecurityConfig,
} from '../../lab/kube-api/pod-security.ts'
import { byKind } from '../../lab/kube-api/resources.ts'
import { REPO_ROOT } from '../../lab/state.ts'

/** The product's control-plane template: its admissionControl has no placeholder, so it parses as it is. */
const template = parseAllDocuments(readFileSync(join(REPO_ROOT, 'templates/controlplane.yaml'), 'utf8'))[0]!.toJS()
const rendered: PodSecurityConfig = podSecurityConfig(template)
const ADMIN = { name: 'admin', groups: ['system:masters'] }

function pod(name: string, spec: Record<string, any>, meta: Record<string, any> = {}) {
  const containers = ((spec.containers as Record<string, unknown>[] | undefined) ?? [{}]).map((c) => ({
    name: 'c',
    image: 'registry.k8s.io/pause:3.10',
    ...c,
  }))
  return prepareCreate(byKind('Pod'), { metadata: { name, ...meta }, spec: { ...spec, containers } }, 'default', ADMIN)
}

const VALIDATOR_SHAPE = {
  hostNetwork: true,
  containers: [
    { name: 'smoke', securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW', 'BPF', 'PERFMON'] } } },
  ],
}

describe('PodSecurity as the product renders it (enforce baseline, warn restricted, kube-system exempt)', () => {
  it('reads the defaults and exemptions from cluster.apiServer.admissionControl', () => {
    assert.deepEqual(rendered.defaults.enforce, { level: 'baseline', version: 'latest' })
    assert.deepEqual(rendered.defaults.warn, { level: 'restricted', version: 'latest' })
    assert.deepEqual(rendered.exemptions, { namespaces: ['kube-system'], usernames: [], runtimeClasses: [] })
    // no PodSecurity entry: the plugin's own defaults, privileged everywhere
    assert.deepEqual(podSecurityConfig({ cluster: { apiServer: {} } }), DEFAULT_POD_SECURITY)
    assert.deepEqual(
      podSecurityConfig({ cluster: { apiServer: { admissionControl: [{ name: 'PodSecurity', configuration: {} }] } } }),
      DEFAULT_POD_SECURITY,
    )
  })

  it('refuses the validator shape in a plain namespace with the real message (reasons in the registry order)', () => {
    const v = admitPodCreate(rendered, { name: 'default' }, pod('talos-runbooks-smoke', VALIDATOR_SHAPE), 'admin')
    assert.deepEqual(v, {
      allowed: false,
      code: 403,
      reason: 'Forbidden',
      message:
        'pods "talos-runbooks-smoke" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities ' +
        '(container "smoke" must not include "BPF", "NET_ADMIN", "NET_RAW", "PERFMON" in ' +
        'securityContext.capabilities.add), host namespaces (hostNetwork=true)',
    })
  })

  it('admits it in a namespace labelled enforce=privileged, and in the exempt kube-system, without warnings', () => {
    const labels = { 'pod-security.kubernetes.io/enforce': 'privileged' }
    const p = pod('v', VALIDATOR_SHAPE)
    // the warn level is restricted by default: a privileged enforce label does not lower it
    const privileged = admitPodCreate(rendered, { name: 'solana', labels }, p, 'admin')
    assert.equal(privileged.allowed, true)
    assert.equal(privileged.allowed && privileged.warnings.length, 1)
    assert.match(privileged.allowed ? privileged.warnings[0]! : '', /^would violate PodSecurity "restricted:latest": /)
    const all = {
      ...labels,
      'pod-security.kubernetes.io/warn': 'privileged',
      'pod-security.kubernetes.io/audit': 'privileged',
    }
    assert.deepEqual(admitPodCreate(rendered, { name: 'solana', labels: all }, p, 'admin'), {
      allowed: true,
      warnings: [],
    })
    assert.deepEqual(admitPodCreate(rendered, { name: 'kube-system' }, p, 'admin'), {
      allowed: true,
      warnings: [],
      exempt: 'namespace',
    })
  })

  it('exempts configured users and runtime classes', () => {
    const cfg = { ...rendered, exemptions: { namespaces: [], usernames: ['ops'], runtimeClasses: ['kata'] } }
    assert.equal(admitPodCreate(cfg, { name: 'default' }, pod('a', VALIDATOR_SHAPE), 'ops').allowed, true)
    const kata = pod('b', { ...VALIDATOR_SHAPE, runtimeClassName: 'kata' })
    assert.equal(admitPodCreate(cfg, { name: 'default' }, kata, 'admin').allowed, true)
    assert.equal(admitPodCreate(cfg, { name: 'default' }, pod('c', VALIDATOR_SHAPE), 'admin').allowed, false)
  })

  it('warns a plain pod admitted under baseline with what restricted would want', () => {
    const v = admitPodCreate(rendered, { name: 'default' }, pod('plain', {}), 'admin')
    assert.deepEqual(v, {
      allowed: true,
      warnings: [
        'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "c" must set ' +
          'securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set ' +
          'securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set ' +
          'securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set ' +
          'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
      ],
    })
    // the Warning header as the API server writes it (" and \ escaped)
    assert.equal(warningHeader('a "b" \\c'), '299 - "a \\"b\\" \\\\c"')
  })
})

describe('the baseline checks, one by one', () => {
  const baseline = (spec: Record<string, any>, meta?: Record<string, any>) =>
    forbiddenDetail(
      evaluatePod({ level: 'baseline', version: 'latest' }, pod('p', spec, meta).metadata, pod('p', spec, meta).spec),
    )

  it('host namespaces, privileged, capabilities beyond the default set', () => {
    assert.equal(baseline({ hostPID: true, hostIPC: true }), 'host namespaces (hostPID=true, hostIPC=true)')
    assert.equal(
      baseline({
        initContainers: [{ name: 'i', image: 'x:1', securityContext: { privileged: true } }],
        containers: [{ name: 'a', securityContext: { privileged: true } }, { name: 'b' }],
      }),
      'privileged (containers "i", "a" must not set securityContext.privileged=true)',
    )
    // the default set is allowed
    assert.equal(
      baseline({ containers: [{ securityContext: { capabilities: { add: ['CHOWN', 'KILL'] } } }] }),
      undefined,
    )
    assert.equal(
      baseline({ containers: [{ securityContext: { capabilities: { add: ['SYS_ADMIN', 'CHOWN'] } } }] }),
      'non-default capabilities (container "c" must not include "SYS_ADMIN" in securityContext.capabilities.add)',
    )
  })

  it('hostPath volumes, host ports (a host-network pod’s container ports default to host ports)', () => {
    assert.equal(
      baseline({
        volumes: [
          { name: 'a', hostPath: { path: '/a' } },
          { name: 'e', emptyDir: {} },
          { name: 'b', hostPath: { path: '/b' } },
        ],
      }),
      'hostPath volumes (volumes "a", "b")',
    )
    assert.equal(
      baseline({
        containers: [
          {
            ports: [
              { containerPort: 9000, hostPort: 9000 },
              { containerPort: 10000, hostPort: 10000 },
            ],
          },
        ],
      }),
      'hostPort (container "c" uses hostPorts 10000, 9000)',
    )
    assert.equal(
      baseline({ hostNetwork: true, containers: [{ ports: [{ containerPort: 8899 }] }] }),
      'host namespaces (hostNetwork=true), hostPort (container "c" uses hostPort 8899)',
    )
  })

  it('AppArmor, SELinux, /proc mount, seccomp', () => {
    assert.equal(
      baseline({ containers: [{ securityContext: { appArmorProfile: { type: 'Unconfined' } } }] }),
      'forbidden AppArmor profiles (container "c" and annotation must not set AppArmor profile type to ' +
        '"Unconfined", "container.apparmor.security.beta.kubernetes.io/c="unconfined"")',
    )
    assert.equal(baseline({ securityContext: { appArmorProfile: { type: 'RuntimeDefault' } } }), undefined)
    assert.equal(
      baseline({ securityContext: { seLinuxOptions: { type: 'spc_t', user: 'u' } } }),
      'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)',
    )
    assert.equal(baseline({ securityContext: { seLinuxOptions: { type: 'container_engine_t' } } }), undefined)
    assert.equal(
      baseline({ containers: [{ securityContext: { procMount: 'Unmasked' } }] }),
      'procMount (container "c" must not set securityContext.procMount to "Unmasked")',
    )
    assert.equal(
      baseline({ securityContext: { seccompProfile: { type: 'Unconfined' } } }),
      'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")',
    )
  })

  it('unsafe sysctls, by version: net.ipv4.tcp_rmem is safe from v1.32', () => {
    const spec = {
      securityContext: {
        sysctls: [
          { name: 'net.ipv4.tcp_rmem', value: '1 2 3' },
          { name: 'kernel.msgmax', value: '1' },
        ],
      },
    }
    assert.equal(baseline(spec), 'forbidden sysctls (kernel.msgmax)')
    const p = pod('p', spec)
    assert.equal(
      forbiddenDetail(evaluatePod({ level: 'baseline', version: [1, 31] }, p.metadata, p.spec)),
      'forbidden sysctls (net.ipv4.tcp_rmem, kernel.msgmax)',
    )
  })

  it('Windows host process', () => {
    assert.equal(
      baseline({ securityContext: { windowsOptions: { hostProcess: true } } }),
      'hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)',
    )
  })
})

describe('namespace labels over the defaults', () => {
  it('an enforce-version pins the checks of that version; the enforce level raises warn unless warn is labelled', () => {
    const { policy, errors } = policyToEvaluate(
      { 'pod-security.kubernetes.io/enforce': 'restricted' },
      rendered.defaults,
    )
    assert.deepEqual(errors, [])
    assert.deepEqual(policy.warn, { level: 'restricted', version: 'latest' })
    const pinned = policyToEvaluate(
      { 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/enforce-version': 'v1.30' },
      rendered.defaults,
    )
    assert.deepEqual(pinned.policy.enforce, { level: 'baseline', version: [1, 30] })
    const v = admitPodCreate(
      rendered,
      { name: 'old', labels: { 'pod-security.kubernetes.io/enforce-version': 'v1.30' } },
      pod('p', { hostNetwork: true }),
      'admin',
    )
    assert.equal(
      !v.allowed && v.message,
      'pods "p" is forbidden: violates PodSecurity "baseline:v1.30": host namespaces (hostNetwork=true)',
    )
  })

  it('an unknown enforce level fails closed (restricted), an unknown warn level open', () => {
    const { policy, errors } = policyToEvaluate(
      { 'pod-security.kubernetes.io/enforce': 'strict', 'pod-security.kubernetes.io/warn': 'loud' },
      DEFAULT_POD_SECURITY.defaults,
    )
    assert.equal(policy.enforce.level, 'restricted')
    assert.equal(policy.warn.level, 'privileged')
    assert.equal(errors.length, 2)
  })
})

describe("inline manifests as Talos's ManifestApplyController sees them", () => {
  it('manifests in id order, Lists unwrapped, comment-only documents skipped, namespaces then CRDs first', () => {
    const cfg = {
      cluster: {
        inlineManifests: [
          {
            name: 'zz-app',
            contents: [
              stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'solana' } }),
              '# only a comment\n',
              stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'zeta' } }),
            ].join('---\n'),
          },
          {
            name: 'aa-base',
            contents: stringify({
              apiVersion: 'v1',
              kind: 'List',
              items: [
                { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'first' } },
                { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'b.x' } },
                { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'solana' } },
              ],
            }),
          },
        ],
      },
    }
    const { objects, errors } = inlineManifestObjects(cfg)
    assert.deepEqual(errors, [])
    assert.deepEqual(
      objects.map((o) => `${o.kind}/${o.metadata.name}`),
      ['Namespace/solana', 'Namespace/zeta', 'CustomResourceDefinition/b.x', 'ConfigMap/first', 'ConfigMap/cm'],
    )
  })

  it('a manifest that does not parse is an error of its own; the others are still applied', () => {
    const { objects, errors } = inlineManifestObjects({
      cluster: {
        inlineManifests: [
          { name: 'bad', contents: 'a: [' },
          { name: 'good', contents: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ok\n' },
        ],
      },
    })
    assert.equal(objects.length, 1)
    assert.equal(errors.length, 1)
    assert.match(errors[0]!, /^manifest 99-bad: /)
  })
})
