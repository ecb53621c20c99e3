import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hardwareProfile } from '../../lab/hardware.ts'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  checkInventory,
  expandCpuset,
  formatIssue,
  InventoryError,
  isLabelKey,
  loadInventory,
  parseInventory,
  type InventoryIssue,
} from '../../config/inventory.ts'
import { parseQuantity, quantityValue } from '../../lib/kube/quantity.ts'

const FIXTURES = fileURLToPath(new URL('../fixtures/inventory/', import.meta.url))
const REPO = fileURLToPath(new URL('../../', import.meta.url))
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8')

test('inventory/lab.yaml loads: defaults merged into every node', () => {
  const inv = loadInventory(join(REPO, 'inventory/lab.yaml'))
  assert.equal(inv.cluster.target, 'lab')
  const cps = inv.nodes.filter((n) => n.role === 'controlplane')
  assert.equal(cps.length, 3)
  for (const n of inv.nodes) {
    // port/user/keyFile come from defaults.rescue, host/fingerprint from the node; no imageUrl: 01 fetches the
    // factory's image for the node's schematic
    assert.equal(n.rescue.port, 2222)
    assert.equal(n.rescue.user, 'root')
    assert.equal(n.rescue.keyFile, '.lab/ssh/id_ed25519')
    assert.equal(n.rescue.imageUrl, undefined)
    assert.equal(n.rescue.host, n.address)
    assert.equal(n.rescue.hostKeyFingerprint, `file:.lab/ssh/${n.name}/host_key.fingerprint`)
  }
  const v = inv.nodes.filter((n) => n.profile === 'validator')
  assert.deepEqual(
    v.map((n) => n.name),
    ['validator1'],
  )
  assert.deepEqual(inv.validator?.hugepages[0]?.perNumaNode, [4, 4])
})

test('bmc blocks: defaults filled in (UDP 623, cipher suite 3); inventory/lab.yaml names one per machine', () => {
  const lab = loadInventory(join(REPO, 'inventory/lab.yaml'))
  for (const n of lab.nodes)
    assert.deepEqual(n.bmc, {
      type: 'ipmi',
      address: n.address,
      port: 6230,
      username: 'admin',
      passwordFile: '.lab/bmc/password',
      cipherSuite: 3,
    })
  const text = fixture('valid-production.yaml').replace(
    '    address: 10.1.0.12\n',
    '    address: 10.1.0.12\n    bmc: { type: ipmi, address: 10.1.1.12, username: ADMIN, passwordFile: keys/bmc-cp2 }\n',
  )
  const inv = parseInventory(text, 'x.yaml')
  assert.deepEqual(inv.nodes[1]!.bmc, {
    type: 'ipmi',
    address: '10.1.1.12',
    port: 623,
    username: 'ADMIN',
    passwordFile: 'keys/bmc-cp2',
    cipherSuite: 3,
  })
  assert.equal(inv.nodes[0]!.bmc, undefined)
})

test('inventory/example.yaml (production) is valid and has no lab blocks', () => {
  const r = checkInventory(readFileSync(join(REPO, 'inventory/example.yaml'), 'utf8'), 'inventory/example.yaml')
  assert.deepEqual(r.errors, [])
  assert.equal(r.inventory?.cluster.target, 'production')
  assert.equal(r.inventory?.nodes.filter((n) => n.role === 'controlplane').length, 3)
  assert.ok(r.inventory?.nodes.every((n) => !n.lab))
  assert.ok(r.inventory?.cluster.vip)
})

test('the valid base fixtures pass (so each malformed fixture fails only for its one change)', () => {
  for (const f of ['valid-production.yaml', 'valid-lab.yaml']) {
    const r = checkInventory(fixture(f), f)
    assert.deepEqual(r.errors, [], f)
  }
})

const malformed = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml') && !f.startsWith('valid-'))

test('there are at least 15 malformed inventory fixtures', () => {
  assert.ok(malformed.length >= 15, `only ${malformed.length}`)
})

for (const f of malformed) {
  test(`malformed inventory ${f}: reports file:line:col, field and message`, () => {
    const text = fixture(f)
    const expects = [...text.matchAll(/^# expect: (\d+):(\d+) (\S*): (.+)$/gm)].map((m) => ({
      line: Number(m[1]),
      column: Number(m[2]),
      field: m[3],
      message: m[4],
    }))
    assert.ok(expects.length > 0, `${f} has no expect lines`)
    const file = `test/fixtures/inventory/${f}`
    assert.throws(
      () => parseInventory(text, file),
      (e: unknown) => {
        assert.ok(e instanceof InventoryError)
        for (const x of expects) {
          const hit: InventoryIssue | undefined = e.issues.find(
            (i) => i.line === x.line && i.column === x.column && i.field === x.field && i.message.includes(x.message),
          )
          assert.ok(
            hit,
            `${f}: expected ${x.line}:${x.column} ${x.field}: ${x.message}\n  got:\n  ${e.issues.map(formatIssue).join('\n  ')}`,
          )
          assert.equal(hit.file, file)
          // the Error's message carries the same line, in the documented shape
          assert.ok(e.message.split('\n').includes(formatIssue(hit)))
          assert.ok(formatIssue(hit).startsWith(`${file}:${x.line}:${x.column}: ${x.field ? `${x.field}: ` : ''}`))
        }
        return true
      },
    )
  })
}

test('validator.storage[].dataDir: defaults to <mountPoint>/data, may be any plain path strictly below mountPoint', () => {
  // owner and mode are the data dir's: Talos resets the mount root to root:root 0755 at every mount
  const lab = loadInventory(join(REPO, 'inventory/lab.yaml'))
  assert.deepEqual(
    lab.validator?.storage?.map((s) => s.dataDir),
    ['/var/mnt/ledger/data', '/var/mnt/accounts/data'],
  )
  const own = fixture('valid-production.yaml').replace(
    '      mountPoint: /var/mnt/ledger\n',
    '      mountPoint: /var/mnt/ledger\n      dataDir: /var/mnt/ledger/solana/ledger\n',
  )
  assert.equal(parseInventory(own, 'own.yaml').validator?.storage?.[0]?.dataDir, '/var/mnt/ledger/solana/ledger')
  for (const bad of [
    '/var/mnt/ledger/',
    '/var/mnt/ledger//x',
    '/var/mnt/ledgerx/data',
    '/var/mnt/ledger/./x',
    'data',
  ]) {
    const r = checkInventory(own.replace('dataDir: /var/mnt/ledger/solana/ledger', `dataDir: "${bad}"`), 'bad.yaml')
    assert.deepEqual(
      r.errors.map((e) => `${e.line} ${e.field}`),
      ['58 validator.storage[0].dataDir'],
      bad,
    )
  }
})

test('all problems are reported at once, sorted by position', () => {
  const text = fixture('valid-production.yaml')
    .replace('installDisk: /dev/nvme0n1', 'installDisk: nvme0n1')
    .replace('address: 10.1.0.12', 'address: "bad host!"')
  const r = checkInventory(text, 'x.yaml')
  assert.deepEqual(
    r.errors.map((e) => e.field),
    ['nodes[1].address', 'nodes[3].installDisk'],
  )
  assert.ok(r.errors[0].line < r.errors[1].line)
})

test('a single control-plane node is a warning, not an error', () => {
  let text = fixture('valid-production.yaml')
  for (const n of ['cp2', 'cp3']) text = text.replace(new RegExp(`  - name: ${n}\\n(    .*\\n){4}`), '')
  const r = checkInventory(text, 'one-cp.yaml')
  assert.deepEqual(r.errors, [])
  assert.equal(r.inventory?.nodes.filter((n) => n.role === 'controlplane').length, 1)
  const count = r.warnings.filter((w) => w.field === 'nodes')
  assert.equal(count.length, 1)
  assert.match(count[0].message, /1 control-plane node/)
})

test('cpu in systemReserved/kubeReserved next to reservedSystemCpus is an error (kubelet overrides it); without it, live', () => {
  const base = fixture('valid-production.yaml')
  const withCpu = base
    .replace('systemReserved: { memory: 2Gi }', 'systemReserved: { cpu: 2000m, memory: 2Gi }')
    .replace('kubeReserved: { memory: 1Gi }', 'kubeReserved: { cpu: "1", memory: 1Gi }')
  const r = checkInventory(withCpu, 'x.yaml')
  const line = (key: string) => withCpu.split('\n').findIndex((l) => l.startsWith(`  ${key}:`)) + 1
  assert.deepEqual(
    r.errors.map((e) => `${e.line}:${e.column} ${e.field}`),
    [
      `${line('systemReserved')}:21 validator.systemReserved.cpu`,
      `${line('kubeReserved')}:19 validator.kubeReserved.cpu`,
    ],
  )
  assert.match(
    r.errors[0]!.message,
    /kubelet ignores it: with reservedSystemCpus "0,1" it sets systemReserved\.cpu to the number of reserved CPUs \(2\) and deletes kubeReserved\.cpu .*remove cpu from systemReserved.*\(got "2000m"\)$/,
  )
  assert.match(r.errors[1]!.message, /remove cpu from kubeReserved.*\(got "1"\)$/)
  // no reservedSystemCpus (CPU manager none): kubelet subtracts the cpu reservations from allocatable, so they stay
  const shared = withCpu.replace('  cpuManagerPolicy: static\n', '').replace('  reservedSystemCpus: "0,1"\n', '')
  assert.deepEqual(checkInventory(shared, 'x.yaml').errors, [])
})

test('hardware limits are checked only against the machine facts the caller gives (the inventory alone has none)', () => {
  const text = readFileSync(join(FIXTURES, '../lab-inventory/hugepages-exceed-numa-memory.yaml'), 'utf8')
  assert.deepEqual(checkInventory(text, 'x.yaml').errors, [])
  const cpus = (from: number, n = 16) => Array.from({ length: n }, (_, i) => from + i)
  const seen: string[] = []
  const r = checkInventory(text, 'x.yaml', {
    hardware: (node) => (seen.push(node), { numaMemoryMiB: [65536, 65536], numaCpus: [cpus(0), cpus(16)] }),
  })
  assert.deepEqual(r.errors, [])
  assert.deepEqual(seen, ['validator1'], 'the lookup is asked about the validator, by node name')
  const r2 = checkInventory(text, 'x.yaml', {
    hardware: () => ({ numaMemoryMiB: [1024, 1024], numaCpus: [cpus(0), cpus(16)] }),
  })
  assert.deepEqual(
    r2.errors.map((e) => e.field),
    ['validator.hugepages.perNumaNode[0]', 'validator.hugepages.perNumaNode[1]'],
  )
  const r3 = checkInventory(text, 'x.yaml', { hardware: () => ({ numaMemoryMiB: [65536], numaCpus: [cpus(0, 32)] }) })
  assert.match(r3.errors.map((e) => e.message).join('\n'), /lists 2 NUMA nodes; validator1 has 1/)
})

test('validator.hugepages: one pool or a list of pools, one per size; all sizes of a NUMA node must fit it together', () => {
  const lab = labText()
  const POOLS = /  hugepages: {2}[^\n]*\n(    - [^\n]*\n)+/
  assert.match(lab, POOLS)
  const withPools = (yaml: string) => checkInventory(lab.replace(POOLS, yaml), 'lab.yaml', labHardware)
  // the one-pool form is still valid and reads as a list of one (the pod's 2 MiB request goes with the pool)
  const one = withPools('  hugepages: { size: 1Gi, perNumaNode: [4, 4] }\n')
  assert.deepEqual(
    one.errors.map((e) => e.field),
    ['validator.pod.hugepages["2Mi"]'],
  )
  assert.match(one.errors[0]!.message, /asks for 2Mi pages, but validator.hugepages reserves none of that size/)
  const onePod = checkInventory(
    lab
      .replace(POOLS, '  hugepages:\n    size: 1Gi\n    perNumaNode: [4, 4]\n')
      .replace('hugepages: { 1Gi: 2Gi, 2Mi: 128Mi }', 'hugepages: 2Gi'),
    'lab.yaml',
    labHardware,
  )
  assert.deepEqual(onePod.errors, [])
  assert.deepEqual(onePod.inventory!.validator!.hugepages, [{ size: '1Gi', perNumaNode: [4, 4] }])
  // two pools in any order: the parser puts the 1 GiB (default) pool first
  const two = withPools(
    '  hugepages:\n    - { size: 2Mi, perNumaNode: [128, 128] }\n    - { size: 1Gi, perNumaNode: [4, 4] }\n',
  )
  assert.deepEqual(two.errors, [])
  assert.deepEqual(
    two.inventory!.validator!.hugepages.map((p) => p.size),
    ['1Gi', '2Mi'],
  )
  // a size twice, a pool with an unknown size, and a third pool are refused, each at its line
  const dup = withPools(
    '  hugepages:\n    - { size: 1Gi, perNumaNode: [4, 4] }\n    - { size: 1Gi, perNumaNode: [2, 2] }\n',
  )
  assert.deepEqual(
    dup.errors.filter((e) => e.field.startsWith('validator.hugepages')).map((e) => [e.field, e.message]),
    [['validator.hugepages[1].size', '1Gi is listed twice: give each page size one pool']],
  )
  assert.match(formatIssue(dup.errors[0]!), /^lab\.yaml:71:\d+: validator\.hugepages\[1\]\.size: /)
  const bad = withPools('  hugepages:\n    - { size: 4Mi, perNumaNode: [4, 4] }\n')
  assert.deepEqual(
    bad.errors.map((e) => e.field),
    ['validator.hugepages[0].size'],
  )
  assert.equal(withPools('  hugepages: []\n').errors[0]?.field, 'validator.hugepages')
  assert.equal(
    withPools('  hugepages: 16\n').errors[0]?.message,
    'must be a pool { size, perNumaNode } or a list of pools, one per size (got 16)',
  )
  // 32 GiB per node on validator-2socket: 4 × 1 GiB + 15000 × 2 MiB does not fit node 0; the 2 MiB pool is named
  const big = withPools(
    '  hugepages:\n    - { size: 1Gi, perNumaNode: [4, 4] }\n    - { size: 2Mi, perNumaNode: [15000, 128] }\n',
  )
  assert.deepEqual(
    big.errors.map((e) => [e.field, e.message]),
    [
      [
        'validator.hugepages[1].perNumaNode[0]',
        '4 × 1Gi + 15000 × 2Mi = 34096 MiB does not fit NUMA node 0 of validator1, which has 32768 MiB (the kernel reserves the larger pages first: the 2Mi pool would come up short)',
      ],
    ],
  )
  // each pool alone would fit: only the sum is too much
  assert.deepEqual(
    withPools('  hugepages:\n    - { size: 2Mi, perNumaNode: [15000, 128] }\n').errors.map((e) => e.field),
    ['validator.pod.hugepages["1Gi"]'],
  )
})

test('config/inventory.ts does not load lab code: validation is the same whether lab/ exists or not', () => {
  const src = readFileSync(join(REPO, 'config/inventory.ts'), 'utf8')
  assert.doesNotMatch(src, /createRequire|lab\/hardware|from '\.\.\/lab\//)
})

test('loadInventory names the file when it cannot be read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inv-'))
  try {
    assert.throws(
      () => loadInventory(join(dir, 'nope.yaml')),
      (e: unknown) => e instanceof InventoryError && e.message.startsWith(`${join(dir, 'nope.yaml')}: no such file`),
    )
    assert.throws(
      () => loadInventory(dir),
      (e: unknown) => e instanceof InventoryError && e.message.startsWith(`${dir}: is a directory`),
    )
    writeFileSync(join(dir, 'ok.yaml'), fixture('valid-production.yaml'))
    assert.equal(loadInventory(join(dir, 'ok.yaml')).nodes.length, 4)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('helpers: quantities, cpusets, label keys', () => {
  assert.equal(parseQuantity('1536Mi'), 1536 * 2 ** 20)
  assert.equal(parseQuantity('1000m'), 1)
  assert.equal(parseQuantity('2G'), 2e9)
  assert.equal(quantityValue('2 GB'), undefined)
  assert.throws(() => parseQuantity('2 GB'), /"2 GB"/)
  assert.deepEqual(expandCpuset('0-2,8'), [0, 1, 2, 8])
  assert.ok(isLabelKey('node.kubernetes.io/exclusive'))
  assert.ok(isLabelKey('role'))
  assert.ok(!isLabelKey('a/b/c'))
  assert.ok(!isLabelKey('Solana.org/role'))
})

// ---------------------------------------------------------------- issue 13: whole cores, NUMA sizing

const labText = () => readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
/** The facts `lab up` gives the validation: the lab validator's simulated machine (two sockets, SMT siblings c and c+16). */
const labHardware = {
  hardware: (node: string) => (node === 'validator1' ? hardwareProfile('validator-2socket') : undefined),
}

test('a reservedSystemCpus that splits an SMT core is an error naming each split core and a whole-core fix', () => {
  const r = checkInventory(
    labText().replace('reservedSystemCpus: "0,16"', 'reservedSystemCpus: "0,1"'),
    'lab.yaml',
    labHardware,
  )
  const e = r.errors.find((x) => x.field === 'validator.reservedSystemCpus')
  assert.ok(e, JSON.stringify(r.errors))
  assert.match(
    e.message,
    /CPU 0 without its SMT sibling 16; CPU 1 without its SMT sibling 17: reserve whole cores, e\.g\. "0-1,16-17"/,
  )
  // whole cores pass; without SMT facts nothing can be said
  assert.deepEqual(checkInventory(labText(), 'lab.yaml', labHardware).errors, [])
  const noSmt = () => ({
    numaMemoryMiB: [32768, 32768],
    numaCpus: [Array.from({ length: 16 }, (_, i) => 2 * i), Array.from({ length: 16 }, (_, i) => 2 * i + 1)],
  })
  assert.deepEqual(checkInventory(labText().replace('"0,16"', '"0,1"'), 'lab.yaml', { hardware: noSmt }).errors, [])
})

test('nosmt or maxcpus= in validator.kernelArgs: a reserved CPU they take offline is an error; the online threads are the cores', () => {
  const withArgs = (args: string, reserved = '"0,16"') =>
    checkInventory(
      labText()
        .replace('reservedSystemCpus: "0,16"', `reservedSystemCpus: ${reserved}`)
        .replace(/^  kernelArgs: \[/m, `  kernelArgs: [${args}, `),
      'lab.yaml',
      labHardware,
    ).errors.filter((e) => e.field === 'validator.reservedSystemCpus')
  const [e, ...more] = withArgs('nosmt')
  assert.equal(more.length, 0, JSON.stringify(more))
  assert.match(
    e!.message,
    /^CPU 16 is offline in a boot with validator\.kernelArgs \(nosmt keeps only the first thread of each core, and CPU 16 is the second of 0's\): kubelet would start once per boot and fail every later start/,
  )
  assert.ok(e!.line > 0)
  // under nosmt CPU 0 is a whole core by itself
  assert.deepEqual(withArgs('nosmt', '"0"'), [])
  assert.deepEqual(withArgs('maxcpus=24'), [])
  assert.match(withArgs('nr_cpus=16')[0]!.message, /CPU 16 is offline .*nr_cpus=16 makes CPUs 16 and above impossible/)
})

test('validator.pod under nosmt: only online CPUs count per NUMA node, and a core is one thread', () => {
  const warnings = (pod: string, args: string) =>
    checkInventory(
      labText()
        .replace('reservedSystemCpus: "0,16"', 'reservedSystemCpus: "0"')
        .replace(/^  kernelArgs: \[/m, `  kernelArgs: [${args}, `)
        .replace('pod: { cpus: 4, memory: 4Gi, hugepages: { 1Gi: 2Gi, 2Mi: 128Mi } }', pod),
      'lab.yaml',
      labHardware,
    ).warnings
  // 12 CPUs fit node 1 with both threads of its 8 cores online; under nosmt node 1 has 8 and node 0 7 (CPU 0 reserved)
  assert.deepEqual(warnings('pod: { cpus: 12, memory: 4Gi, hugepages: 2Gi }', 'amd_pstate=active'), [])
  const w = warnings('pod: { cpus: 12, memory: 4Gi, hugepages: 2Gi }', 'nosmt')
  assert.deepEqual(
    w.map((x) => x.field),
    ['validator.pod'],
  )
  assert.match(w[0]!.message, /node 0 offers 7 CPUs, .*; node 1 offers 8 CPUs/)
  // one thread per core: an odd count is whole cores, so full-pcpus-only admits it
  assert.deepEqual(warnings('pod: { cpus: 3, memory: 1Gi, hugepages: 1Gi }', 'nosmt'), [])
  assert.deepEqual(
    warnings('pod: { cpus: 3, memory: 1Gi, hugepages: 1Gi }', 'amd_pstate=active').map((x) => x.field),
    ['validator.pod.cpus'],
  )
})

test('validator.pod: warns when cpus, memory and huge pages cannot come from one NUMA node, or cpus split a core', () => {
  const withPod = (pod: string) =>
    checkInventory(
      labText().replace('pod: { cpus: 4, memory: 4Gi, hugepages: { 1Gi: 2Gi, 2Mi: 128Mi } }', pod),
      'lab.yaml',
      labHardware,
    )
  assert.deepEqual(withPod('pod: { cpus: 4, memory: 4Gi, hugepages: { 1Gi: 2Gi, 2Mi: 128Mi } }').warnings, [])
  assert.deepEqual(withPod('pod: { cpus: 4, memory: 4Gi, hugepages: 2Gi }').warnings, [])
  // 16 CPUs fit node 1 (nothing reserved there) but not node 0 (0,16 reserved): still fits one node
  assert.deepEqual(withPod('pod: { cpus: 16, memory: 4Gi, hugepages: 2Gi }').warnings, [])
  // 16 CPUs only on node 1, 5Gi of 1 GiB pages (a bare quantity is of the default size) on neither (4 per node)
  const w = withPod('pod: { cpus: 16, memory: 4Gi, hugepages: 5Gi }').warnings
  assert.deepEqual(
    w.map((x) => x.field),
    ['validator.pod'],
  )
  assert.match(
    w[0]!.message,
    /fit no single NUMA node .*node 0 offers 14 CPUs, 25\.75Gi memory, 4Gi of 1Gi \+ 256Mi of 2Mi huge pages; node 1 offers 16 CPUs, 26\.26Gi memory, 4Gi of 1Gi \+ 256Mi of 2Mi huge pages/,
  )
  // memory: node 0 has 32Gi - 4Gi - 256Mi of huge pages - 2Gi reserved = 25.75Gi
  assert.deepEqual(withPod('pod: { cpus: 2, memory: 25Gi, hugepages: 1Gi }').warnings, [])
  assert.deepEqual(
    withPod('pod: { cpus: 2, memory: 27Gi, hugepages: 1Gi }').warnings.map((x) => x.field),
    ['validator.pod'],
  )
  assert.deepEqual(
    withPod('pod: { cpus: 3, memory: 1Gi, hugepages: 1Gi }').warnings.map((x) => x.field),
    ['validator.pod.cpus'],
  )
  // production (no hardware facts): the huge pages alone are still judged against hugepages.perNumaNode
  const prod = readFileSync(join(REPO, 'inventory/example.yaml'), 'utf8')
  assert.deepEqual(checkInventory(prod, 'example.yaml').warnings, [])
  const pod = (from: string, to: string) => checkInventory(prod.replace(from, to), 'example.yaml')
  assert.deepEqual(
    pod('1Gi: 16Gi,', '1Gi: 17Gi,').warnings.map((x) => x.field),
    ['validator.pod.hugepages["1Gi"]'],
  )
  assert.equal(pod('1Gi: 16Gi,', '1Gi: 1536Mi,').errors[0]?.field, 'validator.pod.hugepages["1Gi"]')
  // the 2 MiB pool is judged the same way: 2Gi per node, in whole 2 MiB pages
  assert.deepEqual(
    pod('2Mi: 1Gi }', '2Mi: 3Gi }').warnings.map((x) => x.field),
    ['validator.pod.hugepages["2Mi"]'],
  )
  assert.match(pod('2Mi: 1Gi }', '2Mi: 3Mi }').errors[0]!.message, /whole number of 2Mi pages/)
  // the bare quantity (one size) is still valid, and is of the default (1 GiB) size
  const bare = pod('{ 1Gi: 16Gi, 2Mi: 1Gi }', '16Gi')
  assert.deepEqual([bare.errors, bare.warnings], [[], []])
  assert.deepEqual(bare.inventory!.validator!.pod!.hugepages, { '1Gi': '16Gi' })
  assert.equal(pod('{ 1Gi: 16Gi, 2Mi: 1Gi }', '17Gi').warnings[0]?.field, 'validator.pod.hugepages')
})

test('validator.kernelArgs: CPU-isolation args that do nothing on Talos v1.10.3 (or fight the CPU manager) warn, naming the line', () => {
  const base = fixture('valid-production.yaml')
  assert.match(base, /kernelArgs: \[[^\]]*\]/)
  const text = base.replace(
    /kernelArgs: \[([^\]]*)\]/,
    'kernelArgs: [$1, nohz_full=2-15, rcu_nocbs=2-15, isolcpus=2-15]',
  )
  const r = checkInventory(text, 'x.yaml')
  assert.deepEqual(r.errors, [])
  const w = r.warnings.filter((x) => x.field.startsWith('validator.kernelArgs'))
  assert.equal(w.length, 3)
  const line = text.split('\n').findIndex((l) => l.includes('nohz_full=2-15')) + 1
  assert.ok(w.every((x) => x.line === line))
  assert.match(w[0]!.message, /nohz_full=2-15 has no effect .*CONFIG_NO_HZ_FULL/)
  assert.match(w[1]!.message, /rcu_nocbs=2-15 has no effect .*CONFIG_RCU_NOCB_CPU/)
  assert.match(w[2]!.message, /isolcpus=2-15: .*#87862/)
})

test('validator.kernelArgs: irqaffinity= and cpufreq.default_governor= are rendered from the profile, so they are refused there', () => {
  const base = readFileSync('inventory/example.yaml', 'utf8')
  const text = base.replace(
    /kernelArgs: \[([^\]]*)\]/,
    'kernelArgs: [$1, irqaffinity=0-1, cpufreq.default_governor=schedutil]',
  )
  const errors = checkInventory(text, 'x.yaml').errors.filter((x) => x.field.startsWith('validator.kernelArgs'))
  assert.equal(errors.length, 2)
  assert.match(errors[0]!.message, /irqaffinity= is derived from validator\.reservedSystemCpus; remove irqaffinity=0-1/)
  assert.match(errors[1]!.message, /derived from validator\.cpuGovernor .*; remove cpufreq\.default_governor=schedutil/)
})

test('validator.reservedSystemCpus without CPU 0 warns: irqaffinity= always keeps the boot CPU', () => {
  const base = readFileSync('inventory/example.yaml', 'utf8')
  const text = base.replace('reservedSystemCpus: "0,1,64,65"', 'reservedSystemCpus: "2,3,66,67"')
  const w = checkInventory(text, 'x.yaml').warnings.filter((x) => x.field === 'validator.reservedSystemCpus')
  assert.equal(w.length, 1)
  assert.match(w[0]!.message, /does not reserve CPU 0: .*irqaffinity=2,3,66,67.*boot CPU/)
  assert.deepEqual(
    checkInventory(base, 'x.yaml').warnings.filter((x) => x.field === 'validator.reservedSystemCpus'),
    [],
  )
})

test('topology manager on more than 8 NUMA nodes: kubelet v1.33.1 refuses to start, the inventory says so', () => {
  const text = (perNuma: number[], policy = 'single-numa-node') =>
    fixture('valid-production.yaml')
      .replace('perNumaNode: [4, 4] }', `perNumaNode: [${perNuma.join(', ')}] }`)
      .replace('topologyManagerPolicy: single-numa-node', `topologyManagerPolicy: ${policy}`)
  const nine = [4, 4, 0, 0, 0, 0, 0, 0, 0]
  assert.throws(
    () => parseInventory(text(nine), 'x.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof InventoryError)
      const hit = e.issues.find((i) => i.field === 'validator.topologyManagerPolicy')
      assert.ok(hit, e.message)
      assert.equal(hit.line, 40)
      assert.match(hit.message, /at least 9 NUMA nodes .*"unsupported on machines with more than 8 NUMA Nodes"/)
      return true
    },
  )
  // eight nodes, or the none policy: kubelet starts
  parseInventory(text(nine.slice(0, 8)), 'x.yaml')
  parseInventory(text(nine, 'none'), 'x.yaml')
})
