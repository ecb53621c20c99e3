import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import {
  hugepagesFromCmdline,
  parseCmdline,
  parseHugepageSize,
  parseMeminfo,
  parseModules,
  parseMounts,
  sysctlKey,
  sysctlPath,
} from '../../lib/host/procfs.ts'

const MEMINFO = `MemTotal:       24683620 kB
MemFree:        24280200 kB
Active(anon):       1576 kB
VmallocTotal:   34359738367 kB
HugePages_Total:       8
HugePages_Free:        7
Hugepagesize:    1048576 kB
`

test('parseMeminfo: kB values and page counts, keys as in the file', () => {
  const m = parseMeminfo(MEMINFO)
  assert.equal(m.MemTotal, 24683620)
  assert.equal(m['Active(anon)'], 1576)
  assert.equal(m.VmallocTotal, 34359738367)
  assert.equal(m.HugePages_Total, 8)
  assert.equal(m.HugePages_Free, 7)
  assert.equal(m.Hugepagesize, 1048576)
  assert.equal(Object.keys(m).length, 7)
})

test('parseMeminfo reads node meminfo lines ("Node 0 MemTotal: ...")', () => {
  const m = parseMeminfo('Node 1 MemTotal:       32768000 kB\nNode 1 HugePages_Total:     4\n')
  assert.deepEqual(m, { MemTotal: 32768000, HugePages_Total: 4 })
})

test("parseMeminfo reads this machine's /proc/meminfo (real kernel format)", (t) => {
  if (!existsSync('/proc/meminfo')) return t.skip('no /proc/meminfo')
  const text = readFileSync('/proc/meminfo', 'utf8')
  const m = parseMeminfo(text)
  assert.equal(Object.keys(m).length, text.trim().split('\n').length)
  assert.ok(m.MemTotal! > 0 && m.MemFree! <= m.MemTotal!)
})

test('parseCmdline: quotes, bare flags, repeated keys, -- for init', () => {
  const c = parseCmdline('console=ttyS0 console=tty0 quiet foo="a b c" "bar=x y" hugepages=0:4,1:4 -- --init-arg\n')
  assert.deepEqual(c.args, ['console=ttyS0', 'console=tty0', 'quiet', 'foo=a b c', 'bar=x y', 'hugepages=0:4,1:4'])
  assert.deepEqual(c.initArgs, ['--init-arg'])
  assert.equal(c.get('console'), 'tty0')
  assert.deepEqual(c.all('console'), ['ttyS0', 'tty0'])
  assert.equal(c.get('quiet'), '')
  assert.equal(c.has('quiet'), true)
  assert.equal(c.get('foo'), 'a b c')
  assert.equal(c.get('bar'), 'x y')
  assert.equal(c.get('missing'), undefined)
  assert.equal(c.has('init-arg'), false)
  // '-' and '_' are the same in kernel parameter names
  assert.equal(parseCmdline('amd-pstate=active').get('amd_pstate'), 'active')
})

test('hugepage sizes parse like memparse', () => {
  assert.equal(parseHugepageSize('1G'), 1048576)
  assert.equal(parseHugepageSize('1g'), 1048576)
  assert.equal(parseHugepageSize('2M'), 2048)
  assert.equal(parseHugepageSize('2048k'), 2048)
  assert.equal(parseHugepageSize('2097152'), 2048)
  assert.equal(parseHugepageSize('1x'), undefined)
})

test('hugepagesFromCmdline: per-node and plain counts tied to the preceding hugepagesz', () => {
  const h = hugepagesFromCmdline('default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:4 hugepagesz=2M hugepages=512')
  assert.equal(h.defaultSize, 1048576)
  assert.deepEqual(h.sizes, [
    { sizeKiB: 1048576, perNode: { 0: 4, 1: 4 } },
    { sizeKiB: 2048, count: 512 },
  ])
  assert.deepEqual(h.warnings, [])
})

test('hugepagesFromCmdline: hugepages= first goes to the default size, which defaults to 2M', () => {
  assert.deepEqual(hugepagesFromCmdline('hugepages=16').sizes, [{ sizeKiB: 2048, count: 16 }])
  assert.equal(hugepagesFromCmdline('hugepages=16').defaultSize, 2048)
  // default_hugepagesz given later still decides what the leading hugepages= means
  assert.deepEqual(hugepagesFromCmdline('hugepages=2 default_hugepagesz=1G').sizes, [{ sizeKiB: 1048576, count: 2 }])
  assert.deepEqual(hugepagesFromCmdline('quiet').sizes, [])
})

test('hugepagesFromCmdline: what the kernel ignores is reported, not allocated', () => {
  const dup = hugepagesFromCmdline('hugepagesz=1G hugepages=2 hugepages=3')
  assert.deepEqual(dup.sizes, [{ sizeKiB: 1048576, count: 2 }])
  assert.match(dup.warnings.join('\n'), /specified twice/)
  const bad = hugepagesFromCmdline('hugepagesz=4M hugepages=2 hugepagesz=2M hugepages=0:x')
  assert.deepEqual(bad.sizes, [])
  assert.match(bad.warnings.join('\n'), /unsupported hugepagesz=4M/)
  assert.match(bad.warnings.join('\n'), /invalid hugepages=0:x/)
})

test('parseModules', () => {
  const mods = parseModules(
    'tcp_bbr 20480 3 - Live 0x0000000000000000\nnf_nat 61440 2 xt_MASQUERADE,nft_chain_nat, Live 0xffffffffc0a0e000\nvboxdrv 696320 2 - Live 0x0000000000000000 (OE)\n',
  )
  assert.deepEqual(
    mods.map((m) => [m.name, m.sizeBytes, m.refcount, m.usedBy, m.state, m.taints]),
    [
      ['tcp_bbr', 20480, 3, [], 'Live', ''],
      ['nf_nat', 61440, 2, ['xt_MASQUERADE', 'nft_chain_nat'], 'Live', ''],
      ['vboxdrv', 696320, 2, [], 'Live', 'OE'],
    ],
  )
  assert.deepEqual(parseModules(''), [])
  assert.throws(() => parseModules('broken line\n'), /bad \/proc\/modules line/)
})

test('parseMounts decodes octal escapes', () => {
  const m = parseMounts(
    '/dev/nvme1n1p1 /var/mnt/ledger xfs rw,relatime,attr2,inode64 0 0\nnone /mnt/with\\040space tmpfs rw 0 0\n',
  )
  assert.deepEqual(m[0], {
    device: '/dev/nvme1n1p1',
    mountPoint: '/var/mnt/ledger',
    fsType: 'xfs',
    options: ['rw', 'relatime', 'attr2', 'inode64'],
    dump: 0,
    pass: 0,
  })
  assert.equal(m[1]!.mountPoint, '/mnt/with space')
})

test('sysctlPath / sysctlKey', () => {
  assert.equal(sysctlPath('net.core.rmem_max'), '/proc/sys/net/core/rmem_max')
  assert.equal(sysctlPath('vm.max_map_count'), '/proc/sys/vm/max_map_count')
  assert.equal(sysctlPath('net/ipv4/conf/eth0.100/forwarding'), '/proc/sys/net/ipv4/conf/eth0.100/forwarding')
  assert.equal(sysctlPath('proc.sys.vm.swappiness'), '/proc/sys/vm/swappiness')
  assert.equal(sysctlPath('/proc/sys/vm/swappiness'), '/proc/sys/vm/swappiness')
  assert.throws(() => sysctlPath('net..core'), /bad sysctl key/)
  assert.throws(() => sysctlPath('../etc/passwd'), /bad sysctl key/)
  assert.equal(sysctlKey('/proc/sys/net/ipv4/tcp_congestion_control'), 'net.ipv4.tcp_congestion_control')
})
