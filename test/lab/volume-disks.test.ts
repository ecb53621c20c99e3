// Issue 21 item 11 against the lab's machines: the lab validator's accounts drive (3.84 TB, nvme1n1) sorts before its
// ledger drive (1.92 TB, nvme2n1), and the lab places user volumes as Talos' volume manager does (lab/volumes.ts).
// A ledger selector of the kind the example inventory used to carry also matches the accounts drive, so the ledger
// lands beside accounts; the selectors rendered from the inventory's disk: put each volume on its own drive; a ledger
// drive with an old filesystem is never used, and 05's volume-disks judgement says so and how to wipe it.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments, stringify } from 'yaml'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { hardwareProfile } from '../../lab/hardware.ts'
import { createSysroot } from '../../lab/sysroot.ts'
import { wipeDisk, type UserVolumeStatus } from '../../lab/volumes.ts'
import { parseInventory } from '../../config/inventory.ts'
import { renderMachineConfigs } from '../../config/render.ts'
import { loadSecretsBundle } from '../../lib/talos/secrets-bundle.ts'
import { Talosctl } from '../../lib/talos/talosctl.ts'
import { readVolumeDiskFacts, volumeDiskProblems } from '../../steps/05-storage-tuning/volume-disks.ts'

const P = '127.0.97'
const REPO = join(import.meta.dirname, '../..')
const LAB_INVENTORY = parseInventory(readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8'), 'inventory/lab.yaml')
const STORAGE = LAB_INVENTORY.validator!.storage!
let lab: TestLab
let talos: Talosctl

/** The UserVolumeConfig documents the product renders for the lab validator (config/render.ts). */
function renderedVolumeDocs(): unknown[] {
  const text = renderMachineConfigs(LAB_INVENTORY, loadSecretsBundle(lab.secretsFile)).get('validator1')!
  return parseAllDocuments(text)
    .map((d) => d.toJS())
    .filter((d) => d?.kind === 'UserVolumeConfig')
}

/** What the example inventory rendered before disk: existed: a ledger selector the larger accounts drive matches too. */
const OLD_SELECTORS = [
  {
    apiVersion: 'v1alpha1',
    kind: 'UserVolumeConfig',
    name: 'ledger',
    provisioning: {
      diskSelector: { match: 'disk.transport == "nvme" && disk.size >= 1900u * GB && !system_disk' },
      minSize: '1700GiB',
    },
    filesystem: { type: 'xfs' },
  },
  {
    apiVersion: 'v1alpha1',
    kind: 'UserVolumeConfig',
    name: 'accounts',
    provisioning: { diskSelector: { match: 'disk.serial == "LABACC00000001"' }, minSize: '800GiB', maxSize: '1TiB' },
    filesystem: { type: 'xfs' },
  },
]

/** Make worker `name` a lab validator machine (hardware profile) and install it with these volume documents. */
async function installValidator(name: string, profile: string, volumes: unknown[]) {
  const hw = hardwareProfile(profile)
  lab.update(name, (n) => {
    n.hardware = hw
    n.installDisk = '/dev/nvme0n1'
  })
  createSysroot(join(lab.dir, 'nodes', name, 'root'), hw, { cmdline: 'console=ttyS0 rescue', hostname: name })
  const base = parseAllDocuments(lab.renderConfig('worker')).map((d) => d.toJS())
  await lab.install(name, [...base, ...volumes].map((d) => stringify(d)).join('---\n'))
}

const judge = async (address: string) =>
  volumeDiskProblems(STORAGE, await readVolumeDiskFacts({ talos }, { address }), {
    node: { name: 'validator1', address, installDisk: '/dev/nvme0n1' },
    talosconfig: lab.talosconfig,
    inventoryFile: 'inventory/lab.yaml',
  })

async function volumeStatus(address: string, id: string): Promise<Record<string, unknown>> {
  const r = await lab.run(['-n', address, 'get', 'volumestatus', id, '-o', 'json'])
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout).spec
}

describe('validator volumes on the lab machines (issue 21 item 11)', { timeout: 180_000 }, () => {
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 3 })
    await lab.install('cp1', lab.renderConfig('controlplane'))
    talos = new Talosctl({ bin: lab.talosctl, talosconfig: lab.talosconfig, env: lab.env, quiet: true })
  })
  after(async () => {
    await lab?.cleanup()
  })

  it('a ledger selector that also matches the accounts drive puts the ledger beside accounts; 05 says so', async () => {
    await installValidator('w1', 'validator-2socket', OLD_SELECTORS)
    // accounts (maxSize 1TiB) is provisioned first, then the ledger takes the first matching disk with room: nvme1n1
    assert.equal((await volumeStatus(`${P}.21`, 'u-accounts')).parentLocation, '/dev/nvme1n1')
    const ledger = await volumeStatus(`${P}.21`, 'u-ledger')
    assert.equal(ledger.phase, 'ready')
    assert.equal(ledger.parentLocation, '/dev/nvme1n1')
    const problems = await judge(`${P}.21`)
    assert.equal(problems.length, 1, problems.join('\n'))
    assert.match(
      problems[0]!,
      /^ledger: u-ledger is \/dev\/nvme1n1p2 on \/dev\/nvme1n1 \(serial LABACC00000001, 3840 GB\), not on the disk the inventory names, \/dev\/nvme2n1 \(serial LABLDG00000001, 1920 GB\)/,
    )
    assert.match(problems[0]!, /wipe disk nvme1n1p2 --drop-partition/)
  })

  it("the selectors rendered from the inventory's disk: put each volume on its own drive", async () => {
    const docs = renderedVolumeDocs()
    assert.equal(docs.length, 2)
    await installValidator('w2', 'validator-2socket', docs)
    assert.equal((await volumeStatus(`${P}.22`, 'u-ledger')).parentLocation, '/dev/nvme2n1')
    assert.equal((await volumeStatus(`${P}.22`, 'u-accounts')).parentLocation, '/dev/nvme1n1')
    assert.deepEqual(await judge(`${P}.22`), [])
  })

  it('a ledger drive with an old xfs signature is never used: 05 names it and the wipe; after the wipe it is', async () => {
    await installValidator('w3', 'validator-2socket-reused', renderedVolumeDocs())
    const ledger = await volumeStatus(`${P}.23`, 'u-ledger')
    assert.equal(ledger.phase, 'failed')
    assert.equal(ledger.errorMessage, 'no disks matched for volume')
    assert.equal((await volumeStatus(`${P}.23`, 'u-accounts')).phase, 'ready')
    const found = await lab.run(['-n', `${P}.23`, 'get', 'discoveredvolumes', 'nvme2n1', '-o', 'json'])
    assert.equal(JSON.parse(found.stdout).spec.name, 'xfs')
    const problems = await judge(`${P}.23`)
    assert.equal(problems.length, 1, problems.join('\n'))
    assert.match(
      problems[0]!,
      /^ledger: u-ledger is failed \(no disks matched for volume\): \/dev\/nvme2n1 \(serial LABLDG00000001, 1920 GB\) carries an old xfs signature/,
    )
    assert.ok(problems[0]!.includes(`talosctl --talosconfig ${lab.talosconfig} -n ${P}.23 wipe disk nvme2n1`))
    // what `talosctl wipe disk nvme2n1` does on the node (the lab's talosctl does not serve it: lab/volumes.ts)
    const statuses = [{ id: 'u-accounts', ...(await volumeStatus(`${P}.23`, 'u-accounts')) }] as UserVolumeStatus[]
    lab.update('w3', (n) => (n.hardware.disks = wipeDisk(n.hardware.disks, 'nvme2n1', statuses)))
    assert.throws(() => wipeDisk(lab.node('w3').hardware.disks, 'nvme1n1', statuses), /in use by volume "u-accounts"/)
    assert.equal((await volumeStatus(`${P}.23`, 'u-ledger')).parentLocation, '/dev/nvme2n1')
    assert.deepEqual(await judge(`${P}.23`), [])
  })
})
