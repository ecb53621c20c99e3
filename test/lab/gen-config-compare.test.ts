// The product's base configs (templates/controlplane.yaml and worker.yaml stand in for `talosctl gen config`) against
// what the real talosctl v1.10.3 generates for the same secrets bundle, cluster name, endpoint and versions. Every
// difference of a plain control plane and a plain worker must be one of INTENDED below, each with why; an
// unexplained difference (a new gen config default, a template drifting) fails the test and is listed, and so does
// an INTENDED entry that no longer matches anything.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { realTalosctl } from '../../lab/go-builds.ts'
import { loadInventory } from '../../config/inventory.ts'
import { renderMachineConfigs } from '../../config/render.ts'
import { parseSecretsBundle } from '../../lib/talos/secrets-bundle.ts'
import { REPO_ROOT } from '../../config/cluster.ts'

type Change = '+' | '-' | '~'

/** Path (a prefix: it covers everything below it) and kind of each intended difference, with the reason. */
const INTENDED: { path: string; change: Change; why: string }[] = [
  {
    path: 'persist',
    change: '-',
    why: 'deprecated: "Not supported anymore" (pkg/machinery/config/types/v1alpha1/v1alpha1_types.go ConfigPersist), and the published v1.10.3 schema no longer lists it',
  },
  {
    path: 'machine.network.hostname',
    change: '+',
    why: 'each node is named after the inventory (templates/node.yaml); Talos v1.10 has no HostnameConfig document yet',
  },
  {
    path: 'machine.network.interfaces',
    change: '+',
    why: 'the one link the inventory names, with the VIP on control planes (templates/node.yaml); gen config sets no VIP',
  },
  {
    path: 'machine.install.image',
    change: '~',
    why: 'each node installs the Image Factory installer of its own schematic, which carries its kernel args (systemd-boot reads no extraKernelArgs); gen config names the plain ghcr.io installer',
  },
  {
    path: 'machine.kubelet.nodeIP',
    change: '+',
    why: 'with cluster.nodeSubnet, kubelet takes its node IP from that subnet, not from whichever link is up (templates/node.yaml)',
  },
  {
    path: 'machine.kubelet.extraConfig',
    change: '+',
    why: 'serverTLSBootstrap: every kubelet asks for a serving certificate signed by the cluster CA, which 04-join approves after checking its SANs (templates/node.yaml); gen config leaves kubelet to sign its own',
  },
  {
    path: 'cluster.inlineManifests',
    change: '~',
    why: "the validator's namespace with PodSecurity level privileged, which Talos creates when it is missing (templates/controlplane.yaml, config/render.ts validatorNamespaceManifest)",
  },
  {
    path: 'cluster.etcd.extraArgs',
    change: '+',
    why: "cluster.etcdQuotaBytes sets etcd's quota-backend-bytes (its 2 GiB default fills up on a busy cluster); gen config leaves etcd's defaults",
  },
  {
    path: 'cluster.etcd.advertisedSubnets',
    change: '+',
    why: 'with cluster.nodeSubnet, etcd advertises its address in that subnet (templates/node.yaml)',
  },
]

interface Difference {
  path: string
  change: Change
}

function differences(gen: unknown, ours: unknown, path = '', out: Difference[] = []): Difference[] {
  const isMap = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v)
  if (isMap(gen) && isMap(ours)) {
    for (const k of new Set([...Object.keys(gen), ...Object.keys(ours)]))
      differences(gen[k], ours[k], path ? `${path}.${k}` : k, out)
  } else if (JSON.stringify(gen) !== JSON.stringify(ours)) {
    out.push({ path, change: gen === undefined ? '+' : ours === undefined ? '-' : '~' })
  }
  return out
}

const intendedFor = (d: Difference) =>
  INTENDED.find((i) => i.change === d.change && (d.path === i.path || d.path.startsWith(`${i.path}.`)))

test('base configs differ from the real `talosctl gen config` only where INTENDED says why', () => {
  const talosctl = realTalosctl()
  const dir = mkdtempSync(join(tmpdir(), 'gen-config-'))
  const used = new Set<string>()
  const unexplained: string[] = []
  try {
    const secretsFile = join(dir, 'secrets.yaml')
    assert.equal(spawnSync(talosctl, ['gen', 'secrets', '-o', secretsFile]).status, 0)
    const secrets = parseSecretsBundle(readFileSync(secretsFile, 'utf8'), secretsFile)
    for (const file of ['inventory/lab.yaml', 'inventory/example.yaml']) {
      const inv = loadInventory(join(REPO_ROOT, file))
      const out = join(dir, inv.cluster.name)
      const g = spawnSync(
        talosctl,
        [
          'gen',
          'config',
          inv.cluster.name,
          inv.cluster.endpoint,
          '--with-secrets',
          secretsFile,
          '--kubernetes-version',
          inv.cluster.kubernetesVersion.replace(/^v/, ''),
          '--talos-version',
          inv.cluster.talosVersion.replace(/\.\d+$/, ''),
          '-o',
          out,
        ],
        { encoding: 'utf8' },
      )
      assert.equal(g.status, 0, g.stderr)
      const configs = renderMachineConfigs(inv, secrets)
      // a plain node of each role: the validator's own patch is not part of the base
      for (const role of ['controlplane', 'worker'] as const) {
        const node = inv.nodes.find((n) => n.role === role && n.profile !== 'validator')!
        const gen = parseAllDocuments(readFileSync(join(out, `${role}.yaml`), 'utf8')).map((d) => d.toJS())
        const ours = parseAllDocuments(configs.get(node.name)!).map((d) => d.toJS())
        assert.equal(gen.length, 1, `${role}: gen config wrote ${gen.length} documents`)
        for (const d of differences(gen[0], ours[0])) {
          const i = intendedFor(d)
          if (i) used.add(i.path)
          else unexplained.push(`${file} ${node.name} (${role}): ${d.change} ${d.path}`)
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  assert.deepEqual(
    unexplained,
    [],
    `differences from talosctl gen config that INTENDED does not explain:\n${unexplained.join('\n')}`,
  )
  const stale = INTENDED.filter((i) => !used.has(i.path)).map((i) => i.path)
  assert.deepEqual(stale, [], 'INTENDED entries that match no difference any more')
})
