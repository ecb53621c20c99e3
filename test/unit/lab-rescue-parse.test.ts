// The lab rescue shell's command parsing and output formats (pure).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCommandLine, parseDdSize, tokenize } from '../../lab/rescue/parse.ts'
import { ddStats, lsblkJson, unameOutput } from '../../lab/rescue/outputs.ts'
import { parseLabInventory } from '../../lab/lab-inventory.ts'
import { buildImage, parseImageHeader } from '../../lab/images.ts'
import { fingerprintOfPubLine } from '../../lab/sshd.ts'

const ops = (line: string) => parseCommandLine(line).map((s) => s.op)

test('tokenize honours quotes and splits operators', () => {
  assert.deepEqual(tokenize(`zstd -dc|dd of='/dev/sda' bs=4M&&sync;reboot`), [
    'zstd',
    '-dc',
    '|',
    'dd',
    'of=/dev/sda',
    'bs=4M',
    '&&',
    'sync',
    ';',
    'reboot',
  ])
  assert.deepEqual(tokenize('cat >/dev/sda'), ['cat', '>', '/dev/sda'])
})

test('dd sizes use dd suffixes: M is MiB, MB is 10^6', () => {
  assert.equal(parseDdSize('4M'), 4 * 1024 * 1024)
  assert.equal(parseDdSize('1MB'), 1e6)
  assert.equal(parseDdSize('512'), 512)
  assert.equal(parseDdSize('4X'), undefined)
})

test('the install commands parse to disk writes', () => {
  assert.deepEqual(ops('dd of=/dev/sda bs=4M conv=fsync status=progress'), [
    { kind: 'write', dev: '/dev/sda', tool: 'dd', blockSize: 4194304, quiet: false, decompress: undefined },
  ])
  assert.deepEqual(ops('cat > /dev/nvme0n1'), [
    { kind: 'write', dev: '/dev/nvme0n1', tool: 'cat', blockSize: 0, quiet: true },
  ])
  assert.equal((ops('zstd -dc | dd of=/dev/sda bs=4M status=none')[0] as { decompress?: string }).decompress, 'zstd')
  assert.deepEqual(ops('head -c 1048576 /dev/sda | sha256sum'), [{ kind: 'sha256', dev: '/dev/sda', limit: 1048576 }])
  assert.deepEqual(ops('sha256sum /dev/sda'), [{ kind: 'sha256', dev: '/dev/sda' }])
})

test('sequences keep their joiners; unknown programs are sh "not found" (127)', () => {
  assert.deepEqual(
    parseCommandLine('sync && reboot').map((s) => [s.after, s.op.kind]),
    [
      ['start', 'sync'],
      ['&&', 'reboot'],
    ],
  )
  assert.deepEqual(ops('rm -rf /'), [{ kind: 'fail', stderr: 'sh: 1: rm: not found\n', code: 127 }])
  assert.deepEqual(ops('wipefs -a /dev/sda | dd of=/dev/sda'), [
    { kind: 'fail', stderr: 'sh: 1: wipefs: not found\n', code: 127 },
  ])
  const bad = ops('dd of=/dev/sda bs=lots')[0]!
  assert.equal(bad.kind, 'fail')
  assert.match((bad as { stderr: string }).stderr, /invalid number: 'lots'/)
})

test('lsblk JSON has util-linux layout and null for missing model/serial', () => {
  const out = lsblkJson(
    [{ dev: '/dev/sda', sizeBytes: 64e9, model: 'QEMU HARDDISK', serial: '', transport: 'virtio', rotational: false }],
    ['NAME', 'SIZE', 'MODEL', 'SERIAL', 'TYPE'],
    true,
  )
  assert.equal(
    out,
    '{\n   "blockdevices": [\n      {\n         "name": "sda",\n         "size": 64000000000,\n         "model": "QEMU HARDDISK",\n         "serial": null,\n         "type": "disk"\n      }\n   ]\n}\n',
  )
  assert.deepEqual(JSON.parse(out).blockdevices[0].size, 64e9)
})

test('dd statistics and uname -a in the coreutils formats', () => {
  assert.equal(
    ddStats(6291456, 4194304, 0.5).split('\n').slice(0, 3).join('\n'),
    '1+1 records in\n1+1 records out\n6291456 bytes (6.3 MB, 6.0 MiB) copied, 0.500 s, 13 MB/s',
  )
  assert.match(unameOutput(['a']), /^Linux rescue \S+ #1 .* x86_64 GNU\/Linux\n$/)
  assert.equal(unameOutput([]), 'Linux\n')
})

test('lab image header round-trips and the image is deterministic per version', () => {
  const img = buildImage('v1.10.3', 64 * 1024)
  assert.deepEqual(parseImageHeader(img), { talosVersion: 'v1.10.3', arch: 'amd64', platform: 'metal' })
  assert.equal(parseImageHeader(Buffer.from('not an image')), undefined)
  assert.ok(buildImage('v1.10.3', 64 * 1024).equals(img))
  assert.ok(!buildImage('v1.10.4', 64 * 1024).equals(img))
})

test('fingerprint of a .pub line is SHA256 of the decoded key blob, base64 without padding', () => {
  // key and fingerprint from `ssh-keygen -t ed25519` / `ssh-keygen -lf` (OpenSSH 9.2)
  const pub = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFt8JZj6nN6PQ89hbuGTM5Ce665PSktJz5AvKKHSM4FZ x'
  assert.equal(fingerprintOfPubLine(pub), 'SHA256:ffPMkmygTWQMuK4detTEgAeCHH2AHrOCReI9u78br3U')
  assert.throws(() => fingerprintOfPubLine('garbage'))
})

test('lab inventory: target must be lab, addresses loopback, defaults applied', () => {
  const inv = (target: string, addr = '127.0.50.11') =>
    `cluster: { name: c, target: ${target}, endpoint: "https://127.0.50.10:6443" }\ndefaults: { rescue: { port: 2299 } }\nnodes:\n  - { name: cp1, address: ${addr}, role: controlplane, installDisk: /dev/sda }\n`
  const ok = parseLabInventory(inv('lab'))
  assert.deepEqual(ok.nodes[0]!.rescue, { host: '127.0.50.11', port: 2299, user: 'root' })
  assert.equal(ok.nodes[0]!.hardware, 'controlplane')
  assert.throws(() => parseLabInventory(inv('production'), 'prod.yaml'), /prod.yaml: cluster.target is "production"/)
  assert.throws(() => parseLabInventory(inv('lab', '10.0.0.11')), /not a 127.x.y.z loopback/)
})
