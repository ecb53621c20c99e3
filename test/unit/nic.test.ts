// Issue 24 item 3: validator.nic → a Talos EthernetConfig document → solana.nic against EthernetStatus. The
// inventory rules (Talos names the link, so a link given by busPath needs validator.nic.link), the rendered document
// (official schema), the lab's model of EthernetSpecController, and the check's judge.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, stringify } from 'yaml'
import { generateCa } from '../../lab/pki.ts'
import { checkInventory, loadInventory, parseInventory } from '../../config/inventory.ts'
import { parseSecretsBundle } from '../../lib/talos/secrets-bundle.ts'
import { renderMachineConfigs } from '../../config/render.ts'
import { validateAgainstTalosSchema } from '../../config/talos-schema.ts'
import { hardwareProfile } from '../../lab/hardware.ts'
import { applyEthernetConfig, ethernetConfigDocs, ethernetStatusSpec } from '../../lab/ethtool.ts'
import { parseEthernetStatus } from '../../lib/talos/ethernet-status.ts'
import { judgeNic, solanaNic } from '../../checks/defs/nic.ts'
import type { NicTuning } from '../../config/nic.ts'

const REPO = join(import.meta.dirname, '../..')
const SCHEMA = fileURLToPath(new URL('../../templates/talos-v1.10.3/config.schema.json', import.meta.url))
const example = () => readFileSync(join(REPO, 'inventory/example.yaml'), 'utf8')
const labText = () => readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
const labHardware = { hardware: (n: string) => (n === 'validator1' ? hardwareProfile('validator-2socket') : undefined) }
const errs = (t: string, opts = {}) =>
  checkInventory(t, 'x.yaml', opts).errors.map((e) => `${e.line}:${e.column} ${e.field}: ${e.message}`)
const lineOf = (text: string, s: string) => text.split('\n').findIndex((l) => l.includes(s)) + 1

test('inventory: example and lab set validator.nic and lint clean (lab: against its hardware)', () => {
  assert.deepEqual(errs(example()), [])
  assert.deepEqual(errs(labText(), labHardware), [])
  assert.deepEqual(loadInventory(join(REPO, 'inventory/lab.yaml')).validator?.nic, {
    link: 'enp65s0f0np0',
    channels: { combined: 2 },
    rings: { rx: 4096, tx: 4096 },
    features: { 'rx-udp-gro-forwarding': false, 'tx-gre-segmentation': false, 'tx-gre-csum-segmentation': false },
  })
})

test('inventory: Talos names the link, so a network.link given by busPath needs validator.nic.link', () => {
  const text = example().replace('    link: enp65s0f0np0\n', '')
  const e = errs(text)
  assert.equal(e.length, 1)
  assert.equal(
    e[0],
    `${lineOf(text, '  nic:')}:3 validator.nic: Talos's EthernetConfig selects its link by name only (no mac or busPath selector), and nodes.3.network.link gives busPath 0000:41:00.0: add link: <the link's name> here (talosctl -n <ip> get links lists each link's name, hardwareAddr and busPath)`,
  )
})

test('inventory: a network.link given by name is the EthernetConfig name (nic.link may be left out)', () => {
  const text = labText()
    .replace('network: { link: { busPath: "0000:41:00.0" }', 'network: { link: { name: enp65s0f0np0 }')
    .replace('    link: enp65s0f0np0\n', '')
  assert.deepEqual(errs(text, labHardware), [])
  const inv = parseInventory(text, 'x.yaml')
  const doc = ethernetDocs(renderMachineConfigs(inv, bundle()).get('validator1')!)
  assert.equal(doc[0]!.name, 'enp65s0f0np0')
  // given both, they must agree
  assert.match(
    errs(text.replace('  nic:\n', '  nic:\n    link: eno1\n')).join('\n'),
    /validator\.nic\.link: is eno1, but the validator's network\.link is enp65s0f0np0/,
  )
})

test('inventory: nic.link must be the port network.link selects (known hardware), and a Linux link name', () => {
  const text = labText().replace('    link: enp65s0f0np0\n', '    link: enp65s0f1np1\n')
  assert.match(
    errs(text, labHardware).join('\n'),
    new RegExp(
      `^${lineOf(text, 'link: enp65s0f1np1')}:\\d+ validator\\.nic\\.link: is enp65s0f1np1, but network\\.link \\(busPath 0000:41:00\\.0\\) is enp65s0f0np0 on this machine`,
    ),
  )
  assert.match(
    errs(labText().replace('link: enp65s0f0np0', 'link: a-very-long-link-name0')).join('\n'),
    /validator\.nic\.link: must be a Linux link name/,
  )
  assert.match(
    errs(labText().replace('channels: { combined: 2 }', 'channels: { combined: -1 }')).join('\n'),
    /validator\.nic\.channels\.combined/,
  )
  assert.match(
    errs(labText().replace('channels: { combined: 2 }', 'channels: { queues: 2 }')).join('\n'),
    /validator\.nic\.channels/,
  )
  assert.match(
    errs(labText().replace('rx-udp-gro-forwarding: false', 'rx-udp-gro-forwarding: "off"')).join('\n'),
    /must be true \(on\) or false \(off\)/,
  )
})

/** A bundle in `talosctl gen secrets` layout (as test/unit/render.test.ts builds it). */
function bundle() {
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  const pair = (c: { crt: string; key: string }) => ({ crt: b64(c.crt), key: b64(c.key) })
  const text = stringify({
    cluster: { id: b64('x'.repeat(32)), secret: b64('y'.repeat(32)) },
    secrets: { bootstraptoken: 'abcdef.0123456789abcdef', secretboxencryptionsecret: b64('z'.repeat(32)) },
    trustdinfo: { token: 'abcdef.0123456789abcdef' },
    certs: {
      etcd: pair(generateCa('etcd')),
      k8s: pair(generateCa('kubernetes')),
      k8saggregator: pair(generateCa('aggregator')),
      k8sserviceaccount: { key: b64(generateCa('sa').key) },
      os: pair(generateCa('talos', 'ed25519')),
    },
  })
  return parseSecretsBundle(text, 'fixture-secrets.yaml')
}

const ethernetDocs = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, unknown>)
    .filter((d) => d?.kind === 'EthernetConfig')

test('render: the validator gets one schema-valid EthernetConfig naming its link; other nodes none', () => {
  const b = bundle()
  for (const file of ['inventory/lab.yaml', 'inventory/example.yaml']) {
    const inv = loadInventory(join(REPO, file))
    for (const [node, text] of renderMachineConfigs(inv, b)) {
      assert.deepEqual(validateAgainstTalosSchema(text, SCHEMA), [], `${file} ${node}`)
      const docs = ethernetDocs(text)
      if (node !== 'validator1') assert.deepEqual(docs, [], node)
      else
        assert.deepEqual(docs, [
          {
            apiVersion: 'v1alpha1',
            kind: 'EthernetConfig',
            name: 'enp65s0f0np0',
            channels: { combined: 2 },
            rings: { rx: 4096, tx: 4096 },
            features: {
              'rx-udp-gro-forwarding': false,
              'tx-gre-segmentation': false,
              'tx-gre-csum-segmentation': false,
            },
          },
        ])
    }
  }
})

const mlx5 = () => hardwareProfile('validator-2socket').links![0]!.ethtool!
const LAB_NIC = (): NicTuning => loadInventory(join(REPO, 'inventory/lab.yaml')).validator!.nic!
/** The status the lab serves once the controller applied `nic` (as rendered) to the lab's mlx5 port. */
const statusAfter = (nic: NicTuning) => {
  const [doc] = ethernetConfigDocs([{ apiVersion: 'v1alpha1', kind: 'EthernetConfig', name: 'enp65s0f0np0', ...nic }])
  const applied = applyEthernetConfig(mlx5(), doc)
  return { applied, status: parseEthernetStatus(ethernetStatusSpec(applied.state, true)) }
}

test('lab model: EthernetSpecController applies within the maximums, and stops at the first refused step', () => {
  const ok = statusAfter(LAB_NIC())
  assert.equal(ok.applied.error, undefined)
  assert.equal(ok.status.channels?.combined, 2)
  assert.equal(ok.status.rings?.rx, 4096)
  assert.equal(ok.status.features['tx-gre-segmentation'], 'off')
  // channels beyond combined-max: rings and features (applied first) change, channels do not
  const tooMany = statusAfter({ ...LAB_NIC(), channels: { combined: 64 } })
  assert.match(tooMany.applied.error!, /error configuring "enp65s0f0np0": error updating channels: invalid argument/)
  assert.equal(tooMany.status.channels?.combined, 8)
  assert.equal(tooMany.status.rings?.rx, 4096)
  // rings beyond rx-max: nothing after it is applied either
  const bigRings = statusAfter({ ...LAB_NIC(), rings: { rx: 16384 } })
  assert.match(bigRings.applied.error!, /error updating rings/)
  assert.equal(bigRings.status.features['tx-gre-segmentation'], 'on')
  assert.equal(bigRings.status.channels?.combined, 8)
  // a fixed feature stays as it is, without an error (the kernel masks the request with hw_features)
  const fixed = statusAfter({ features: { loopback: true } })
  assert.equal(fixed.applied.error, undefined)
  assert.equal(fixed.status.features.loopback, 'off [fixed]')
})

test('judge: passes on the applied config, fails on each wrong value with its cause in short words', () => {
  const nic = LAB_NIC()
  const ok = judgeNic(nic, statusAfter(nic).status)
  assert.deepEqual(ok, {
    ok: true,
    problems: [],
    wanted: '6 settings',
    seen: '6/6 as asked',
    detail: 'channels combined 2, rings rx 4096/tx 4096, 3/3 features',
  })
  const wrong = { ...nic, channels: { combined: 64 }, features: { ...nic.features, loopback: true } }
  const j = judgeNic(wrong, statusAfter(wrong).status)
  assert.equal(j.ok, false)
  assert.equal(j.seen, '5/7 as asked')
  assert.equal(j.detail, 'channels combined 8, rings rx 4096/tx 4096, 3/4 features')
  assert.deepEqual(j.problems, [
    'channels combined is 8, want 64: beyond combined-max 32, so the driver refused it',
    'feature loopback is off [fixed], want on: the driver does not let it change',
  ])
  // a feature name the kernel does not know fails the whole features step, and channels after it
  const unknown = { ...nic, features: { ...nic.features, 'no-such': true } }
  assert.deepEqual(judgeNic(unknown, statusAfter(unknown).status).problems, [
    'channels combined is 8, want 2',
    'feature tx-gre-segmentation is on, want off',
    'feature tx-gre-csum-segmentation is on, want off',
    'feature no-such: the driver has no such feature',
  ])
})

test('solana.nic: one result per validator, its link from validator.nic.link or network.link.name', () => {
  const nic = LAB_NIC()
  const inv = {
    cluster: { name: 'c', target: 'lab' as const, outputDir: 'out' },
    nodes: [{ name: 'validator1', address: '127.0.0.1', role: 'worker' as const, profile: 'validator' as const }],
    validator: { hugepages: { size: '1Gi' as const, perNumaNode: [1] }, nic },
  }
  const good = { values: { validator1: { enp65s0f0np0: statusAfter(nic).status } }, errors: {} }
  const [r] = solanaNic.evaluate({ ethernetStatus: good } as never, inv as never) as {
    status: string
    target: string
    message: string
  }[]
  assert.equal(r!.status, 'pass')
  assert.equal(r!.target, 'validator1/enp65s0f0np0')
  const bad = {
    values: { validator1: { enp65s0f0np0: statusAfter({ channels: { combined: 64 } }).status } },
    errors: {},
  }
  const [f] = solanaNic.evaluate({ ethernetStatus: bad } as never, inv as never) as {
    status: string
    message: string
  }[]
  assert.equal(f!.status, 'fail')
  assert.match(f!.message, /channels combined is 8, want 2.*talosctl -n 127\.0\.0\.1 logs controller-runtime/)
  const none = { values: { validator1: { eth0: statusAfter({}).status } }, errors: {} }
  const [m] = solanaNic.evaluate({ ethernetStatus: none } as never, inv as never) as {
    status: string
    message: string
  }[]
  assert.match(m!.message, /validator1 has no EthernetStatus for enp65s0f0np0 \(it has: eth0\)/)
})
