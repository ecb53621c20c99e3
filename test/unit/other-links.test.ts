// Issue 21 item 13: a machine's other physical ports. The inventory rules for network.otherLinks (with and without
// known hardware), and the lab's model of Talos' network defaults that the lab test runs against.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkInventory } from '../../config/inventory.ts'
import { networkState } from '../../lab/network.ts'
import { hardwareProfile } from '../../lab/hardware.ts'

const REPO = join(import.meta.dirname, '../..')
const example = () => readFileSync(join(REPO, 'inventory/example.yaml'), 'utf8')
const labText = () => readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
const errs = (t: string, opts = {}) =>
  checkInventory(t, 'x.yaml', opts).errors.map((e) => `${e.line}:${e.column} ${e.field}: ${e.message}`)
const labHardware = { hardware: (n: string) => (n === 'validator1' ? hardwareProfile('validator-2socket') : undefined) }

test('production: a named link needs otherLinks (the ports Talos must leave alone, [] for none)', () => {
  assert.deepEqual(errs(example()), [])
  const text = example().replace('      otherLinks: [{ mac: "0c:42:a1:00:01:12" }]\n', '')
  const line = text.split('\n').findIndex((l) => l.includes('link: { mac: "0c:42:a1:00:00:12" }'))
  assert.deepEqual(errs(text), [
    `${line}:5 nodes[1].network: missing otherLinks: list the machine's other physical ports (talosctl get links --insecure shows them), or otherLinks: [] when it has none; Talos runs DHCP on every other port with a carrier, which then gets an address and a default route beside mac 0c:42:a1:00:00:12`,
  ])
  // a lab inventory may leave it out (the lab knows its machines: see below)
  assert.deepEqual(errs(labText().replace(', otherLinks: [{ busPath: "0000:41:00.1" }]', '')), [])
})

test('otherLinks entries: one selector each, in its format, not the link itself, not twice', () => {
  const t = (list: string) => example().replace('otherLinks: [{ mac: "0c:42:a1:00:01:12" }]', `otherLinks: ${list}`)
  assert.match(
    errs(t('[{ mac: "0c:42:a1:00:01:12", name: eth1 }]')).join('\n'),
    /nodes\[1\]\.network\.otherLinks\[0\]: give exactly one of mac, busPath, name \(got mac, name\)/,
  )
  assert.match(errs(t('[{ busPath: "41:00.1" }]')).join('\n'), /otherLinks\[0\]\.busPath: must be a PCI bus path/)
  assert.match(
    errs(t('[{ mac: "0C:42:A1:00:00:12" }]')).join('\n'),
    /otherLinks\[0\]: mac 0c:42:a1:00:00:12 is network\.link itself/,
  )
  assert.match(errs(t('[{ name: eno1 }, { name: eno1 }]')).join('\n'), /otherLinks\[1\]: name eno1 is listed twice/)
})

test('known hardware: every physical port is the link or in otherLinks, and each names a real port', () => {
  assert.deepEqual(errs(labText(), labHardware), [])
  const missing = errs(labText().replace(', otherLinks: [{ busPath: "0000:41:00.1" }]', ''), labHardware)
  assert.equal(missing.length, 1)
  assert.match(
    missing[0]!,
    /nodes\[3\]\.network: has no otherLinks for enp65s0f1np1 \(mac 0c:42:a1:21:00:01, busPath 0000:41:00\.1\), a port of validator1: Talos would run DHCP on it/,
  )
  const wrong = errs(
    labText().replace('otherLinks: [{ busPath: "0000:41:00.1" }]', 'otherLinks: [{ busPath: "0000:41:00.2" }]'),
    labHardware,
  )
  assert.match(
    wrong.join('\n'),
    /otherLinks\[0\]: busPath 0000:41:00\.2 is no port of validator1 \(ports: enp65s0f0np0 /,
  )
  assert.match(wrong.join('\n'), /otherLinks: misses enp65s0f1np1 /)
})

// ---------------------------------------------------------------- the lab's model of Talos' link defaults

const validator = { address: '10.0.0.21', hardware: hardwareProfile('validator-2socket') }
const ids = (s: ReturnType<typeof networkState>) => ({
  links: s.links.map((l) => `${l.link.name}:${l.source}:${l.adminUp ? 'up' : 'down'}`),
  addresses: s.addresses.map((a) => `${a.linkName}/${a.address}`),
  routes: s.routes.map((r) => `${r.outLinkName} via ${r.gateway} ${r.priority} ${r.protocol}`),
})

test('lab network: with no interfaces, every physical port with a carrier gets DHCP and a default route', () => {
  assert.deepEqual(ids(networkState(validator, [])), {
    links: ['enp65s0f0np0:default:up', 'enp65s0f1np1:default:up'],
    addresses: ['enp65s0f0np0/10.0.0.21/24', 'enp65s0f1np1/192.168.100.21/24'],
    routes: ['enp65s0f0np0 via 10.0.0.1 1024 boot', 'enp65s0f1np1 via 192.168.100.1 1024 boot'],
  })
  // a port without a carrier is up but gets no lease (the DHCP operator requires the link up)
  const unplugged = {
    ...validator,
    hardware: { links: validator.hardware.links!.map((l, i) => ({ ...l, carrier: i === 0 })) },
  }
  assert.deepEqual(ids(networkState(unplugged, [])).addresses, ['enp65s0f0np0/10.0.0.21/24'])
})

test('lab network: a named link and an ignored one; selectors match by glob; {physical: true} takes every port', () => {
  // a glob selector takes every port it matches (the model assumes entries name disjoint ports, as rendered ones do)
  assert.deepEqual(ids(networkState(validator, [{ deviceSelector: { driver: 'mlx5*' }, ignore: true }])), {
    links: ['enp65s0f0np0:ignored:down', 'enp65s0f1np1:ignored:down'],
    addresses: [],
    routes: [],
  })
  const named = networkState(validator, [
    {
      interface: 'enp65s0f0np0',
      addresses: ['10.0.0.21/24'],
      routes: [{ network: '0.0.0.0/0', gateway: '10.0.0.254' }],
    },
    { interface: 'enp65s0f1np1', ignore: true },
  ])
  assert.deepEqual(ids(named), {
    links: ['enp65s0f0np0:config:up', 'enp65s0f1np1:ignored:down'],
    addresses: ['enp65s0f0np0/10.0.0.21/24'],
    routes: ['enp65s0f0np0 via 10.0.0.254 1024 static'],
  })
  const physical = networkState(validator, [{ deviceSelector: { physical: true }, dhcp: true }])
  assert.deepEqual(ids(physical).addresses, ['enp65s0f0np0/10.0.0.21/24', 'enp65s0f1np1/192.168.100.21/24'])
})
