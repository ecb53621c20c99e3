import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HARDWARE_PROFILES, hardwareProfile } from '../../lab/hardware.ts'
import {
  applyBootParams,
  applyRuntimeConfig,
  baseNodeMemory,
  bootShiftKiB,
  createSysroot,
  currentBoot,
} from '../../lab/sysroot.ts'
import { ownerOf, setOwner } from '../../lab/file-owners.ts'
import { parseCpuList, parseCpumap, readNumaFromFiles } from '../../lib/host/numa.ts'
import { parseCmdline, parseMeminfo, parseModules, parseMounts } from '../../lib/host/procfs.ts'

/** A sysroot at <tmp>/root, as the lab keeps nodes/<name>/root (what it records about files sits beside it). */
function withRoot(fn: (root: string) => void) {
  const base = mkdtempSync(join(tmpdir(), 'sysroot-test-'))
  const root = join(base, 'root')
  mkdirSync(root)
  try {
    fn(root)
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
}
const rd = (root: string, rel: string) => readFileSync(join(root, rel), 'utf8')
const reader = (root: string) => (p: string) =>
  existsSync(join(root, p)) ? readFileSync(join(root, p), 'utf8') : undefined
const N = 'sys/devices/system/node'
const GiB_KiB = 1048576

test('hardware profiles: the inventory ones exist and unknown names list the valid ones', () => {
  for (const name of [
    'controlplane',
    'worker',
    'validator-2socket',
    '1node',
    '2socket',
    '4node',
    'memoryless',
    'interleaved',
  ]) {
    assert.ok(HARDWARE_PROFILES.includes(name), name)
  }
  const v = hardwareProfile('validator-2socket')
  assert.deepEqual(v.numaCpus[0]!.slice(0, 3), [0, 2, 4])
  assert.deepEqual(v.numaCpus[1]!.slice(0, 3), [1, 3, 5])
  assert.deepEqual(
    v.disks.map((d) => d.model),
    ['LAB NVMe 512GB', 'LAB NVMe 3.84TB', 'LAB NVMe 1.92TB'],
  )
  assert.ok(v.disks.every((d) => d.serial !== '' && d.wwid?.startsWith('nvme.')))
  // profiles are fresh copies
  v.numaMemoryMiB[0] = 1
  assert.equal(hardwareProfile('validator-2socket').numaMemoryMiB[0], 32768)
  assert.throws(
    () => hardwareProfile('nope'),
    /unknown lab hardware profile "nope"; valid: controlplane, worker, validator-2socket/,
  )
})

test('createSysroot writes the NUMA sysfs files in kernel formats', () => {
  withRoot((root) => {
    const hw = hardwareProfile('memoryless')
    createSysroot(root, hw, { cmdline: 'console=ttyS0', hostname: 'n1' })
    assert.equal(rd(root, `${N}/online`), '0-2\n')
    assert.equal(rd(root, `${N}/has_memory`), '0,2\n')
    assert.equal(rd(root, `${N}/has_normal_memory`), '0,2\n')
    assert.equal(rd(root, `${N}/has_cpu`), '0-1\n')
    assert.equal(rd(root, `${N}/node1/cpumap`), 'f0\n')
    assert.equal(rd(root, `${N}/node2/cpumap`), '00\n')
    assert.equal(rd(root, `${N}/node2/cpulist`), '\n')
    assert.equal(rd(root, `${N}/node0/distance`), '10 21 31\n')
    assert.equal(rd(root, 'sys/devices/system/cpu/online'), '0-7\n')
    assert.match(
      rd(root, `${N}/node1/meminfo`),
      /^Node 1 MemTotal:              0 kB\nNode 1 MemFree:               0 kB\n/,
    )
    assert.equal(rd(root, `${N}/node0/hugepages/hugepages-1048576kB/nr_hugepages`), '0\n')
    assert.equal(rd(root, `${N}/node0/hugepages/hugepages-2048kB/free_hugepages`), '0\n')
    assert.equal(rd(root, 'proc/cmdline'), 'console=ttyS0\n')
    assert.equal(rd(root, 'proc/sys/kernel/hostname'), 'n1\n')
    assert.match(
      rd(root, 'etc/os-release'),
      /^NAME="Talos"\nID=talos\nVERSION_ID=v1.10.3\nPRETTY_NAME="Talos \(v1.10.3\)"\n/,
    )
    assert.equal(rd(root, 'proc/sys/vm/max_map_count'), '65530\n')
    assert.equal(rd(root, 'proc/sys/net/ipv4/tcp_congestion_control'), 'cubic\n')
    assert.equal(rd(root, 'proc/modules'), '')
    assert.equal((rd(root, 'proc/cpuinfo').match(/^processor\t: /gm) ?? []).length, 8)
  })
})

test('cpumap of a >32-CPU layout has 32-bit groups and matches cpulist', () => {
  withRoot((root) => {
    const hw = hardwareProfile('interleaved')
    createSysroot(root, hw, { cmdline: '', hostname: 'x' })
    assert.equal(rd(root, `${N}/node0/cpumap`), '5555,55555555\n')
    assert.equal(rd(root, `${N}/node1/cpumap`), 'aaaa,aaaaaaaa\n')
    for (const n of [0, 1])
      assert.deepEqual(parseCpumap(rd(root, `${N}/node${n}/cpumap`)), parseCpuList(rd(root, `${N}/node${n}/cpulist`)))
  })
})

// the kernel's printf shapes: "Node %d %-16s%8lu kB" style rows and "%5u" hugepage counts; /proc/meminfo "%-16s%8lu kB"
const NODE_ROW = /^Node \d+ [A-Za-z_()]+: *\d+ kB$|^Node \d+ HugePages_(?:Total: |Free:  |Surp:  )[ \d]{5}$/
/** "%-16s%8lu": label+colon padded to 16 columns, value right-aligned in 8 (wider values push the line). */
const rowWidth = (label: string, value: string) => Math.max(16, label.length + 1) + Math.max(8, value.length)
test("meminfo files have the kernel line shapes (checked against this machine's files too)", () => {
  withRoot((root) => {
    createSysroot(root, hardwareProfile('2socket'), { cmdline: '', hostname: 'x' })
    const ours = rd(root, `${N}/node0/meminfo`).trimEnd().split('\n')
    const kb = /^Node \d+ ([A-Za-z_()]+):( *)(\d+) kB$/
    for (const line of ours) {
      assert.match(line, NODE_ROW)
      const m = kb.exec(line)
      // label + colon padded to 16 columns, then the value right-aligned in 8
      if (m) assert.equal(m[1]!.length + 1 + m[2]!.length + m[3]!.length, rowWidth(m[1]!, m[3]!), line)
    }
    const host = '/sys/devices/system/node/node0/meminfo'
    if (existsSync(host)) {
      const hostLines = readFileSync(host, 'utf8').trimEnd().split('\n')
      for (const line of hostLines) {
        assert.match(line, NODE_ROW, `host line ${line}`)
        const m = kb.exec(line)
        if (m) assert.equal(m[1]!.length + 1 + m[2]!.length + m[3]!.length, rowWidth(m[1]!, m[3]!), line)
      }
      // same fields, in the same order, for the ones both kernels print
      const keys = (ls: string[]) => ls.map((l) => /^Node \d+ ([^:]+):/.exec(l)![1]!)
      const hostKeys = keys(hostLines)
      const ourKeys = keys(ours).filter((k) => hostKeys.includes(k))
      assert.deepEqual(
        ourKeys,
        hostKeys.filter((k) => ourKeys.includes(k)),
      )
      assert.ok(ourKeys.length >= 30)
    }
    const proc = rd(root, 'proc/meminfo').trimEnd().split('\n')
    // the same column rule holds for this machine's /proc/meminfo, which is what makes it the rule
    if (existsSync('/proc/meminfo')) proc.push(...readFileSync('/proc/meminfo', 'utf8').trimEnd().split('\n'))
    for (const line of proc) assert.match(line, /^[A-Za-z_()0-9]+:\s+\d+( kB)?$/)
    for (const line of proc) {
      const m = /^([^:]+):( +)(\d+)/.exec(line)!
      assert.equal(m[1]!.length + 1 + m[2]!.length + m[3]!.length, rowWidth(m[1]!, m[3]!), line)
    }
    const mi = parseMeminfo(rd(root, 'proc/meminfo'))
    for (const k of [
      'MemTotal',
      'MemFree',
      'MemAvailable',
      'HugePages_Total',
      'HugePages_Free',
      'HugePages_Rsvd',
      'HugePages_Surp',
      'Hugepagesize',
      'Hugetlb',
      'DirectMap4k',
      'DirectMap2M',
    ]) {
      assert.ok(mi[k] !== undefined, k)
    }
    const nodeTotals = [0, 1].map((n) => parseMeminfo(rd(root, `${N}/node${n}/meminfo`)).MemTotal!)
    assert.equal(mi.MemTotal, nodeTotals[0]! + nodeTotals[1]!)
  })
})

test('boot with per-node 1G huge pages: counts, meminfo and MemFree per node', () => {
  withRoot((root) => {
    const hw = hardwareProfile('validator-2socket')
    createSysroot(root, hw, { cmdline: 'console=ttyS0', hostname: 'validator1' })
    const before = readNumaFromFiles(reader(root))
    const cmdline = 'console=ttyS0 default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:4 iommu=pt'
    // boot 0 again: the same MemTotal per node, so only the huge pages differ
    const res = applyBootParams(root, hw, cmdline, 0)
    assert.deepEqual(res.allocation.warnings, [])
    assert.equal(parseCmdline(rd(root, 'proc/cmdline')).get('hugepages'), '0:4,1:4')
    const after = readNumaFromFiles(reader(root))
    for (const n of [0, 1]) {
      assert.equal(rd(root, `${N}/node${n}/hugepages/hugepages-1048576kB/nr_hugepages`), '4\n')
      assert.equal(rd(root, `${N}/node${n}/hugepages/hugepages-1048576kB/free_hugepages`), '4\n')
      assert.equal(rd(root, `${N}/node${n}/hugepages/hugepages-2048kB/nr_hugepages`), '0\n')
      assert.deepEqual(after.nodes[n]!.hugepages?.[1048576], { total: 4, free: 4, surplus: 0 })
      assert.equal(after.nodes[n]!.memTotalKiB, before.nodes[n]!.memTotalKiB)
      assert.equal(before.nodes[n]!.memFreeKiB! - after.nodes[n]!.memFreeKiB!, 4 * GiB_KiB)
      assert.equal(parseMeminfo(rd(root, `${N}/node${n}/meminfo`)).HugePages_Total, 4)
    }
    const mi = parseMeminfo(rd(root, 'proc/meminfo'))
    assert.equal(mi.HugePages_Total, 8)
    assert.equal(mi.HugePages_Free, 8)
    assert.equal(mi.Hugepagesize, GiB_KiB)
    assert.equal(mi.Hugetlb, 8 * GiB_KiB)
    assert.equal(rd(root, 'sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages'), '8\n')
    // booting again without the arguments releases them
    applyBootParams(root, hw, 'console=ttyS0', 0)
    assert.equal(parseMeminfo(rd(root, 'proc/meminfo')).HugePages_Total, 0)
    assert.equal(readNumaFromFiles(reader(root)).nodes[0]!.memFreeKiB, before.nodes[0]!.memFreeKiB)
  })
})

test("each boot moves MemTotal between the NUMA nodes (kubernetes issue 131253's size), the machine's total stays", () => {
  withRoot((root) => {
    const hw = hardwareProfile('validator-2socket')
    createSysroot(root, hw, { cmdline: 'console=ttyS0', hostname: 'validator1' })
    const totals = () => [0, 1].map((n) => parseMeminfo(rd(root, `${N}/node${n}/meminfo`)).MemTotal!)
    const first = totals()
    assert.equal(currentBoot(root), 0)
    const seen = [first]
    for (let boot = 1; boot <= 5; boot++) {
      applyBootParams(root, hw, 'console=ttyS0')
      assert.equal(currentBoot(root), boot)
      assert.match(rd(root, 'proc/sys/kernel/random/boot_id'), new RegExp(`-0{11}${boot}\\n$`))
      const t = totals()
      assert.equal(t[0]! - first[0]!, bootShiftKiB(boot))
      assert.equal(t[0]! + t[1]!, first[0]! + first[1]!, 'the machine keeps its MemTotal')
      assert.equal(parseMeminfo(rd(root, 'proc/meminfo')).MemTotal, first[0]! + first[1]!)
      assert.notDeepEqual(t, seen[seen.length - 1], `boot ${boot} moved memory`)
      seen.push(t)
    }
    for (let b = 1; b < 2000; b++) {
      assert.ok(Math.abs(bootShiftKiB(b)) <= 42672 && bootShiftKiB(b) % 4 === 0, `boot ${b}`)
      assert.notEqual(bootShiftKiB(b), bootShiftKiB(b + 1))
    }
    // a single-node machine has nowhere to move memory to
    const one = hardwareProfile('1node')
    assert.deepEqual(baseNodeMemory(one, 7), baseNodeMemory(one, 0))
  })
})

test('boot with a plain count: spread round-robin over nodes with memory; 2M default size in meminfo', () => {
  withRoot((root) => {
    const hw = hardwareProfile('memoryless')
    createSysroot(root, hw, { cmdline: 'hugepages=5', hostname: 'x' })
    // node 1 has no memory: pages alternate between node 0 and node 2
    assert.equal(rd(root, `${N}/node0/hugepages/hugepages-2048kB/nr_hugepages`), '3\n')
    assert.equal(rd(root, `${N}/node1/hugepages/hugepages-2048kB/nr_hugepages`), '0\n')
    assert.equal(rd(root, `${N}/node2/hugepages/hugepages-2048kB/nr_hugepages`), '2\n')
    const mi = parseMeminfo(rd(root, 'proc/meminfo'))
    assert.equal(mi.HugePages_Total, 5)
    assert.equal(mi.Hugepagesize, 2048)
    assert.equal(mi.Hugetlb, 5 * 2048)
  })
})

test('boot with both pools (1G and 2M): each size per node, meminfo HugePages_* of the default size, Hugetlb of both', () => {
  withRoot((root) => {
    const hw = hardwareProfile('validator-2socket')
    const cmdline =
      'console=ttyS0 default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:4 hugepagesz=2M hugepages=0:128,1:64'
    const res = createSysroot(root, hw, { cmdline, hostname: 'validator1' })
    assert.deepEqual(res.warnings, [])
    for (const [n, small] of [
      [0, 128],
      [1, 64],
    ] as const) {
      assert.equal(rd(root, `${N}/node${n}/hugepages/hugepages-1048576kB/nr_hugepages`), '4\n')
      assert.equal(rd(root, `${N}/node${n}/hugepages/hugepages-2048kB/nr_hugepages`), `${small}\n`)
    }
    const mi = parseMeminfo(rd(root, 'proc/meminfo'))
    assert.equal(mi.HugePages_Total, 8)
    assert.equal(mi.Hugepagesize, GiB_KiB)
    assert.equal(mi.Hugetlb, 8 * GiB_KiB + 192 * 2048)
    assert.equal(rd(root, 'sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'), '192\n')
  })
})

test('hugepages= before its hugepagesz= goes to the default size, and the pool that follows is ignored', () => {
  withRoot((root) => {
    const hw = hardwareProfile('validator-2socket')
    // kernel-parameters.txt: a hugepages= that is the first HugeTLB parameter is for the default size (here 1G);
    // the 1G pair that follows sets the same size again ("specified twice", ignored); 2M gets nothing
    const res = createSysroot(root, hw, {
      cmdline: 'default_hugepagesz=1G hugepages=0:2,1:2 hugepagesz=1G hugepages=0:4,1:4 hugepagesz=2M',
      hostname: 'validator1',
    })
    assert.match(res.warnings.join('\n'), /specified twice/)
    assert.equal(rd(root, `${N}/node0/hugepages/hugepages-1048576kB/nr_hugepages`), '2\n')
    assert.equal(rd(root, `${N}/node0/hugepages/hugepages-2048kB/nr_hugepages`), '0\n')
  })
})

test('the 2M pool is placed after the 1G pool and comes up short when both do not fit', () => {
  withRoot((root) => {
    const hw = hardwareProfile('1node') // 4 GiB
    const base = baseNodeMemory(hw)[0]!
    const res = createSysroot(root, hw, {
      cmdline: 'default_hugepagesz=1G hugepagesz=1G hugepages=0:2 hugepagesz=2M hugepages=0:4096',
      hostname: 'x',
    })
    assert.equal(rd(root, `${N}/node0/hugepages/hugepages-1048576kB/nr_hugepages`), '2\n')
    const fit = Math.floor((base.freeKiB - 2 * GiB_KiB - 64 * 1024) / 2048)
    assert.ok(fit > 0 && fit < 4096)
    assert.equal(rd(root, `${N}/node0/hugepages/hugepages-2048kB/nr_hugepages`), `${fit}\n`)
    assert.match(
      res.warnings.join('\n'),
      new RegExp(`allocating 4096 of page size 2.00 MiB failed node0.  Only allocated ${fit} hugepages`),
    )
  })
})

test("pages that do not fit a node are not allocated, with the kernel's warning", () => {
  withRoot((root) => {
    const hw = hardwareProfile('1node') // 4 GiB
    const res = createSysroot(root, hw, { cmdline: 'hugepagesz=1G hugepages=0:8', hostname: 'x' })
    const base = baseNodeMemory(hw)[0]!
    const fit = Math.floor((base.freeKiB - 64 * 1024) / GiB_KiB)
    assert.ok(fit > 0 && fit < 8)
    assert.equal(rd(root, `${N}/node0/hugepages/hugepages-1048576kB/nr_hugepages`), `${fit}\n`)
    assert.match(
      res.warnings.join('\n'),
      new RegExp(`allocating 8 of page size 1.00 GiB failed node0.  Only allocated ${fit} hugepages`),
    )
    const free = parseMeminfo(rd(root, `${N}/node0/meminfo`)).MemFree!
    assert.equal(free, base.freeKiB - fit * GiB_KiB)
    assert.ok(free >= 64 * 1024)
  })
})

test('a per-node request naming an offline node is ignored as a whole; a memoryless node gets none', () => {
  withRoot((root) => {
    const hw = hardwareProfile('2socket')
    const res = createSysroot(root, hw, { cmdline: 'hugepagesz=1G hugepages=0:2,5:2', hostname: 'x' })
    assert.equal(rd(root, `${N}/node0/hugepages/hugepages-1048576kB/nr_hugepages`), '0\n')
    assert.match(res.warnings.join('\n'), /HugeTLB: Invalid hugepages parameter 2$/m)
  })
  withRoot((root) => {
    const res = createSysroot(root, hardwareProfile('memoryless'), {
      cmdline: 'hugepagesz=1G hugepages=0:1,1:2',
      hostname: 'x',
    })
    assert.equal(rd(root, `${N}/node0/hugepages/hugepages-1048576kB/nr_hugepages`), '1\n')
    assert.equal(rd(root, `${N}/node1/hugepages/hugepages-1048576kB/nr_hugepages`), '0\n')
    assert.match(res.warnings.join('\n'), /failed node1.  Only allocated 0 hugepages/)
  })
})

test('applyRuntimeConfig: sysctls, modules, mounts with owner markers; unknown sysctl trees are errors', () => {
  withRoot((root) => {
    createSysroot(root, hardwareProfile('validator-2socket'), {
      cmdline: '',
      hostname: 'v',
      installDisk: '/dev/nvme0n1',
    })
    assert.ok(
      parseMounts(rd(root, 'proc/mounts')).some((m) => m.device === '/dev/nvme0n1p6' && m.mountPoint === '/var'),
    )
    const cfg = {
      sysctls: {
        'vm.max_map_count': '1048576',
        'net.core.default_qdisc': 'fq',
        'net.ipv4.tcp_congestion_control': 'bbr',
        'net.ipv4.tcp_new_knob': '1',
        'nosuch.subsystem.knob': '1',
      },
      kernelModules: ['tcp_bbr', 'sch_fq', 'vfio-pci', 'nosuch_mod'],
      mounts: [
        { device: '/dev/nvme1n1p1', mountPoint: '/var/mnt/ledger', fsType: 'xfs', uid: 1000, gid: 1000, mode: '0750' },
        { device: '/dev/nvme2n1p1', mountPoint: 'relative', fsType: 'xfs' },
      ],
    }
    const first = applyRuntimeConfig(root, cfg)
    assert.equal(first.errors.length, 3)
    // kernel_module_spec.go: `error loading module %q: %w` with kmod's ErrModuleNotFound
    assert.equal(first.errors[0]!, 'error loading module "nosuch_mod": module not found')
    assert.match(
      first.errors[1]!,
      /^sysctl nosuch\.subsystem\.knob: \/proc\/sys\/nosuch\/subsystem\/knob does not exist/,
    )
    assert.match(first.errors[2]!, /mount \/dev\/nvme2n1p1 on "relative"/)
    assert.equal(rd(root, 'proc/sys/vm/max_map_count'), '1048576\n')
    assert.equal(rd(root, 'proc/sys/net/core/default_qdisc'), 'fq\n')
    assert.equal(rd(root, 'proc/sys/net/ipv4/tcp_new_knob'), '1\n')
    assert.ok(!existsSync(join(root, 'proc/sys/nosuch')))
    assert.equal(rd(root, 'proc/sys/net/ipv4/tcp_available_congestion_control'), 'reno cubic bbr\n')
    assert.deepEqual(ownerOf(root, '/var/mnt/ledger'), { uid: 1000, gid: 1000, mode: '0750' })
    assert.ok(
      !existsSync(join(root, 'var/mnt/ledger/.lab-owner')),
      'nothing the node would not have appears in its filesystem',
    )
    // a chown on the node sticks: applying the same config again changes nothing
    setOwner(root, '/var/mnt/ledger', { uid: 1001 })
    applyRuntimeConfig(root, cfg)
    assert.deepEqual(ownerOf(root, '/var/mnt/ledger/'), { uid: 1001, gid: 1000, mode: '0750' })
    // tcp_bbr and sch_fq are built into the Talos kernel: listed in modules.builtin, never in /proc/modules
    const mods = parseModules(rd(root, 'proc/modules'))
    assert.deepEqual(
      mods.map((m) => m.name),
      ['vfio_pci'],
    )
    const builtin = rd(root, 'usr/lib/modules/6.12.28-talos/modules.builtin')
    assert.match(builtin, /^kernel\/net\/ipv4\/tcp_bbr\.ko$/m)
    assert.match(builtin, /^kernel\/net\/sched\/sch_fq\.ko$/m)
    // a later config apply mounts the same volume again (no owner in a machine config): its owner and mode stay
    applyRuntimeConfig(root, {
      sysctls: {},
      kernelModules: [],
      mounts: [{ device: '/dev/nvme1n1p1', mountPoint: '/var/mnt/ledger', fsType: 'xfs' }],
    })
    assert.deepEqual(ownerOf(root, '/var/mnt/ledger'), { uid: 1001, gid: 1000, mode: '0750' })
    // a boot mounts it afresh, and Talos resets the mount root to its MountSpec, root:root 0755 (mount.go:487 →
    // updateTargetSettings), not recursively: the data directory below keeps what 05 set
    mkdirSync(join(root, 'var/mnt/ledger/data'))
    setOwner(root, '/var/mnt/ledger/data', { uid: 1000, gid: 1000, mode: '0750' })
    const boot = {
      sysctls: {},
      kernelModules: [],
      mounts: [{ device: '/dev/nvme1n1p1', mountPoint: '/var/mnt/ledger', fsType: 'xfs' }],
    }
    applyRuntimeConfig(root, boot, { boot: true })
    assert.deepEqual(ownerOf(root, '/var/mnt/ledger'), { uid: 0, gid: 0, mode: '0755' })
    assert.deepEqual(ownerOf(root, '/var/mnt/ledger/data'), { uid: 1000, gid: 1000, mode: '0750' })
    // so does an apply that mounts a volume not mounted yet
    setOwner(root, '/var/mnt/ledger', { uid: 1000, gid: 1000, mode: '0750' })
    writeFileSync(join(root, 'proc/mounts'), '')
    applyRuntimeConfig(root, boot)
    assert.deepEqual(ownerOf(root, '/var/mnt/ledger'), { uid: 0, gid: 0, mode: '0755' })
    const ledger = parseMounts(rd(root, 'proc/mounts')).filter((m) => m.mountPoint === '/var/mnt/ledger')
    assert.equal(ledger.length, 1)
    assert.equal(ledger[0]!.device, '/dev/nvme1n1p1')
    assert.equal(ledger[0]!.fsType, 'xfs')
  })
})

test("the sysroot serves each CPU's core (thread_siblings_list): SMT pairs on the validator, one thread per core elsewhere", () => {
  const dir = mkdtempSync(join(tmpdir(), 'sysroot-smt-'))
  try {
    const read = (root: string, cpu: number) =>
      readFileSync(join(root, `sys/devices/system/cpu/cpu${cpu}/topology/thread_siblings_list`), 'utf8')
    const v = join(dir, 'v')
    createSysroot(v, hardwareProfile('validator-2socket'), { cmdline: 'console=ttyS0', hostname: 'v' })
    assert.equal(read(v, 0), '0,16\n')
    assert.equal(read(v, 16), '0,16\n')
    assert.equal(read(v, 1), '1,17\n')
    assert.equal(readFileSync(join(v, 'sys/devices/system/cpu/cpu17/topology/core_cpus_list'), 'utf8'), '1,17\n')
    const w = join(dir, 'w')
    createSysroot(w, hardwareProfile('worker'), { cmdline: 'console=ttyS0', hostname: 'w' })
    assert.equal(read(w, 3), '3\n')
    // a core must not span NUMA nodes
    assert.throws(
      () =>
        createSysroot(
          join(dir, 'bad'),
          { ...hardwareProfile('validator-2socket'), threadSiblings: [[0, 1]] },
          { cmdline: '', hostname: 'b' },
        ),
      /spans NUMA nodes|cover every cpu/,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a boot with nosmt or maxcpus= takes CPUs offline in sysfs; the next boot without brings them back', () => {
  withRoot((root) => {
    const hw = hardwareProfile('validator-2socket') // cores {c, c+16}
    const cpu = (rel: string) => reader(root)(`sys/devices/system/cpu/${rel}`)
    createSysroot(root, hw, { cmdline: 'console=ttyS0', hostname: 'v' })
    assert.equal(cpu('online'), '0-31\n')
    assert.equal(cpu('offline'), '\n')
    assert.equal(cpu('smt/control'), 'on\n')
    applyBootParams(root, hw, 'console=ttyS0 nosmt')
    assert.equal(cpu('online'), '0-15\n')
    assert.equal(cpu('offline'), '16-31\n')
    assert.equal(cpu('smt/control'), 'off\n')
    assert.equal(cpu('smt/active'), '0\n')
    assert.equal(cpu('cpu16/online'), '0\n')
    // an offline CPU has no topology; its sibling's lists only the online thread
    assert.equal(cpu('cpu16/topology/thread_siblings_list'), undefined)
    assert.equal(cpu('cpu0/topology/thread_siblings_list'), '0\n')
    // a NUMA node lists its online CPUs (this profile numbers them alternately: node 0 the even ones)
    assert.equal(reader(root)(`${N}/node0/cpulist`), '0,2,4,6,8,10,12,14\n')
    assert.deepEqual(parseCpumap(reader(root)(`${N}/node1/cpumap`)!.trim()), [1, 3, 5, 7, 9, 11, 13, 15])
    applyBootParams(root, hw, 'console=ttyS0 maxcpus=24')
    assert.equal(cpu('online'), '0-23\n')
    assert.equal(cpu('cpu16/topology/thread_siblings_list'), '0,16\n')
    assert.equal(cpu('cpu24/topology/thread_siblings_list'), undefined)
    assert.equal(cpu('cpu8/topology/thread_siblings_list'), '8\n')
    applyBootParams(root, hw, 'console=ttyS0')
    assert.equal(cpu('online'), '0-31\n')
    assert.equal(cpu('cpu24/topology/thread_siblings_list'), '8,24\n')
    assert.equal(cpu('cpu24/online'), '1\n')
  })
})
