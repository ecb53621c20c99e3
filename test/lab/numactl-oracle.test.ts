// The project's `numactl --hardware` report, compared byte for byte with the real numactl reading the same files:
// each generated sysroot's /sys/devices/system/node is bind-mounted over the machine's in a private mount
// namespace (unshare -m), so numactl sees the lab node's topology. numactl (libnuma) reads only that directory
// for this report; CPU mask sizes come from the process itself, which fits up to 64 CPUs on any x86-64 kernel.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hardwareProfile } from '../../lab/hardware.ts'
import { applyBootParams, createSysroot } from '../../lab/sysroot.ts'
import { formatNumactlHardware, parseNumactlHardware, readNumaFromFiles } from '../../lib/host/numa.ts'

const NODE_DIR = '/sys/devices/system/node'

function whyCannotRun(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to bind-mount a sysroot over /sys/devices/system/node'
  const probe = spawnSync('unshare', ['-m', 'true'])
  if (probe.error || probe.status !== 0)
    return `unshare -m unavailable: ${probe.error?.message ?? probe.stderr.toString().trim()}`
  return undefined
}
const skipReason = whyCannotRun()

function realNumactl(sysNodeDir: string): string {
  // quote for sh: the temp dir path is ours, but keep it safe anyway
  const q = `'${sysNodeDir.replace(/'/g, `'\\''`)}'`
  return execFileSync('unshare', ['-m', 'sh', '-c', `mount --bind ${q} ${NODE_DIR} && exec numactl --hardware`], {
    encoding: 'utf8',
  })
}

const fileReader = (root: string) => (p: string) => {
  const f = join(root, p)
  return existsSync(f) ? readFileSync(f, 'utf8') : undefined
}

function withRoot(fn: (root: string) => void) {
  const root = mkdtempSync(join(tmpdir(), 'numactl-oracle-'))
  try {
    fn(root)
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

const CASES: { layout: string; cmdline: string }[] = [
  { layout: '1node', cmdline: 'console=ttyS0' },
  { layout: '2socket', cmdline: 'hugepages=1000' },
  { layout: '4node', cmdline: 'hugepagesz=1G hugepages=0:1,2:2,3:3' },
  { layout: 'memoryless', cmdline: 'hugepagesz=1G hugepages=3' },
  { layout: 'interleaved', cmdline: '' },
  { layout: 'validator-2socket', cmdline: 'default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:4' },
  { layout: 'controlplane', cmdline: '' },
]

for (const { layout, cmdline } of CASES) {
  test(`numactl --hardware on the ${layout} sysroot (${cmdline || 'no huge pages'})`, { skip: skipReason }, () => {
    withRoot((root) => {
      createSysroot(root, hardwareProfile(layout), { cmdline, hostname: layout })
      const ours = formatNumactlHardware(readNumaFromFiles(fileReader(root)))
      const real = realNumactl(join(root, NODE_DIR))
      assert.equal(ours, real)
      // the report reads back into the same topology numactl describes
      assert.equal(formatNumactlHardware(parseNumactlHardware(real)), real)
    })
  })
}

test("numactl sees huge pages taken out of each node's free memory, as our report does", { skip: skipReason }, () => {
  withRoot((root) => {
    const hw = hardwareProfile('validator-2socket')
    createSysroot(root, hw, { cmdline: '', hostname: 'v' })
    const before = parseNumactlHardware(realNumactl(join(root, NODE_DIR)))
    applyBootParams(root, hw, 'hugepagesz=1G hugepages=0:4,1:2', 0)
    const real = realNumactl(join(root, NODE_DIR))
    assert.equal(formatNumactlHardware(readNumaFromFiles(fileReader(root))), real)
    const after = parseNumactlHardware(real)
    assert.equal(before.nodes[0]!.memFreeMiB! - after.nodes[0]!.memFreeMiB!, 4096)
    assert.equal(before.nodes[1]!.memFreeMiB! - after.nodes[1]!.memFreeMiB!, 2048)
    assert.equal(after.nodes[0]!.memTotalMiB, before.nodes[0]!.memTotalMiB)
  })
})

test('numactl on a sysroot with an offline node in the middle (sparse node ids)', { skip: skipReason }, () => {
  withRoot((root) => {
    const hw = hardwareProfile('4node')
    createSysroot(root, hw, { cmdline: '', hostname: 'x' })
    const dir = join(root, NODE_DIR)
    rmSync(join(dir, 'node1'), { recursive: true })
    writeFileSync(join(dir, 'online'), '0,2-3\n')
    // an offline node drops out of every distance row
    for (const n of [0, 2, 3])
      writeFileSync(join(dir, `node${n}`, 'distance'), [0, 2, 3].map((k) => hw.distances[n]![k]).join(' ') + '\n')
    const real = realNumactl(dir)
    assert.match(real, /^available: 3 nodes \(0,2-3\)\n/)
    assert.equal(formatNumactlHardware(readNumaFromFiles(fileReader(root))), real)
  })
})

test(
  "this machine's own /sys: our report matches numactl except for free memory, which moves",
  { skip: skipReason },
  (t) => {
    const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined)
    if (read(`${NODE_DIR}/online`) === undefined) return t.skip(`no ${NODE_DIR}/online on this machine`)
    const ours = formatNumactlHardware(readNumaFromFiles(read))
    const real = execFileSync('numactl', ['--hardware'], { encoding: 'utf8' })
    const noFree = (s: string) => s.replace(/^(node \d+ free:) \d+ MB$/gm, '$1 N MB')
    assert.equal(noFree(ours), noFree(real))
  },
)
