// The lab's kubelet CPU manager (lab/cpu-manager.ts, lab/kubelet.ts) against checkpoints and verdicts of kubelet
// v1.33.1's own code (test/fixtures/kubelet/README.md), and the boot-time reset of config/kubelet-policy.ts: a boot
// that changes the CPUs kubelet sees stops kubelet unless machine.files rewrote the checkpoint empty.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  cpuCheckpointChecksum,
  marshalCpuCheckpoint,
  onlineCpus,
  validateCpuState,
  type CpuCheckpoint,
} from '../../lab/cpu-manager.ts'
import { CPU_STATE, startKubelet } from '../../lab/kubelet.ts'
import { hardwareProfile } from '../../lab/hardware.ts'
import { applyBootParams, createSysroot } from '../../lab/sysroot.ts'
import { writeUserFiles } from '../../lab/user-files.ts'
import {
  cpuManagerResetFile,
  EMPTY_STATIC_CPU_CHECKPOINT,
  memoryManagerResetFile,
} from '../../config/kubelet-policy.ts'

const fixture = (name: string) =>
  readFileSync(fileURLToPath(new URL(`../fixtures/kubelet/cpu_manager_state.${name}.json`, import.meta.url)), 'utf8')
const load = (name: string) => JSON.parse(fixture(name)) as CpuCheckpoint
const NAMES = ['empty-static', 'empty-none', 'validator-0-31', 'with-entries', 'validator-nosmt']
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i)

test("the checksum and the JSON are kubelet's for every CPU checkpoint kubelet wrote", () => {
  for (const name of NAMES) {
    const cp = load(name)
    assert.equal(cpuCheckpointChecksum(cp), cp.checksum, name)
    assert.equal(marshalCpuCheckpoint(cp), fixture(name).trim(), name)
  }
  // one CPU more is another checksum (kubelet: "checkpoint is corrupted")
  assert.notEqual(cpuCheckpointChecksum({ ...load('validator-0-31'), defaultCpuSet: '0-30' }), 3540042759)
})

test('the boot-time reset is the empty static checkpoint kubelet writes, and the lab computes its checksum alike', () => {
  assert.equal(EMPTY_STATIC_CPU_CHECKPOINT, fixture('empty-static').trim())
  const cp = JSON.parse(EMPTY_STATIC_CPU_CHECKPOINT) as CpuCheckpoint
  assert.equal(cpuCheckpointChecksum(cp), cp.checksum)
  assert.deepEqual(cpuManagerResetFile(), {
    path: '/var/lib/kubelet/cpu_manager_state',
    op: 'create',
    permissions: 0o600,
    content: EMPTY_STATIC_CPU_CHECKPOINT,
  })
})

test("validateState gives kubelet's verdicts (test/fixtures/kubelet/README.md)", () => {
  const all = range(0, 31)
  const nosmt = range(0, 15)
  assert.deepEqual(validateCpuState(load('empty-static'), all, [0, 16]), { defaultCpuSet: '0-31' })
  assert.deepEqual(validateCpuState(load('validator-0-31'), all, [0, 16]), { defaultCpuSet: '0-31' })
  assert.deepEqual(validateCpuState(load('validator-0-31'), nosmt, [0]), {
    error: 'current set of available CPUs "0-15" doesn\'t match with CPUs in state "0-31"',
  })
  assert.deepEqual(validateCpuState(load('empty-static'), nosmt, [0]), { defaultCpuSet: '0-15' })
  // the assignment's CPUs count as known: 0-31 in all
  assert.deepEqual(validateCpuState(load('with-entries'), all, [0, 16]), { defaultCpuSet: '0-1,4-17,20-31' })
  assert.match(
    (validateCpuState(load('with-entries'), all, [0, 2]) as { error: string }).error,
    /^not all reserved cpus: "0,2" are present in defaultCpuSet: "0-1,4-17,20-31"$/,
  )
})

test('online CPUs: nosmt keeps the first thread of each core, maxcpus= and nr_cpus= the first N', () => {
  const hw = hardwareProfile('validator-2socket')
  assert.deepEqual(onlineCpus(hw, 'console=ttyS0'), range(0, 31))
  assert.deepEqual(onlineCpus(hw, 'console=ttyS0 nosmt'), range(0, 15))
  assert.deepEqual(onlineCpus(hw, 'nosmt=force'), range(0, 15))
  assert.deepEqual(onlineCpus(hw, 'maxcpus=8'), range(0, 7))
  assert.deepEqual(onlineCpus(hw, 'nr_cpus=24 nosmt'), range(0, 15))
  assert.deepEqual(onlineCpus(hw, 'maxcpus=0'), [0])
})

const config = {
  cpuManagerPolicy: 'static',
  reservedSystemCPUs: '0,1',
  memoryManagerPolicy: 'Static',
  reservedMemory: [
    { numaNode: 0, limits: { memory: '2Gi' } },
    { numaNode: 1, limits: { memory: '1524Mi' } },
  ],
}

test('lab kubelet: a boot with nosmt stops kubelet on the old CPU checkpoint; the boot-time reset starts it', () => {
  const hw = hardwareProfile('validator-2socket')
  const boot = (root: string, cmdline: string, files: ReturnType<typeof cpuManagerResetFile>[]) => {
    applyBootParams(root, hw, cmdline)
    // machined's userSetup phase writes machine.files before kubelet starts (lab/kubelet.ts userSetupOnce)
    assert.deepEqual(writeUserFiles(root, files), [])
    return startKubelet(root, hw, config)
  }
  const cmdline = 'hugepagesz=1G hugepages=0:4,1:4'
  for (const withReset of [false, true]) {
    const root = mkdtempSync(join(tmpdir(), 'kubelet-cpu-'))
    createSysroot(root, hw, { cmdline, hostname: 'validator1' })
    const files = withReset ? [cpuManagerResetFile(), memoryManagerResetFile()] : [memoryManagerResetFile()]
    assert.equal(boot(root, cmdline, files), undefined)
    assert.equal(readFileSync(join(root, CPU_STATE), 'utf8'), fixture('validator-0-31').trim())
    // a kubelet restart within the boot keeps the checkpoint and passes
    assert.equal(startKubelet(root, hw, config), undefined)
    // 09's upgrade boots validator.kernelArgs' nosmt with /var kept
    const err = boot(root, `${cmdline} nosmt`, files)
    if (!withReset)
      assert.equal(
        err,
        'start cpu manager error: current set of available CPUs "0-15" doesn\'t match with CPUs in state "0-31"',
      )
    else {
      assert.equal(err, undefined)
      // what kubelet's own Start stored for the nosmt machine (reserved CPUs differ, the checkpoint does not)
      assert.equal(readFileSync(join(root, CPU_STATE), 'utf8'), fixture('validator-nosmt').trim())
      // and the boot back to SMT
      assert.equal(boot(root, cmdline, files), undefined)
      assert.equal(readFileSync(join(root, CPU_STATE), 'utf8'), fixture('validator-0-31').trim())
    }
  }
})

test("lab kubelet: a CPU checkpoint with a wrong checksum is refused with kubelet's text", () => {
  const hw = hardwareProfile('validator-2socket')
  const root = mkdtempSync(join(tmpdir(), 'kubelet-cpu-'))
  createSysroot(root, hw, { cmdline: 'hugepagesz=1G hugepages=0:4,1:4', hostname: 'validator1' })
  writeUserFiles(root, [{ ...cpuManagerResetFile(), content: EMPTY_STATIC_CPU_CHECKPOINT.replace('066}', '067}') }])
  assert.equal(
    startKubelet(root, hw, config),
    'start cpu manager error: could not restore state from checkpoint: checkpoint is corrupted, please drain this node and delete the CPU manager checkpoint file "/var/lib/kubelet/cpu_manager_state" before restarting Kubelet',
  )
})
