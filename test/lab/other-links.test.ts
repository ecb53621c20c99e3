// Issue 21 item 13 against the lab's machines: the lab validator has a second NIC port cabled to a switch with its own
// DHCP server, and the lab configures links as Talos' network controllers do (lab/network.ts). With the config the
// inventory rendered before otherLinks existed (no network block), Talos runs DHCP on both ports: the second takes an
// address and a second default route. With the rendered network.link and otherLinks it stays down and unconfigured.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments, stringify } from 'yaml'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { hardwareProfile } from '../../lab/hardware.ts'
import { createSysroot } from '../../lab/sysroot.ts'
import { parseInventory } from '../../config/inventory.ts'
import { renderMachineConfigs } from '../../config/render.ts'
import { loadSecretsBundle } from '../../lib/talos/secrets-bundle.ts'
import { parseResources } from '../../lib/talos/parse.ts'

const P = '127.0.93'
const REPO = join(import.meta.dirname, '../..')
const LAB_YAML = readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
let lab: TestLab

/** validator1's machine.network.interfaces as the product renders them from this inventory text. */
function renderedInterfaces(inventoryText: string): unknown {
  const inv = parseInventory(inventoryText, 'inventory/lab.yaml')
  const text = renderMachineConfigs(inv, loadSecretsBundle(lab.secretsFile)).get('validator1')!
  return parseAllDocuments(text)[0]!.toJS().machine.network.interfaces
}

/** Make worker `name` a lab validator machine and install it with these interfaces. */
async function installValidator(name: string, interfaces: unknown) {
  const hw = hardwareProfile('validator-2socket')
  lab.update(name, (n) => {
    n.hardware = hw
    n.installDisk = '/dev/nvme0n1'
  })
  createSysroot(join(lab.dir, 'nodes', name, 'root'), hw, { cmdline: 'console=ttyS0 rescue', hostname: name })
  const docs = parseAllDocuments(lab.renderConfig('worker')).map((d) => d.toJS())
  if (interfaces) docs[0].machine.network = { interfaces }
  await lab.install(name, docs.map((d) => stringify(d)).join('---\n'))
}

async function get(address: string, type: string): Promise<{ id: string; spec: Record<string, unknown> }[]> {
  const r = await lab.run(['-n', address, 'get', type, '-o', 'json'])
  assert.equal(r.code, 0, r.stderr)
  return parseResources<Record<string, unknown>>(r.stdout).map((x) => ({ id: x.metadata.id, spec: x.spec }))
}

describe("the validator's second NIC on the lab machines (issue 21 item 13)", { timeout: 120_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 2 })
    await lab.install('cp1', lab.renderConfig('controlplane'))
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('before otherLinks: Talos runs DHCP on the second port, which takes an address and a default route', async () => {
    // the inventory without the validator's network block, as it was: nothing about links is rendered (nor its NIC
    // tuning, which names the link network.link selects)
    const before = LAB_YAML.replace(/^ {4}network: \{ link: \{ busPath: "0000:41:00\.0" \}.*\n/m, '').replace(
      /^ {2}nic:\n(?: {4}.*\n)+/m,
      '',
    )
    assert.notEqual(before, LAB_YAML)
    assert.equal(renderedInterfaces(before), undefined)
    await installValidator('w1', undefined)
    const addresses = await get(`${P}.21`, 'addresses')
    assert.deepEqual(
      addresses.map((a) => a.id),
      [`enp65s0f0np0/${P}.21/24`, 'enp65s0f1np1/192.168.100.21/24'],
    )
    const defaults = (await get(`${P}.21`, 'routes')).filter((r) => r.spec.dst === '')
    assert.deepEqual(
      defaults.map((r) => [r.id, r.spec.outLinkName, r.spec.protocol]),
      [
        [`inet4/${P}.1//1024`, 'enp65s0f0np0', 'boot'],
        ['inet4/192.168.100.1//1024', 'enp65s0f1np1', 'boot'],
      ],
    )
  })

  it('with network.link and otherLinks rendered: one address, one default route, the second port down', async () => {
    const interfaces = renderedInterfaces(LAB_YAML)
    assert.deepEqual(interfaces, [
      { deviceSelector: { busPath: '0000:41:00.0' }, dhcp: true },
      { deviceSelector: { busPath: '0000:41:00.1' }, ignore: true },
    ])
    await installValidator('w2', interfaces)
    assert.deepEqual(
      (await get(`${P}.22`, 'addresses')).map((a) => a.id),
      [`enp65s0f0np0/${P}.22/24`],
    )
    assert.deepEqual(
      (await get(`${P}.22`, 'routes')).map((r) => [r.spec.gateway, r.spec.outLinkName]),
      [[`${P}.1`, 'enp65s0f0np0']],
    )
    const links = await get(`${P}.22`, 'links')
    assert.deepEqual(
      links.map((l) => [l.id, l.spec.operationalState]),
      [
        ['enp65s0f0np0', 'up'],
        ['enp65s0f1np1', 'down'],
      ],
    )
  })
})
