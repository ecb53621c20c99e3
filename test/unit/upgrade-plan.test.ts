// 09-upgrade's plan: which nodes change, in which order, why, and which Talos jumps are refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadInventory, type Inventory } from '../../config/inventory.ts'
import { installerImageFor, renderNodeSchematic, validatorKernelArgs } from '../../config/render.ts'
import { missingKernelArgs } from '../../lib/host/procfs.ts'
import { parseInstallerImage } from '../../lib/talos/schematic.ts'
import { formatPlan, planUpgrade, talosUpgradePath, type NodeObservation } from '../../steps/09-upgrade/plan.ts'

const SCHEMATIC = '376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba'
const BASE = 'talos.halt=0 init_on_alloc=1 console=ttyS0'

function lab(mutate: (inv: Inventory) => void = () => {}): Inventory {
  const inv = loadInventory('inventory/lab.yaml')
  mutate(inv)
  return inv
}

// what the lab inventory's validator booted with: its huge pages [4, 4] and its kernelArgs
const VALIDATOR_ARGS = validatorKernelArgs(lab().validator!).join(' ')

function observed(inv: Inventory, over: Partial<Record<string, Partial<NodeObservation>>> = {}): NodeObservation[] {
  return inv.nodes.map((n) => ({
    name: n.name,
    version: 'v1.10.3',
    // each node runs its own schematic's image: the validator's carries its kernel args, the others the empty one
    schematic: parseInstallerImage(installerImageFor(inv, n)).schematic,
    cmdline: `${BASE}${n.profile === 'validator' ? ` ${VALIDATOR_ARGS}` : ''}`,
    ...over[n.name],
  }))
}

test('a cluster running what the inventory renders: nothing to do', () => {
  const inv = lab()
  const plan = planUpgrade(inv, observed(inv), ['v1.33.1', 'v1.33.1'])
  assert.deepEqual(plan.nodes, [])
  assert.equal(plan.upToDate.length, 5)
  assert.equal(plan.kubernetes, undefined)
  assert.deepEqual(plan.problems, [])
  assert.deepEqual(plan.imageProblems, [])
})

test('a patch bump upgrades every node: control planes first in inventory order, then workers, the validator last', () => {
  const inv = lab((i) => {
    // the installer images follow: the factory's, for each node's schematic, at talosVersion
    i.cluster.talosVersion = 'v1.10.4'
  })
  const plan = planUpgrade(inv, observed(inv))
  assert.deepEqual(
    plan.nodes.map((u) => u.node),
    ['cp1', 'cp2', 'cp3', 'worker1', 'validator1'],
  )
  assert.deepEqual(
    plan.nodes.map((u) => u.kind),
    ['controlplane', 'controlplane', 'controlplane', 'worker', 'validator'],
  )
  for (const u of plan.nodes) assert.deepEqual(u.reasons, ['Talos v1.10.3 → v1.10.4'])
  assert.match(
    formatPlan(plan),
    /^5\. validator1 \(validator, 127\.0\.10\.21\): v1\.10\.3 → v1\.10\.4 with 127\.0\.10\.1:8080\/metal-installer\/ac8d6561[0-9a-f]{56}:v1\.10\.4$/m,
  )
})

test('more huge pages for the validator: only the validator is upgraded, to the factory image of its new schematic', () => {
  const inv = lab((i) => (i.validator!.hugepages[0]!.perNumaNode = [6, 6]))
  const plan = planUpgrade(inv, observed(inv))
  assert.deepEqual(
    plan.nodes.map((u) => u.node),
    ['validator1'],
  )
  assert.deepEqual(plan.nodes[0]!.reasons, ['kernel args missing from /proc/cmdline: hugepages=0:6,1:6'])
  assert.equal(plan.upToDate.length, 4)
  // nothing to paste: the validator's installer image is the factory's for the new schematic
  assert.deepEqual(plan.imageProblems, [])
  assert.notEqual(plan.nodes[0]!.to.schematic, undefined)
  assert.notEqual(plan.nodes[0]!.to.schematic, 'ac8d65619fca658a8c0e12f567aa33baeb080c78e96ca0636a0b5f3dac6879bc')
  assert.match(
    plan.nodes[0]!.to.image,
    new RegExp(`^127\\.0\\.10\\.1:8080/metal-installer/${plan.nodes[0]!.to.schematic}:v1\\.10\\.3$`),
  )
})

/** The lab validator's CPUs as sysfs shows them in a boot with SMT: 32 CPUs, cores {c, c+16}. */
const SMT_CPUS = {
  present: Array.from({ length: 32 }, (_, i) => i),
  online: Array.from({ length: 32 }, (_, i) => i),
  siblings: { 0: [0, 16], 16: [0, 16] },
}

test('nosmt added to validator.kernelArgs while reservedSystemCpus names a second thread: refused before any node, with the fix', () => {
  const inv = lab((i) => (i.validator!.kernelArgs = [...(i.validator!.kernelArgs ?? []), 'nosmt']))
  const plan = planUpgrade(inv, observed(inv, { validator1: { cpus: SMT_CPUS } }))
  assert.deepEqual(
    plan.nodes.map((u) => u.node),
    ['validator1'],
  )
  assert.deepEqual(plan.problems, [
    'validator1: reservedSystemCpus "0,16" names a CPU that a boot with its new kernel args leaves offline (nosmt keeps only the first thread of each core, and CPU 16 is the second of 0\'s). ' +
      'kubelet would run in that boot, but every later start within it (a config apply, a crash) would fail (not all reserved cpus: "0,16" are present in defaultCpuSet; kubernetes v1.33.1 cpumanager/policy_static.go validateState). ' +
      'Set validator.reservedSystemCpus to "0" (the reserved CPUs that stay online), run 02, then 09 again',
  ])
  assert.match(formatPlan(plan), /^refused: validator1: reservedSystemCpus "0,16" names a CPU/m)
  // reserving CPU 0 alone (its core's only online thread under nosmt) is accepted
  const fixed = lab((i) => {
    i.validator!.kernelArgs = [...(i.validator!.kernelArgs ?? []), 'nosmt']
    i.validator!.reservedSystemCpus = '0'
  })
  assert.deepEqual(planUpgrade(fixed, observed(fixed, { validator1: { cpus: SMT_CPUS } })).problems, [])
  // maxcpus=24 keeps CPUs 0-23, 16 among them
  const max = lab((i) => (i.validator!.kernelArgs = [...(i.validator!.kernelArgs ?? []), 'maxcpus=24']))
  assert.deepEqual(planUpgrade(max, observed(max, { validator1: { cpus: SMT_CPUS } })).problems, [])
  const max8 = lab((i) => (i.validator!.kernelArgs = [...(i.validator!.kernelArgs ?? []), 'maxcpus=8']))
  assert.match(
    planUpgrade(max8, observed(max8, { validator1: { cpus: SMT_CPUS } })).problems[0]!,
    /leaves offline \(maxcpus=8 brings up only the first 8 CPUs \(0-7\)\)/,
  )
  // a reserved CPU offline in the running boot already (no topology to read) is named as such
  const down = { ...SMT_CPUS, online: SMT_CPUS.online.filter((c) => c !== 16), siblings: { 0: [0] } }
  assert.match(
    planUpgrade(inv, observed(inv, { validator1: { cpus: down } })).problems[0]!,
    /\(CPU 16 is offline in the running boot already\)/,
  )
})

test("a pinned installer image of another schematic refuses the plan with 02's message: the validator would boot without its kernel args", () => {
  const inv = lab(
    (i) =>
      (i.validator!.installerImage =
        'factory.talos.dev/metal-installer/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba:v1.10.3'),
  )
  const plan = planUpgrade(inv, observed(inv))
  assert.equal(plan.imageProblems.length, 1)
  assert.match(
    plan.imageProblems[0]!,
    /^validator1: validator\.installerImage \S+\/376567988ad3\S+ carries schematic 376567988ad3… \(the empty schematic: no kernel args\), but validator1 needs ac8d65619fca… \(kernel args: [^)]*hugepages=0:4,1:4[^)]*\): remove validator\.installerImage \(the factory's image for validator1's schematic is 127\.0\.10\.1:8080\/metal-installer\/ac8d6561[0-9a-f]{56}:v1\.10\.3\)$/,
  )
  assert.match(formatPlan(plan), /^refused: validator1: validator\.installerImage /m)
})

test('without validator.installerImage the validator never falls back to cluster.installerImage', () => {
  const custom = 'ghcr.io/our-org/installer:v1.10.3'
  const inv = lab((i) => (i.cluster.installerImage = custom))
  const plan = planUpgrade(inv, observed(inv))
  assert.deepEqual(plan.imageProblems, [])
  const v = inv.nodes.find((n) => n.profile === 'validator')!
  assert.equal(installerImageFor(inv, v), `127.0.10.1:8080/metal-installer/${renderNodeSchematic(inv, v).id}:v1.10.3`)
  assert.equal(installerImageFor(inv, inv.nodes[0]!), custom)
})

test('a different schematic ID is a reason even on the same version', () => {
  const inv = lab()
  const plan = planUpgrade(inv, observed(inv, { worker1: { schematic: 'a'.repeat(64) } }))
  assert.deepEqual(
    plan.nodes.map((u) => u.node),
    ['worker1'],
  )
  assert.deepEqual(plan.nodes[0]!.reasons, ['schematic aaaaaaaaaaaa → 376567988ad3'])
})

test('a node that cannot be read is a problem, not a silent skip', () => {
  const inv = lab()
  const plan = planUpgrade(inv, observed(inv, { cp2: { error: 'connection refused', version: undefined } }))
  assert.deepEqual(plan.problems, ['cp2 (127.0.10.12): cannot read what it runs: connection refused'])
})

test('Kubernetes: the oldest kubelet against kubernetesVersion', () => {
  const inv = lab((i) => (i.cluster.kubernetesVersion = 'v1.33.2'))
  const plan = planUpgrade(inv, observed(inv), ['v1.33.1', 'v1.33.2', 'v1.33.1'])
  assert.deepEqual(plan.kubernetes, { from: 'v1.33.1', to: 'v1.33.2' })
  assert.match(formatPlan(plan), /Kubernetes: v1\.33\.1 → v1\.33\.2/)
})

test('Talos upgrade paths: adjacent minors only, with the path through the latest patches', () => {
  assert.deepEqual(talosUpgradePath('v1.10.3', 'v1.10.4'), { ok: true })
  assert.deepEqual(talosUpgradePath('v1.9.2', 'v1.10.3'), { ok: true })
  const skip = talosUpgradePath('v1.8.1', 'v1.10.3')
  assert.equal(skip.ok, false)
  assert.deepEqual(!skip.ok && skip.path, ['v1.8.4', 'v1.9.6', 'v1.10.3'])
  const fromLatest = talosUpgradePath('v1.8.4', 'v1.10.3')
  assert.deepEqual(!fromLatest.ok && fromLatest.path, ['v1.9.6', 'v1.10.3'])
  assert.equal(talosUpgradePath('v1.10.3', 'v1.9.6').ok, false)
})

test('a node two minors behind is refused with the path; nothing is planned for it', () => {
  const inv = lab()
  const plan = planUpgrade(inv, observed(inv, { cp1: { version: 'v1.8.2' } }))
  assert.deepEqual(plan.problems, [
    'cp1: Talos v1.8.2 → v1.10.3 skips 1 minor release(s); Talos supports adjacent minors only; upgrade through v1.8.4 → v1.9.6 → v1.10.3 (set cluster.talosVersion and installerImage to each in turn)',
  ])
  assert.ok(!plan.nodes.some((u) => u.node === 'cp1'))
})

test('installer image references: version from the tag, schematic from the Image Factory path, digests ignored', () => {
  assert.deepEqual(parseInstallerImage(`factory.talos.dev/installer/${SCHEMATIC}:v1.10.4`), {
    image: `factory.talos.dev/installer/${SCHEMATIC}:v1.10.4`,
    version: 'v1.10.4',
    schematic: SCHEMATIC,
  })
  const d = `ghcr.io/siderolabs/installer:v1.10.3@sha256:${'0'.repeat(64)}`
  assert.deepEqual(parseInstallerImage(d), { image: d, version: 'v1.10.3' })
})

test('kernel args: present only with exactly the wanted value', () => {
  assert.deepEqual(missingKernelArgs(`${BASE} hugepages=0:4,1:4`, ['hugepages=0:4,1:4', 'isolcpus=2-7', 'nosmt']), [
    'isolcpus=2-7',
    'nosmt',
  ])
  assert.deepEqual(missingKernelArgs(`${BASE} hugepages=0:4,1:4`, ['hugepages=0:6,1:6']), ['hugepages=0:6,1:6'])
})

test('kernel args: hugepagesz=/hugepages= are judged per page size, not by their last value', () => {
  const want = ['default_hugepagesz=1G', 'hugepagesz=1G', 'hugepages=0:4,1:4', 'hugepagesz=2M', 'hugepages=0:128,1:128']
  assert.deepEqual(missingKernelArgs(`${BASE} ${want.join(' ')}`, want), [])
  // the counts swapped between the sizes: both pools are wrong though every value appears
  const swapped = 'default_hugepagesz=1G hugepagesz=1G hugepages=0:128,1:128 hugepagesz=2M hugepages=0:4,1:4'
  assert.deepEqual(missingKernelArgs(`${BASE} ${swapped}`, want), ['hugepages=0:4,1:4', 'hugepages=0:128,1:128'])
  // the 2 MiB pool missing from a command line that only has the 1 GiB one
  assert.deepEqual(missingKernelArgs(`${BASE} ${want.slice(0, 3).join(' ')}`, want), [
    'hugepagesz=2M',
    'hugepages=0:128,1:128',
  ])
})

test('inventory validator.solana: an RPC URL and a base58 identity, each error named by file:line:column and field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inv-solana-'))
  try {
    const base = readFileSync('inventory/lab.yaml', 'utf8')
    const ok = join(dir, 'ok.yaml')
    writeFileSync(
      ok,
      `${base}\n  solana: { rpcUrl: "http://127.0.0.1:8899", identity: Vote111111111111111111111111111111111111111 }\n`,
    )
    assert.deepEqual(loadInventory(ok).validator!.solana, {
      rpcUrl: 'http://127.0.0.1:8899',
      identity: 'Vote111111111111111111111111111111111111111',
    })
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, `${base}\n  solana: { rpcUrl: "127.0.0.1:8899", identity: "0OIl" }\n`)
    assert.throws(
      () => loadInventory(bad),
      (e: Error) => {
        assert.match(e.message, /bad\.yaml:\d+:\d+: validator\.solana\.rpcUrl: must be an http\(s\) URL/)
        assert.match(
          e.message,
          /bad\.yaml:\d+:\d+: validator\.solana\.identity: must be the validator's identity public key/,
        )
        return true
      },
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
