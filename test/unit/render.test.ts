import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes, X509Certificate } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml'
import { generateCa } from '../../lab/pki.ts'
import { checkInventory, loadInventory, parseInventory, type Inventory } from '../../config/inventory.ts'
import { hugepageKernelArgs } from '../../config/hugepages.ts'
import { hugepagesFromCmdline } from '../../lib/host/procfs.ts'
import { parseSecretsBundle, SecretsBundleError, type SecretsBundle } from '../../lib/talos/secrets-bundle.ts'
import {
  fillTemplate,
  kubeletExtraConfig,
  renderImageFactorySchematic,
  renderMachineConfigs,
  RenderValidationError,
  validatorKernelArgs,
  writeRenderedConfigs,
} from '../../config/render.ts'
import { validateAgainstTalosSchema } from '../../config/talos-schema.ts'
import { lintMachineConfig } from '../../config/lint.ts'

const SCHEMA = fileURLToPath(new URL('../../templates/talos-v1.10.3/config.schema.json', import.meta.url))
const REPO = fileURLToPath(new URL('../../', import.meta.url))
const b64 = (s: string) => Buffer.from(s).toString('base64')
const token = () => {
  const a = 'abcdefghijklmnopqrstuvwxyz0123456789'
  const pick = (n: number) => Array.from(randomBytes(n), (x) => a[x % a.length]).join('')
  return `${pick(6)}.${pick(16)}`
}

/** A bundle in `talosctl gen secrets` layout with real CA certificates (openssl via lab/pki.ts). */
function fixtureBundleText(): string {
  const pair = (c: { crt: string; key: string }) => ({ crt: b64(c.crt), key: b64(c.key) })
  return stringify(
    {
      cluster: { id: randomBytes(32).toString('base64'), secret: randomBytes(32).toString('base64') },
      secrets: { bootstraptoken: token(), secretboxencryptionsecret: randomBytes(32).toString('base64') },
      trustdinfo: { token: token() },
      certs: {
        etcd: pair(generateCa('etcd')),
        k8s: pair(generateCa('kubernetes')),
        k8saggregator: pair(generateCa('aggregator')),
        k8sserviceaccount: { key: b64(generateCa('sa').key) },
        os: pair(generateCa('talos', 'ed25519')),
      },
    },
    { indent: 4 },
  )
}

const BUNDLE_TEXT = fixtureBundleText()
const BUNDLE: SecretsBundle = parseSecretsBundle(BUNDLE_TEXT, 'fixture-secrets.yaml')
const LAB = loadInventory(join(REPO, 'inventory/lab.yaml'))
const EXAMPLE = loadInventory(join(REPO, 'inventory/example.yaml'))

const docsOf = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Record<string, any>)

test('secrets bundle: a gen-secrets-shaped bundle parses; its certs are real CAs', () => {
  assert.match(BUNDLE.trustdinfo.token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/)
  assert.ok(new X509Certificate(Buffer.from(BUNDLE.certs.os.crt, 'base64')).ca)
})

test('secrets bundle: every problem is listed and no secret value leaks into the message', () => {
  const b = parseYaml(BUNDLE_TEXT)
  delete b.certs.os
  b.trustdinfo.token = 'not-a-token'
  b.certs.etcd.key = b.certs.k8s.key // key of another CA
  b.certs.k8saggregator.crt = 'bm90IGEgY2VydA==' // "not a cert"
  const text = stringify(b)
  assert.throws(
    () => parseSecretsBundle(text, 'out/x/secrets.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof SecretsBundleError)
      assert.match(e.message, /^out\/x\/secrets\.yaml: invalid secrets bundle/)
      for (const p of [
        'certs.os.crt is missing',
        'certs.os.key is missing',
        'trustdinfo.token has the wrong format',
        'certs.etcd.key does not belong to certs.etcd.crt',
        'certs.k8saggregator.crt is not a base64-encoded PEM certificate',
      ])
        assert.ok(e.problems.includes(p), `missing problem: ${p}\n${e.message}`)
      for (const secret of [b.cluster.secret, b.certs.k8s.key, b.secrets.bootstraptoken])
        assert.ok(!e.message.includes(secret))
      return true
    },
  )
})

test('secrets bundle: a leaf (non-CA) certificate is refused as a CA', async () => {
  const { issueCert } = await import('../../lab/pki.ts')
  const ca = generateCa('x')
  const leaf = issueCert(ca, { cn: 'leaf', usage: 'server' })
  const b = parseYaml(BUNDLE_TEXT)
  b.certs.k8s = { crt: b64(leaf.crt), key: b64(leaf.key) }
  assert.throws(() => parseSecretsBundle(stringify(b)), /certs\.k8s\.crt is not a CA certificate/)
})

for (const [name, inv] of [
  ['inventory/lab.yaml', LAB],
  ['inventory/example.yaml', EXAMPLE],
] as const) {
  test(`${name}: every rendered document validates against the official Talos v1.10.3 schema`, () => {
    const configs = renderMachineConfigs(inv, BUNDLE)
    assert.deepEqual(
      [...configs.keys()],
      inv.nodes.map((n) => n.name),
    )
    for (const [node, text] of configs)
      assert.deepEqual(validateAgainstTalosSchema(text, SCHEMA), [], `${node} does not validate`)
  })

  test(`${name}: every rendered config lints clean (GRUB and systemd-boot differ only by the kernel-args warning)`, () => {
    for (const [node, text] of renderMachineConfigs(inv, BUNDLE)) {
      const isValidator = inv.nodes.find((n) => n.name === node)!.profile === 'validator'
      assert.deepEqual(
        lintMachineConfig(text, `${node}.yaml`, {
          schemaPath: SCHEMA,
          bootloader: 'grub',
          expectHugepages: isValidator,
        }),
        [],
        node,
      )
      const sd = lintMachineConfig(text, `${node}.yaml`, { schemaPath: SCHEMA, bootloader: 'systemd-boot' })
      assert.deepEqual(
        sd.map((f) => f.rule),
        isValidator ? ['extra-kernel-args-systemd-boot'] : [],
        node,
      )
    }
  })
}

test('control-plane vs worker: the shape talosctl gen config gives each role', () => {
  const configs = renderMachineConfigs(LAB, BUNDLE)
  const [cp] = docsOf(configs.get('cp1')!)
  const [wk] = docsOf(configs.get('worker1')!)
  assert.equal(cp.machine.type, 'controlplane')
  assert.equal(wk.machine.type, 'worker')
  // CA keys only on control planes
  assert.equal(cp.machine.ca.key, BUNDLE.certs.os.key)
  assert.equal(wk.machine.ca.key, '')
  assert.equal(wk.machine.ca.crt, BUNDLE.certs.os.crt)
  assert.equal(cp.cluster.ca.key, BUNDLE.certs.k8s.key)
  assert.equal(wk.cluster.ca.key, '')
  assert.equal(cp.cluster.etcd.ca.crt, BUNDLE.certs.etcd.crt)
  assert.equal(cp.cluster.serviceAccount.key, BUNDLE.certs.k8sserviceaccount.key)
  assert.equal(cp.cluster.secretboxEncryptionSecret, BUNDLE.secrets.secretboxencryptionsecret)
  assert.equal(wk.cluster.apiServer, undefined)
  assert.equal(wk.cluster.etcd, undefined)
  for (const c of [cp, wk]) {
    assert.equal(c.machine.token, BUNDLE.trustdinfo.token)
    assert.equal(c.cluster.token, BUNDLE.secrets.bootstraptoken)
    assert.equal(c.cluster.id, BUNDLE.cluster.id)
    assert.equal(c.cluster.secret, BUNDLE.cluster.secret)
    assert.equal(c.cluster.clusterName, 'solana-lab')
    assert.equal(c.cluster.controlPlane.endpoint, LAB.cluster.endpoint)
    assert.equal(c.machine.kubelet.image, `ghcr.io/siderolabs/kubelet:${LAB.cluster.kubernetesVersion}`)
    // no installerImage in the inventory: the lab factory's image of the empty schematic (neither is the validator)
    assert.equal(
      c.machine.install.image,
      `127.0.10.1:8080/metal-installer/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba:v1.10.3`,
    )
    assert.equal(c.machine.install.wipe, false)
    assert.equal(c.machine.features.kubePrism.port, 7445)
    assert.equal(c.machine.features.hostDNS.forwardKubeDNSToHost, true)
    assert.deepEqual(c.cluster.network.podSubnets, ['10.244.0.0/16'])
  }
  assert.equal(cp.cluster.apiServer.image, `registry.k8s.io/kube-apiserver:${LAB.cluster.kubernetesVersion}`)
  assert.deepEqual(cp.cluster.apiServer.certSANs, ['127.0.10.10'])
  assert.equal(cp.machine.nodeLabels['node.kubernetes.io/exclude-from-external-load-balancers'], '')
  assert.deepEqual(cp.machine.network.interfaces, [
    { deviceSelector: { physical: true }, dhcp: true, vip: { ip: '127.0.10.10' } },
  ])
  assert.equal(wk.machine.network.interfaces, undefined)
})

test('per-node patch: hostname, install disk; validator profile only on the validator', () => {
  const configs = renderMachineConfigs(LAB, BUNDLE)
  for (const n of LAB.nodes) {
    const docs = docsOf(configs.get(n.name)!)
    const m = docs[0].machine
    assert.equal(m.network.hostname, n.name)
    assert.equal(m.install.disk, n.installDisk)
    if (n.profile !== 'validator') {
      assert.equal(docs.length, 1, n.name)
      assert.equal(m.install.extraKernelArgs, undefined)
      assert.equal(m.sysctls, undefined)
      // every node asks for a CA-signed serving certificate (04 approves it); the validator's settings are its own
      assert.deepEqual(m.kubelet.extraConfig, { serverTLSBootstrap: true }, n.name)
      assert.equal(m.files, undefined, n.name)
      assert.equal(m.baseRuntimeSpecOverrides, undefined, n.name)
    }
  }
  const docs = docsOf(configs.get('validator1')!)
  const m = docs[0].machine
  assert.deepEqual(m.install.extraKernelArgs, [
    'default_hugepagesz=1G',
    'hugepagesz=1G',
    'hugepages=0:4,1:4',
    'hugepagesz=2M',
    'hugepages=0:128,1:128',
    'irqaffinity=0,16',
    'cpufreq.default_governor=performance',
    'iommu=pt',
    'amd_pstate=active',
  ])
  assert.deepEqual(m.kernel.modules, [{ name: 'tcp_bbr' }, { name: 'sch_fq' }])
  for (const [k, v] of Object.entries(m.sysctls)) assert.equal(typeof v, 'string', k)
  assert.equal(m.sysctls['vm.max_map_count'], '1048576')
  // fdctl's default XDP provider needs these on lo (lib/host/solana-limits.ts); Talos's kernel leaves them at 0
  assert.equal(m.sysctls['net.ipv4.conf.lo.rp_filter'], '2')
  assert.equal(m.sysctls['net.ipv4.conf.lo.accept_local'], '1')
  assert.deepEqual(m.kubelet.extraConfig, {
    serverTLSBootstrap: true,
    cpuManagerPolicy: 'static',
    cpuManagerPolicyOptions: { 'full-pcpus-only': 'true' },
    reservedSystemCPUs: '0,16',
    topologyManagerPolicy: 'single-numa-node',
    topologyManagerScope: 'container',
    // Talos' own pid and ephemeral-storage defaults survive an explicit systemReserved
    systemReserved: { pid: '100', 'ephemeral-storage': '256Mi', memory: '2Gi' },
    kubeReserved: { memory: '1Gi' },
    // kubelet 1.33 zeroes every signal a given evictionHard leaves out: the defaults are rendered
    evictionHard: {
      'memory.available': '500Mi',
      'nodefs.available': '10%',
      'nodefs.inodesFree': '5%',
      'imagefs.available': '15%',
      'imagefs.inodesFree': '5%',
    },
    memoryManagerPolicy: 'Static',
    reservedMemory: [
      { numaNode: 0, limits: { memory: '2Gi' } },
      { numaNode: 1, limits: { memory: '1524Mi' } },
    ],
    registerWithTaints: [{ key: 'solana.org/validator', value: 'true', effect: 'NoSchedule' }],
  })
  // the static CPU manager and the Static memory manager start every boot from the empty checkpoints kubelet writes
  assert.deepEqual(m.files, [
    {
      path: '/var/lib/kubelet/cpu_manager_state',
      op: 'create',
      permissions: 0o600,
      content: readFileSync(join(REPO, 'test/fixtures/kubelet/cpu_manager_state.empty-static.json'), 'utf8').trim(),
    },
    {
      path: '/var/lib/kubelet/memory_manager_state',
      op: 'create',
      permissions: 0o600,
      content: readFileSync(join(REPO, 'test/fixtures/kubelet/memory_manager_state.empty-static.json'), 'utf8').trim(),
    },
  ])
  assert.deepEqual(m.nodeLabels, { 'solana.org/role': 'validator', 'node.kubernetes.io/exclusive': 'solana' })
  // the validator container's memlock and open files, in the OCI base spec of the node's CRI containers
  assert.deepEqual(m.baseRuntimeSpecOverrides, {
    process: {
      rlimits: [
        { type: 'RLIMIT_MEMLOCK', hard: 2000000000, soft: 2000000000 },
        { type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 },
      ],
    },
  })
  // a worker cannot add taints to itself (NodeRestriction): the kubelet registers with them instead
  assert.equal(m.nodeTaints, undefined)
  // the UserVolumeConfigs, then validator.nic's EthernetConfig (test/unit/nic.test.ts)
  const vols = docs.slice(1).filter((d) => d.kind === 'UserVolumeConfig')
  assert.deepEqual(docs.at(-1)!.kind, 'EthernetConfig')
  assert.deepEqual(
    vols.map((d) => [
      d.apiVersion,
      d.kind,
      d.name,
      d.provisioning.diskSelector.match,
      d.provisioning.minSize,
      d.filesystem.type,
    ]),
    LAB.validator!.storage!.map((s) => [
      'v1alpha1',
      'UserVolumeConfig',
      s.name,
      // lab.yaml names each disk by a size range that no other volume's overlaps
      `disk.size >= ${s.name === 'ledger' ? '1500000000000' : '3000000000000'}u && disk.size <= ${s.name === 'ledger' ? '2500000000000' : '4500000000000'}u && !system_disk`,
      s.minSize,
      s.filesystem,
    ]),
  )
  assert.ok(vols.every((d) => !('maxSize' in d.provisioning)))
  // the example sets maxSize on one volume
  const ex = docsOf(renderMachineConfigs(EXAMPLE, BUNDLE).get('validator1')!)
  assert.equal(ex.find((d) => d.name === 'accounts')!.provisioning.maxSize, '1TiB')
})

test('rendering is deterministic', () => {
  const a = renderMachineConfigs(EXAMPLE, BUNDLE)
  const b = renderMachineConfigs(EXAMPLE, BUNDLE)
  assert.deepEqual([...a], [...b])
})

test('hugepage kernel args use the kernel per-node syntax for each size', () => {
  assert.deepEqual(hugepageKernelArgs([{ size: '2Mi', perNumaNode: [512] }]), [
    'default_hugepagesz=2M',
    'hugepagesz=2M',
    'hugepages=0:512',
  ])
  assert.deepEqual(hugepageKernelArgs([{ size: '1Gi', perNumaNode: [16, 0, 8] }]), [
    'default_hugepagesz=1G',
    'hugepagesz=1G',
    'hugepages=0:16,1:0,2:8',
  ])
})

test('two pools: each hugepagesz= is followed by its own hugepages=, the 1 GiB pool first and the default', () => {
  const pools = [
    { size: '1Gi' as const, perNumaNode: [16, 16] },
    { size: '2Mi' as const, perNumaNode: [1024, 1024] },
  ]
  const args = hugepageKernelArgs(pools)
  assert.deepEqual(args, [
    'default_hugepagesz=1G',
    'hugepagesz=1G',
    'hugepages=0:16,1:16',
    'hugepagesz=2M',
    'hugepages=0:1024,1:1024',
  ])
  // read back with the kernel's rules (hugepages= applies to the most recent hugepagesz=): both pools as written
  const back = hugepagesFromCmdline(args.join(' '))
  assert.deepEqual(back.warnings, [])
  assert.equal(back.defaultSize, 1048576)
  assert.deepEqual(
    back.sizes.map((s) => [s.sizeKiB, s.perNode]),
    [
      [1048576, { 0: 16, 1: 16 }],
      [2048, { 0: 1024, 1: 1024 }],
    ],
  )
  // the wrong order (a count before its size) would go to another pool: what this rendering avoids
  const wrong = hugepagesFromCmdline('default_hugepagesz=1G hugepages=0:1024,1:1024 hugepagesz=2M')
  assert.deepEqual(
    wrong.sizes.map((s) => [s.sizeKiB, s.perNode]),
    [[1048576, { 0: 1024, 1: 1024 }]],
  )
})

test('the validator schematic carries both pools from a two-pool inventory', () => {
  const text = readFileSync(join(REPO, 'inventory/example.yaml'), 'utf8')
  const inv = parseInventory(text, 'example.yaml')
  assert.deepEqual(
    inv.validator!.hugepages.map((p) => p.size),
    ['1Gi', '2Mi'],
  )
  const args = validatorKernelArgs(inv.validator!)
  assert.ok(args.join(' ').includes('hugepagesz=1G hugepages=0:16,1:16 hugepagesz=2M hugepages='), args.join(' '))
})

test('kubelet extraConfig: no memory manager without reservedMemory', () => {
  const c = kubeletExtraConfig({
    hugepages: [{ size: '1Gi' as const, perNumaNode: [1] }],
    cpuManagerPolicy: 'static',
    reservedSystemCpus: '0',
  })
  assert.deepEqual(c, {
    cpuManagerPolicy: 'static',
    cpuManagerPolicyOptions: { 'full-pcpus-only': 'true' },
    reservedSystemCPUs: '0',
  })
})

test('kubelet extraConfig: eviction signals and Talos reservations the inventory sets win; unset ones keep their defaults', () => {
  const c = kubeletExtraConfig({
    hugepages: [{ size: '1Gi' as const, perNumaNode: [1] }],
    evictionHard: { 'nodefs.available': '20%' },
    systemReserved: { pid: '500', memory: '1Gi' },
  })
  assert.deepEqual(c.evictionHard, {
    'memory.available': '100Mi',
    'nodefs.available': '20%',
    'nodefs.inodesFree': '5%',
    'imagefs.available': '15%',
    'imagefs.inodesFree': '5%',
  })
  assert.deepEqual(c.systemReserved, { pid: '500', 'ephemeral-storage': '256Mi', memory: '1Gi' })
  // nothing set: nothing rendered, so kubelet's and Talos' own defaults apply untouched
  assert.deepEqual(kubeletExtraConfig({ hugepages: [{ size: '1Gi' as const, perNumaNode: [1] }] }), {})
})

test('kubelet extraConfig: no cpu in systemReserved/kubeReserved next to reservedSystemCPUs (kubelet overrides it); kept without', () => {
  const base = {
    hugepages: [{ size: '1Gi' as const, perNumaNode: [1] }],
    systemReserved: { cpu: '2000m', memory: '4Gi' },
    kubeReserved: { cpu: '1000m', memory: '2Gi' },
  }
  // kubelet sets systemReserved.cpu to the reserved CPUs' count and deletes kubeReserved.cpu (cmd/kubelet/app/server.go)
  const pinned = kubeletExtraConfig({ ...base, cpuManagerPolicy: 'static', reservedSystemCpus: '0,1,64,65' })
  assert.deepEqual(pinned.systemReserved, { pid: '100', 'ephemeral-storage': '256Mi', memory: '4Gi' })
  assert.deepEqual(pinned.kubeReserved, { memory: '2Gi' })
  // the rendered config passes the linter's cpu-reservation-overridden rule
  const text = stringify({ version: 'v1alpha1', machine: { type: 'worker', kubelet: { extraConfig: pinned } } })
  assert.deepEqual(
    lintMachineConfig(text, 'v.yaml', { schemaPath: SCHEMA }).filter((f) => f.rule === 'cpu-reservation-overridden'),
    [],
  )
  // without reservedSystemCPUs the cpu reservations are what kubelet subtracts from allocatable: rendered
  const shared = kubeletExtraConfig(base)
  assert.deepEqual(shared.systemReserved, { pid: '100', 'ephemeral-storage': '256Mi', cpu: '2000m', memory: '4Gi' })
  assert.deepEqual(shared.kubeReserved, { cpu: '1000m', memory: '2Gi' })
})

test('validator labels: those NodeRestriction forbids a node to set on itself are left to 05 (admin credentials)', () => {
  const inv = structuredClone(LAB)
  inv.validator!.labels = {
    'solana.org/role': 'validator',
    'node.kubernetes.io/exclusive': 'solana',
    'node-role.kubernetes.io/validator': '',
    'node-restriction.kubernetes.io/solana': 'true',
    'topology.kubernetes.io/zone': 'a',
    'example.k8s.io/x': 'y',
  }
  const m = docsOf(renderMachineConfigs(inv, BUNDLE).get('validator1')!)[0].machine
  assert.deepEqual(m.nodeLabels, {
    'solana.org/role': 'validator',
    'node.kubernetes.io/exclusive': 'solana',
    'topology.kubernetes.io/zone': 'a',
  })
})

test('templates: values are substituted as data (no YAML injection), unknown placeholders fail', () => {
  const tpl = 'a: ${x}\nb: "pre-${y}-post"\nc: ${missing}\nd:\n  - ${x}\n  - ${missing}\n  - keep\n'
  const out = fillTemplate(tpl, { x: 'v\nevil: true', y: 7, missing: undefined })
  assert.deepEqual(out, { a: 'v\nevil: true', b: 'pre-7-post', d: ['v\nevil: true', 'keep'] })
  assert.deepEqual(parseYaml(stringify(out)), out)
  assert.throws(() => fillTemplate('a: ${nope}\n', {}, 't.yaml'), /template t\.yaml: unknown placeholder \$\{nope\}/)
  assert.throws(() => fillTemplate('a: "x${o}"\n', { o: { k: 1 } }), /must be a string or number/)
})

test('a hostile inventory value stays inside its field in the rendered config', () => {
  const base = readFileSync(join(REPO, 'test/fixtures/inventory/valid-production.yaml'), 'utf8')
  const text = base.replace('disk: { serial: LEDGER0001 }', `disk: { serial: "L: x\\nevil: true" }`)
  assert.throws(
    () => parseInventory(text, 'x.yaml'),
    /validator\.storage\[0\]\.disk\.serial: must be the disk's serial/,
  )
  // a quote would end the CEL string and let the rest be code: refused
  const quoted = base.replace('disk: { serial: LEDGER0001 }', `disk: { serial: 'L" || true || "' }`)
  assert.throws(() => parseInventory(quoted, 'x.yaml'), /disk\.serial: must be the disk's serial .*no quotes/)
  const spaced = base.replace('disk: { serial: LEDGER0001 }', `disk: { wwid: "t10.ATA     SAMSUNG: x" }`)
  const inv = parseInventory(spaced, 'x.yaml')
  const vol = docsOf(renderMachineConfigs(inv, BUNDLE).get('validator1')!).find((d) => d.kind === 'UserVolumeConfig')!
  assert.equal(vol.provisioning.diskSelector.match, 'disk.wwid == "t10.ATA     SAMSUNG: x"')
})

test('Image Factory schematic carries the validator kernel args', () => {
  const s = renderImageFactorySchematic(LAB, { officialExtensions: ['siderolabs/amd-ucode'] })
  const doc = parseYaml(s)
  assert.deepEqual(doc.customization.extraKernelArgs, [
    'default_hugepagesz=1G',
    'hugepagesz=1G',
    'hugepages=0:4,1:4',
    'hugepagesz=2M',
    'hugepages=0:128,1:128',
    'irqaffinity=0,16',
    'cpufreq.default_governor=performance',
    'iommu=pt',
    'amd_pstate=active',
  ])
  assert.deepEqual(doc.customization.systemExtensions.officialExtensions, ['siderolabs/amd-ucode'])
  assert.match(s, /systemd-boot/)
  const noValidator: Inventory = { ...LAB, validator: undefined, nodes: LAB.nodes.map(({ profile, ...n }) => n) }
  assert.deepEqual(parseYaml(renderImageFactorySchematic(noValidator)).customization.extraKernelArgs, [])
})

test('writeRenderedConfigs: 0600 files, all or nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'render-'))
  try {
    const configs = renderMachineConfigs(LAB, BUNDLE)
    const written = writeRenderedConfigs(join(dir, 'out'), configs, { schemaPath: SCHEMA })
    assert.deepEqual(
      written.map((f) => f.slice(dir.length + 5)),
      LAB.nodes.map((n) => `${n.name}.yaml`),
    )
    for (const f of written) {
      assert.equal(statSync(f).mode & 0o777, 0o600, f)
      assert.equal(readFileSync(f, 'utf8'), configs.get(f.slice(dir.length + 5, -5)))
    }
    // one invalid config: nothing changes, no temp files left behind
    const before = Object.fromEntries(
      readdirSync(join(dir, 'out')).map((f) => [f, readFileSync(join(dir, 'out', f), 'utf8')]),
    )
    const broken = new Map(configs)
    broken.set('cp1', configs.get('cp1') + '---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: x\nbogus: 1\n')
    broken.set('worker1', 'changed: true\n')
    assert.throws(
      () => writeRenderedConfigs(join(dir, 'out'), broken, { schemaPath: SCHEMA }),
      (e: unknown) =>
        e instanceof RenderValidationError && /cp1\.yaml:\d+:\d+: bogus: unknown field "bogus"/.test(e.message),
    )
    const after = Object.fromEntries(
      readdirSync(join(dir, 'out')).map((f) => [f, readFileSync(join(dir, 'out', f), 'utf8')]),
    )
    assert.deepEqual(after, before)
    // an unsafe node name is refused before anything is written
    const fresh = join(dir, 'fresh')
    assert.throws(
      () =>
        writeRenderedConfigs(
          fresh,
          new Map([
            ['ok', 'a: 1\n'],
            ['../escape', 'a: 1\n'],
          ]),
        ),
      /refusing to write config for node name/,
    )
    assert.ok(!existsSync(join(fresh, 'ok.yaml')))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('validateAgainstTalosSchema reports unknown fields and wrong types with positions', () => {
  const text =
    'version: v1alpha1\nmachine:\n  type: worker\n  sysctls:\n    a.b: 1\n  kernel:\n    modules: [x]\n---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: v\nmode: 1\n'
  const issues = validateAgainstTalosSchema(text, SCHEMA)
  assert.deepEqual(
    issues.map((i) => [i.doc, i.path, i.line, i.column, i.message]),
    [
      [0, 'machine.sysctls.a.b', 5, 5, 'must be string'],
      [0, 'machine.kernel.modules[0]', 7, 15, 'must be object'],
      [1, 'mode', 12, 1, 'unknown field "mode"'],
    ],
  )
  assert.match(
    validateAgainstTalosSchema('apiVersion: v1alpha1\nkind: NoSuchThing\n', SCHEMA)[0].message,
    /unknown document kind/,
  )
})

test('a secrets bundle written by the fixture helper round-trips through a file path', async () => {
  const { loadSecretsBundle } = await import('../../lib/talos/secrets-bundle.ts')
  const dir = mkdtempSync(join(tmpdir(), 'bundle-'))
  try {
    writeFileSync(join(dir, 's.yaml'), BUNDLE_TEXT, { mode: 0o600 })
    assert.deepEqual(loadSecretsBundle(join(dir, 's.yaml')), BUNDLE)
    assert.throws(
      () => loadSecretsBundle(join(dir, 'missing.yaml')),
      /missing\.yaml: invalid secrets bundle:\n  - cannot read/,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('network: one link per node from the inventory (MAC, bus path or name; static or DHCP), the VIP only on control planes, and the subnets etcd and kubelet use', () => {
  const configs = renderMachineConfigs(EXAMPLE, BUNDLE)
  const main = (n: string) => docsOf(configs.get(n)!)[0]
  const cp1 = main('cp1')
  assert.deepEqual(cp1.machine.network.interfaces, [
    {
      deviceSelector: { hardwareAddr: '0c:42:a1:00:00:11' },
      addresses: ['10.20.0.11/24'],
      routes: [{ network: '0.0.0.0/0', gateway: '10.20.0.1' }],
      vip: { ip: '10.20.0.10' },
    },
    // its other port: left alone, so Talos runs no DHCP on it
    { deviceSelector: { hardwareAddr: '0c:42:a1:00:01:11' }, ignore: true },
  ])
  assert.deepEqual(cp1.cluster.etcd.advertisedSubnets, ['10.20.0.0/24'])
  assert.deepEqual(cp1.machine.kubelet.nodeIP, { validSubnets: ['10.20.0.0/24'] })
  const v = main('validator1')
  assert.deepEqual(v.machine.network.interfaces, [
    {
      deviceSelector: { busPath: '0000:41:00.0' },
      addresses: ['10.20.0.21/24'],
      routes: [{ network: '0.0.0.0/0', gateway: '10.20.0.1' }],
    },
    { deviceSelector: { busPath: '0000:41:00.1' }, ignore: true },
    { interface: 'eno1', ignore: true },
  ])
  assert.equal(v.cluster.etcd, undefined)
  assert.deepEqual(main('worker1').machine.network.interfaces, [
    { interface: 'enp1s0f0', dhcp: true },
    { interface: 'enp1s0f1', ignore: true },
  ])
  // otherLinks: [] (a single-port machine): nothing to ignore
  assert.deepEqual(main('worker2').machine.network.interfaces, [{ interface: 'enp1s0f0', dhcp: true }])
  // never every physical port
  for (const [name, text] of configs) assert.doesNotMatch(text, /physical: true/, name)
})

test("network inventory errors: one selector, CIDR address matching the node, the VIP on the control planes' subnet", () => {
  const text = readFileSync(join(REPO, 'inventory/example.yaml'), 'utf8')
  const errs = (t: string) => checkInventory(t, 'x.yaml').errors.map((e) => `${e.field}: ${e.message}`)
  assert.deepEqual(errs(text), [])
  assert.match(
    errs(text.replace('link: { mac: "0c:42:a1:00:00:12" }', 'link: { mac: "0c:42:a1:00:00:12", name: eth0 }')).join(
      '\n',
    ),
    /nodes\[1\]\.network\.link: give exactly one of mac, busPath, name/,
  )
  assert.match(
    errs(text.replace('address: 10.20.0.12/24', 'address: 10.20.0.99/24')).join('\n'),
    /nodes\[1\]\.network\.address: is 10\.20\.0\.99, but the node's address is 10\.20\.0\.12/,
  )
  assert.match(
    errs(text.replace('nodeSubnet: 10.20.0.0/24', 'nodeSubnet: 10.30.0.0/24')).join('\n'),
    /cluster\.vip: 10\.20\.0\.10 is outside cluster\.nodeSubnet 10\.30\.0\.0\/24/,
  )
  assert.match(errs(text.replace('mac: "0c:42:a1:00:00:13"', 'mac: "0c:42:a1"')).join('\n'), /must be a MAC address/)
  // a production control plane with the VIP and no named link: an error (it would render deviceSelector
  // {physical: true}, and the VIP would go on every physical port); a lab inventory may leave it out
  const noLink = text.replace(/    network:\n      link: \{ mac: "0c:42:a1:00:00:12" \}\n(      .*\n){3}/, '')
  assert.notEqual(noLink, text)
  const r = checkInventory(noLink, 'x.yaml')
  assert.deepEqual(
    r.errors.map((x) => `${x.line}:${x.column} ${x.field}`),
    [`${noLink.split('\n').indexOf('  - name: cp2') + 1}:5 nodes[1]`],
  )
  assert.match(r.errors[0]!.message, /no network\.link .* every physical port \(deviceSelector physical: true\)/)
  assert.equal(r.inventory, undefined, 'nothing to render from')
  const lab = checkInventory(noLink.replace('target: production', 'target: lab'), 'x.yaml')
  assert.deepEqual(lab.errors, [])
})

test("the validator's namespace: an inline manifest on every control plane, PodSecurity privileged", () => {
  const configs = renderMachineConfigs(EXAMPLE, BUNDLE)
  for (const n of EXAMPLE.nodes) {
    const main = docsOf(configs.get(n.name)!)[0]!
    if (n.role !== 'controlplane') {
      assert.equal(main.cluster?.inlineManifests, undefined, n.name)
      continue
    }
    assert.equal(main.cluster.inlineManifests.length, 1, n.name)
    const [m] = main.cluster.inlineManifests
    assert.equal(m.name, 'talos-runbooks-namespace-solana')
    const ns = parseYaml(m.contents)
    assert.deepEqual([ns.apiVersion, ns.kind, ns.metadata.name], ['v1', 'Namespace', 'solana'])
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged')
  }
  // validator.namespace names it; an inventory without a validator renders none
  const other = renderMachineConfigs({ ...EXAMPLE, validator: { ...EXAMPLE.validator!, namespace: 'agave' } }, BUNDLE)
  const cp = EXAMPLE.nodes.find((n) => n.role === 'controlplane')!.name
  assert.match(docsOf(other.get(cp)!)[0]!.cluster.inlineManifests[0].contents, /name: agave/)
  const none = renderMachineConfigs(
    { ...EXAMPLE, validator: undefined, nodes: EXAMPLE.nodes.filter((n) => !n.profile) },
    BUNDLE,
  )
  assert.deepEqual(docsOf(none.get(cp)!)[0]!.cluster.inlineManifests, [])
})
