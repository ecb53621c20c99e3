// Image Factory schematic IDs computed locally (issue 13, items 2 and 3): the IDs the factory itself pins in its tests,
// one schematic per node group (no validator kernel args on control planes and workers), the refusal of images that
// do not carry the rendered schematic, and `01-provision.ts --print-schematics` on both inventories.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml, stringify } from 'yaml'
import {
  EMPTY_SCHEMATIC_ID,
  canonicalSchematicYaml,
  parseSchematic,
  schematicId,
  schematicOfDiskImage,
  parseInstallerImage,
  schematicOfInstaller,
} from '../../lib/talos/schematic.ts'
import { loadInventory } from '../../config/inventory.ts'
import { installerImageFor, renderNodeSchematic } from '../../config/render.ts'
import { imageSchematicProblems, schematicGroups } from '../../config/schematic-images.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const ZX = join(REPO, 'node_modules/.bin/zx')

// siderolabs/image-factory pkg/schematic/schematic_test.go (TestID, TestUnmarshalID)
test('schematic IDs equal the ones the Image Factory publishes', () => {
  assert.equal(schematicId({ customization: {} }), '376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba')
  assert.equal(EMPTY_SCHEMATIC_ID, '376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba')
  assert.equal(
    schematicId({ customization: { extraKernelArgs: ['noapic', 'nolapic'] } }),
    '9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c',
  )
  for (const text of [
    '{}',
    'customization: {}',
    'customization: {"extraKernelArgs": []}',
    'customization:\n  systemExtensions:\n    officialExtensions: []\n',
  ])
    assert.equal(schematicId(parseSchematic(text)), EMPTY_SCHEMATIC_ID, text)
  for (const text of [
    '{"customization": {"extraKernelArgs": ["noapic", "nolapic"]}}',
    '{"customization": {"extraKernelArgs": ["noapic", "nolapic"], "systemExtensions": {}}}',
  ])
    assert.equal(
      schematicId(parseSchematic(text)),
      '9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c',
      text,
    )
})

test('canonical form: go-yaml layout, kernel args that read as other types are quoted, unknown fields refused', () => {
  assert.equal(
    canonicalSchematicYaml({ customization: { extraKernelArgs: ['hugepages=0:4,1:4', 'true', '1:30'] } }),
    'customization:\n    extraKernelArgs:\n        - hugepages=0:4,1:4\n        - "true"\n        - "1:30"\n',
  )
  assert.throws(() => parseSchematic('customization:\n  meta: []\n'), /customization\.meta: field not supported/)
  assert.throws(() => parseSchematic('overlay: {}\n'), /overlay: field not supported/)
})

test('installer and disk image references name their schematic', () => {
  const id = '9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c'
  assert.equal(schematicOfInstaller(`factory.talos.dev/metal-installer/${id}:v1.10.3`), id)
  assert.equal(schematicOfInstaller(`factory.talos.dev/installer/${id}:v1.10.3`), id)
  assert.equal(schematicOfInstaller(`factory.talos.dev/metal-installer-secureboot/${id}:v1.10.3`), id)
  assert.equal(schematicOfInstaller('ghcr.io/siderolabs/installer:v1.10.3'), EMPTY_SCHEMATIC_ID)
  assert.equal(schematicOfInstaller('registry.example/talos/installer:v1.10.3'), undefined)
  // the one parser behind it: the tag is the version, a digest beside it is ignored, only the factory's path names a schematic
  assert.deepEqual(parseInstallerImage(`factory.talos.dev/metal-installer/${id}:v1.10.4@sha256:${'1'.repeat(64)}`), {
    image: `factory.talos.dev/metal-installer/${id}:v1.10.4@sha256:${'1'.repeat(64)}`,
    version: 'v1.10.4',
    schematic: id,
  })
  assert.deepEqual(parseInstallerImage(`registry.example/${id}:v1.10.3`), {
    image: `registry.example/${id}:v1.10.3`,
    version: 'v1.10.3',
  })
  assert.deepEqual(parseInstallerImage('ghcr.io/our-org/installer:custom-solana-v1.10.3'), {
    image: 'ghcr.io/our-org/installer:custom-solana-v1.10.3',
    version: 'v1.10.3',
  })
  assert.equal(schematicOfDiskImage(`https://factory.talos.dev/image/${id}/v1.10.3/metal-amd64.raw.zst`), id)
  assert.equal(schematicOfDiskImage(`file://images/${id}/metal-amd64.raw`), id)
  assert.equal(schematicOfDiskImage('file://images/metal-amd64.raw'), undefined)
})

test('each node gets its own schematic: no validator kernel args on control planes and workers', () => {
  for (const file of ['inventory/lab.yaml', 'inventory/example.yaml']) {
    const inv = loadInventory(join(REPO, file))
    for (const n of inv.nodes) {
      const s = parseSchematic(renderNodeSchematic(inv, n).yaml)
      if (n.profile === 'validator')
        assert.match(
          (s.customization.extraKernelArgs ?? []).join(' '),
          /hugepages=0:\d+,1:\d+ irqaffinity=[\d,-]+ cpufreq\.default_governor=performance iommu=pt/,
          `${file} ${n.name}`,
        )
      else
        assert.deepEqual(
          s.customization.extraKernelArgs ?? [],
          [],
          `${file} ${n.name} must boot without the validator's args`,
        )
    }
    const groups = schematicGroups(inv)
    assert.deepEqual(
      groups.map((g) => g.label),
      ['controlplane,worker', 'validator1'],
    )
    assert.equal(groups[0]!.id, EMPTY_SCHEMATIC_ID)
    // the inventories' own images are the ones their schematics produce
    assert.deepEqual(imageSchematicProblems(inv), [], file)
    for (const n of inv.nodes)
      assert.equal(installerImageFor(inv, n), groups.find((g) => g.nodes.includes(n))!.installerImage)
  }
})

test('a pinned image that does not carry the rendered schematic is a problem, named per node; a custom one is not judged', () => {
  const dir = mkdtempSync(join(tmpdir(), 'schematic-'))
  const doc = parseYaml(readFileSync(join(REPO, 'inventory/example.yaml'), 'utf8'))
  const inv0 = loadInventory(join(REPO, 'inventory/example.yaml'))
  const validatorImage = installerImageFor(
    inv0,
    inv0.nodes.find((n) => n.profile === 'validator')!,
  )
  const f = join(dir, 'one-image.yaml')
  // the old layout: one installer image for every node, the validator's schematic in it
  doc.cluster.installerImage = validatorImage
  writeFileSync(f, stringify(doc))
  const problems = imageSchematicProblems(loadInventory(f))
  assert.ok(
    problems.some((p) =>
      /^cp1: cluster\.installerImage .* carries schematic 527db511ab17…, but cp1 needs 376567988ad3… \(the empty schematic: no kernel args\): remove cluster\.installerImage/.test(
        p,
      ),
    ),
    problems.join('\n'),
  )
  // the validator never takes cluster.installerImage: its own schematic's image is derived
  assert.ok(!problems.some((p) => p.startsWith('validator1:')), problems.join('\n'))
  // the empty schematic pinned for the validator: it would boot without huge pages
  delete doc.cluster.installerImage
  doc.validator.installerImage = `factory.talos.dev/metal-installer/${EMPTY_SCHEMATIC_ID}:v1.10.3`
  writeFileSync(f, stringify(doc))
  assert.match(
    imageSchematicProblems(loadInventory(f)).join('\n'),
    /^validator1: validator\.installerImage .* carries schematic 376567988ad3… \(the empty schematic: no kernel args\), but validator1 needs 527db511ab17… \(kernel args: default_hugepagesz=1G hugepagesz=1G hugepages=0:16,1:16 hugepagesz=2M hugepages=0:1024,1:1024 irqaffinity=0,1,64,65 cpufreq.default_governor=performance iommu=pt amd_pstate=active\)/m,
  )
  // a custom build names no schematic: not refused here (02's lint warns which args it cannot be shown to carry)
  doc.validator.installerImage = 'ghcr.io/our-org/installer:custom-solana-v1.10.3'
  writeFileSync(f, stringify(doc))
  assert.deepEqual(imageSchematicProblems(loadInventory(f)), [])
})

test('01 --print-schematics: offline, one line per schematic, schematic files written, example.yaml IDs match', () => {
  for (const file of ['inventory/lab.yaml', 'inventory/example.yaml']) {
    const out = mkdtempSync(join(tmpdir(), 'print-schematics-'))
    const doc = parseYaml(readFileSync(join(REPO, file), 'utf8'))
    doc.cluster.outputDir = out
    const inv = join(out, 'inv.yaml')
    writeFileSync(inv, stringify(doc))
    // production target: the real talosctl is not even installed here, so anything beyond printing would fail
    const r = spawnSync(ZX, ['runbooks/01-provision.ts', '--inventory', inv, '--print-schematics'], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '--import tsx', TALOSCTL: '/nonexistent/talosctl', CI: 'true' },
    })
    assert.equal(r.status, 0, r.stderr)
    const lines = r.stdout.split('\n').filter((l) => l && !l.startsWith(' '))
    assert.equal(lines.length, 2, r.stdout)
    const [plain, validator] = lines.map((l) => l.split(' '))
    const factory = doc.cluster.imageFactory as string
    const registry = new URL(factory).host
    assert.deepEqual(plain, [
      'controlplane,worker',
      EMPTY_SCHEMATIC_ID,
      `${registry}/metal-installer/${EMPTY_SCHEMATIC_ID}:v1.10.3`,
    ])
    assert.equal(validator![0], 'validator1')
    // what 02 renders into machine.install.image is the printed image
    const loaded = loadInventory(inv)
    assert.equal(
      validator![2],
      installerImageFor(
        loaded,
        loaded.nodes.find((n) => n.profile === 'validator')!,
      ),
    )
    assert.equal(validator![2], `${registry}/metal-installer/${validator![1]}:v1.10.3`)
    assert.ok(r.stdout.includes(`disk image: ${factory}/image/${validator![1]}/v1.10.3/metal-amd64.raw.zst`), r.stdout)
    const written = join(out, 'schematics', `${validator![1]}.yaml`)
    assert.ok(existsSync(written))
    assert.equal(schematicId(parseSchematic(readFileSync(written, 'utf8'))), validator![1])
  }
})

test("02 refuses (exit 3) before rendering anything when the validator's pinned installer image is of another schematic", () => {
  const dir = mkdtempSync(join(tmpdir(), 'schematic-02-'))
  const doc = parseYaml(readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8'))
  doc.validator.installerImage = `factory.talos.dev/metal-installer/${EMPTY_SCHEMATIC_ID}:v1.10.3`
  doc.cluster.outputDir = join(dir, 'out')
  const f = join(dir, 'inv.yaml')
  writeFileSync(f, stringify(doc))
  const r = spawnSync(ZX, ['runbooks/02-configure.ts', '--inventory', f, '--yes', '--only', 'render'], {
    cwd: REPO,
    encoding: 'utf8',
    env: {
      ...process.env,
      NODE_OPTIONS: '--import tsx',
      CI: 'true',
      NO_COLOR: '1',
      TALOS_RUNBOOKS_STATE_DIR: join(dir, 'state'),
      TALOS_LAB_DIR: join(dir, 'lab'),
    },
  })
  assert.equal(r.status, 3, r.stdout + r.stderr)
  assert.match(
    r.stdout + r.stderr,
    /validator1: validator\.installerImage .* carries schematic 376567988ad3… \(the empty schematic: no kernel args\), but validator1 needs ac8d65619fca…/,
  )
  assert.ok(!existsSync(join(dir, 'out', 'validator1.yaml')), 'no config may be written')
})

test("01 refuses (exit 3) before writing any disk when a node's disk image is of another schematic", () => {
  const dir = mkdtempSync(join(tmpdir(), 'schematic-01-'))
  const doc = parseYaml(readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8'))
  // the validator's disk image: the plain one (its installer image is right)
  const v = doc.nodes.find((n: { name: string }) => n.name === 'validator1')
  v.rescue.imageUrl = `file://.lab/images/${EMPTY_SCHEMATIC_ID}/metal-amd64.raw`
  doc.cluster.outputDir = join(dir, 'out')
  const f = join(dir, 'inv.yaml')
  // no lab runs on this range: every machine reads as "no Talos yet", so 01 goes straight to writing images
  writeFileSync(f, stringify(doc).replaceAll('127.0.10.', '127.0.94.'))
  const r = spawnSync(ZX, ['runbooks/01-provision.ts', '--inventory', f, '--yes'], {
    cwd: REPO,
    encoding: 'utf8',
    env: {
      ...process.env,
      NODE_OPTIONS: '--import tsx',
      CI: 'true',
      NO_COLOR: '1',
      TALOS_RUNBOOKS_STATE_DIR: join(dir, 'state'),
      TALOS_LAB_DIR: join(dir, 'lab'),
    },
  })
  assert.equal(r.status, 3, r.stdout + r.stderr)
  assert.match(
    r.stdout + r.stderr,
    /validator1: rescue\.imageUrl file:\/\/\.lab\/images\/376567988ad3\S+\/metal-amd64\.raw is the disk image of schematic 376567988ad3… \(the empty schematic: no kernel args\), but validator1 needs ac8d65619fca…/,
  )
  assert.doesNotMatch(r.stdout + r.stderr, /host key|connect/i)
})
