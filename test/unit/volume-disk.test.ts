// Issue 21 item 11: each validator volume names exactly one disk. The CEL rendered from the inventory's disk:, the
// inventory rules (with and without known hardware), 05's judgement of what the node reports, and the lab's model
// of Talos' volume manager that the lab tests run against.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  diskSelectorCel,
  disksMayCoincide,
  parseByteSize,
  volumeDiskMatches,
  type KnownDisk,
} from '../../config/volume-disk.ts'
import { checkInventory, type StorageSpec } from '../../config/inventory.ts'
import { volumeDiskProblems, type VolumeDiskFacts } from '../../steps/05-storage-tuning/volume-disks.ts'
import { provisionUserVolumes, wipeDisk, type UserVolume } from '../../lab/volumes.ts'
import { hardwareProfile } from '../../lab/hardware.ts'

const REPO = join(import.meta.dirname, '../..')
const labText = () => readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
const labHardware = { hardware: (n: string) => (n === 'validator1' ? hardwareProfile('validator-2socket') : undefined) }

test('disk: renders one CEL selector per form; sizes are uint byte literals and skip the system disk', () => {
  assert.equal(diskSelectorCel({ serial: 'S6B0NG0R123456' }), 'disk.serial == "S6B0NG0R123456"')
  assert.equal(diskSelectorCel({ wwid: 'eui.0025388b91d2a6f5' }), 'disk.wwid == "eui.0025388b91d2a6f5"')
  assert.equal(
    diskSelectorCel({ size: { min: '1.5TB', max: '2.5TB' } }),
    'disk.size >= 1500000000000u && disk.size <= 2500000000000u && !system_disk',
  )
  assert.equal(parseByteSize('1TiB'), 2 ** 40)
  const d: KnownDisk = { dev: '/dev/nvme2n1', serial: 'A', wwid: 'w', sizeBytes: 1.92e12 }
  assert.ok(volumeDiskMatches({ size: { min: '1.5TB', max: '2.5TB' } }, d, false))
  assert.ok(!volumeDiskMatches({ size: { min: '1.5TB', max: '2.5TB' } }, d, true), 'never the system disk')
  assert.ok(volumeDiskMatches({ serial: 'A' }, d, false) && !volumeDiskMatches({ wwid: 'x' }, d, false))
})

test('two volumes may not name disks that can coincide (same serial/wwid, overlapping ranges)', () => {
  assert.ok(disksMayCoincide({ serial: 'A' }, { serial: 'A' }))
  assert.ok(!disksMayCoincide({ serial: 'A' }, { serial: 'B' }))
  assert.ok(disksMayCoincide({ size: { min: '1TB', max: '2TB' } }, { size: { min: '2TB', max: '4TB' } }))
  assert.ok(!disksMayCoincide({ size: { min: '1TB', max: '2TB' } }, { size: { min: '2.1TB', max: '4TB' } }))
  // only known hardware can tell whether a serial and a size range are the same disk
  assert.ok(!disksMayCoincide({ serial: 'A' }, { size: { min: '1TB', max: '2TB' } }))
})

test("inventory: a volume's disk must match exactly one disk of the known machine, not its install disk", () => {
  assert.deepEqual(checkInventory(labText(), 'lab.yaml', labHardware).errors, [])
  const swap = (from: string, to: string) => checkInventory(labText().replace(from, to), 'lab.yaml', labHardware)
  // a range that takes in the larger accounts drive too: both drives would match (the case)
  const two = swap('{ size: { min: 1.5TB, max: 2.5TB } }', '{ size: { min: 1.5TB, max: 5TB } }').errors
  assert.ok(
    two.some(
      (e) =>
        e.field === 'validator.storage[0].disk' &&
        e.message.startsWith('size 1.5TB..5TB matches /dev/nvme1n1 and /dev/nvme2n1 of validator1'),
    ),
    JSON.stringify(two),
  )
  const none = swap('{ size: { min: 1.5TB, max: 2.5TB } }', '{ serial: NOPE }').errors
  assert.match(none[0]!.message, /^serial "NOPE" matches no disk of validator1; it must match exactly one \(disks: /)
  const system = swap('{ size: { min: 1.5TB, max: 2.5TB } }', '{ serial: LABSYS00000001 }').errors
  assert.match(system[0]!.message, /is validator1's install disk \/dev\/nvme0n1: give the volume its own disk/)
  const same = swap('{ size: { min: 3TB, max: 4.5TB } }', '{ serial: LABLDG00000001 }').errors
  assert.match(same[0]!.message, /serial "LABLDG00000001" is \/dev\/nvme2n1, which ledger already names/)
  // each error points at the field in the file
  assert.equal(
    two[0]!.line,
    labText()
      .split('\n')
      .findIndex((l) => l.includes('min: 1.5TB')) + 1,
  )
})

test('inventory: disk: takes exactly one form; the old diskSelector is refused with the form to use', () => {
  const r = checkInventory(
    labText().replace('disk: { size: { min: 1.5TB, max: 2.5TB } }', `diskSelector: 'disk.serial == "LABLDG00000001"'`),
    'lab.yaml',
  )
  assert.match(r.errors[0]!.message, /^is replaced by disk: .*name the one disk: disk: \{ serial: LABLDG00000001 \}$/)
  const both = checkInventory(
    labText().replace('{ size: { min: 1.5TB, max: 2.5TB } }', '{ serial: A, wwid: B }'),
    'lab.yaml',
  )
  assert.deepEqual(
    both.errors.map((e) => [e.field, e.message]),
    [['validator.storage[0].disk', 'give exactly one of serial, wwid, size (got serial, wwid)']],
  )
  const small = checkInventory(labText().replace('max: 2.5TB', 'max: 50GB'), 'lab.yaml')
  assert.ok(small.errors.some((e) => e.message === 'is smaller than min 1.5TB (got "50GB")'))
  assert.ok(small.errors.some((e) => e.message === 'a disk of at most 50GB cannot hold minSize 100GiB'))
})

// ---------------------------------------------------------------- 05: what the node reports

const LEDGER: StorageSpec = {
  name: 'ledger',
  disk: { serial: 'LDG' },
  minSize: '100GiB',
  filesystem: 'xfs',
  mountPoint: '/var/mnt/ledger',
  owner: { uid: 1000, gid: 1000 },
  mode: '0750',
}
const res = <T>(id: string, spec: T) => ({ node: '10.0.0.21', metadata: { id } as never, spec })
const disks = [
  res('nvme0n1', { dev_path: '/dev/nvme0n1', size: 512e9, serial: 'SYS' }),
  res('nvme1n1', { dev_path: '/dev/nvme1n1', size: 3.84e12, serial: 'ACC' }),
  res('nvme2n1', { dev_path: '/dev/nvme2n1', size: 1.92e12, serial: 'LDG' }),
]
const CTX = {
  node: { name: 'validator1', address: '10.0.0.21', installDisk: '/dev/nvme0n1' },
  talosconfig: 'out/x/talosconfig',
  inventoryFile: 'inv.yaml',
}
const facts = (over: Partial<VolumeDiskFacts>): VolumeDiskFacts => ({ statuses: [], disks, discovered: [], ...over })

test('05 volume-disks: ready on the named disk passes; on another disk it says Talos will not move it', () => {
  const on = (parent: string) =>
    facts({ statuses: [res('u-ledger', { phase: 'ready', location: `${parent}p1`, parentLocation: parent })] })
  assert.deepEqual(volumeDiskProblems([LEDGER], on('/dev/nvme2n1'), CTX), [])
  const [p] = volumeDiskProblems([LEDGER], on('/dev/nvme1n1'), CTX)
  assert.match(p!, /^ledger: u-ledger is \/dev\/nvme1n1p1 on \/dev\/nvme1n1 \(serial ACC, 3840 GB\), not on the disk/)
  assert.match(p!, /talosctl --talosconfig out\/x\/talosconfig -n 10\.0\.0\.21 wipe disk nvme1n1p1 --drop-partition/)
})

test('05 volume-disks: a failed volume is explained by what is on its disk, with the wipe command', () => {
  const failed = res('u-ledger', { phase: 'failed', errorMessage: 'no disks matched for volume' })
  const sig = volumeDiskProblems(
    [LEDGER],
    facts({ statuses: [failed], discovered: [res('nvme2n1', { type: 'disk', name: 'ext4', label: 'old-ledger' })] }),
    CTX,
  )
  assert.equal(
    sig[0],
    'ledger: u-ledger is failed (no disks matched for volume): /dev/nvme2n1 (serial LDG, 1920 GB) carries an old ext4 signature (label "old-ledger"), and Talos v1.10 partitions only a blank disk or a GPT disk with room (volumes/disk.go:52-55). If nothing on it is needed, wipe it (everything on it is lost): talosctl --talosconfig out/x/talosconfig -n 10.0.0.21 wipe disk nvme2n1; Talos then creates the volume by itself: re-run 05',
  )
  const full = volumeDiskProblems(
    [LEDGER],
    facts({
      statuses: [failed],
      discovered: [
        res('nvme2n1', { type: 'disk', name: 'gpt' }),
        res('nvme2n1p1', { type: 'partition', name: 'xfs', parent: 'nvme2n1', partition_label: 'data' }),
      ],
    }),
    CTX,
  )
  assert.match(full[0]!, /has a GPT partition table \(1 partition\(s\): data\) without a free run of 100GiB/)
  assert.match(full[0]!, /wipe disk nvme2n1;/)
  assert.match(volumeDiskProblems([LEDGER], facts({}), CTX)[0]!, /has no volume u-ledger: .*run 02-configure/)
  const gone = volumeDiskProblems([LEDGER], facts({ disks: disks.slice(0, 2) }), CTX)
  assert.match(gone[0]!, /^ledger: serial "LDG" matches no disk of validator1, which has \/dev\/nvme0n1 .*: fix /)
})

// ---------------------------------------------------------------- the lab's model of Talos' volume manager

const vol = (name: string, diskSelector: string, minSize: string, maxSize?: string): UserVolume => ({
  name,
  diskSelector,
  minSize,
  ...(maxSize ? { maxSize } : {}),
  filesystem: 'xfs',
})

test('lab volume manager: smaller maxSize first, disks by ID, the first matching disk with room', () => {
  const hw = hardwareProfile('validator-2socket')
  const placed = provisionUserVolumes(
    [
      vol('ledger', 'disk.transport == "nvme" && disk.size >= 1900u * GB && !system_disk', '1700GiB'),
      vol('accounts', 'disk.serial == "LABACC00000001"', '800GiB', '1TiB'),
    ],
    hw.disks,
    '/dev/nvme0n1',
  )
  assert.deepEqual(
    placed.map((v) => [v.id, v.phase, v.location]),
    [
      ['u-accounts', 'ready', '/dev/nvme1n1p1'],
      ['u-ledger', 'ready', '/dev/nvme1n1p2'],
    ],
  )
  assert.equal(placed[0]!.size, 2 ** 40)
  // the system disk matches `disk.transport == "nvme"` but EPHEMERAL fills it
  const sys = provisionUserVolumes([vol('x', 'disk.transport == "nvme"', '1GiB')], hw.disks, '/dev/nvme0n1')
  assert.equal(sys[0]!.parentLocation, '/dev/nvme1n1')
})

test('lab volume manager: a disk with an old signature is refused until wiped; a used disk cannot be wiped', () => {
  const hw = hardwareProfile('validator-2socket-reused')
  const v = [vol('ledger', 'disk.serial == "LABLDG00000001"', '100GiB')]
  const [failed] = provisionUserVolumes(v, hw.disks, '/dev/nvme0n1')
  assert.deepEqual([failed!.phase, failed!.errorMessage], ['failed', 'no disks matched for volume'])
  const wiped = wipeDisk(hw.disks, 'nvme2n1', [failed!])
  const [ready] = provisionUserVolumes(v, wiped, '/dev/nvme0n1')
  assert.deepEqual([ready!.phase, ready!.parentLocation], ['ready', '/dev/nvme2n1'])
  assert.throws(() => wipeDisk(wiped, 'nvme2n1', [ready!]), /blockdevice "nvme2n1" is in use by volume "u-ledger"/)
  assert.throws(() => wipeDisk(wiped, 'sdz', []), /blockdevice "sdz" not found/)
})
