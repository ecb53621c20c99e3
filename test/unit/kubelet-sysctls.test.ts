// Sysctls kubelet requires under protectKernelDefaults, which Talos forces (lib/host/sysctl-values.ts
// KUBELET_REQUIRED): the inventory refuses another value and the linter flags it, quoting kubelet's error.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { kubeletRequiredValue, kubeletSysctlProblem, sysctlValueProblem } from '../../lib/host/sysctl-values.ts'
import { lintMachineConfig } from '../../config/lint.ts'

const SCHEMA = fileURLToPath(new URL('../../templates/talos-v1.10.3/config.schema.json', import.meta.url))

test("kubelet's required values: k8s.io/component-helpers v0.33.1 node/util/sysctl/sysctl.go", () => {
  const want: Record<string, number> = {
    'vm.overcommit_memory': 1,
    'vm.panic_on_oom': 0,
    'kernel.panic': 10,
    'kernel.panic_on_oops': 1,
    'kernel.keys.root_maxkeys': 1000000,
    'kernel.keys.root_maxbytes': 25000000,
  }
  for (const [k, v] of Object.entries(want)) {
    assert.equal(kubeletRequiredValue(k), v, k)
    assert.equal(kubeletRequiredValue(k.replaceAll('.', '/')), v, k)
    assert.equal(kubeletSysctlProblem(k, String(v)), undefined, k)
    assert.equal(kubeletSysctlProblem(k, ` ${v}\n`), undefined, k)
  }
  assert.equal(kubeletRequiredValue('vm.swappiness'), undefined)
  assert.equal(kubeletSysctlProblem('vm.swappiness', '10'), undefined)
})

test("another value is refused with kubelet's own error text", () => {
  assert.equal(
    kubeletSysctlProblem('vm.overcommit_memory', '0'),
    'vm.overcommit_memory must be 1 or unset: Talos runs kubelet with protectKernelDefaults: true and kubelet v1.33.1 exits at start ("invalid kernel flag: vm/overcommit_memory, expected value: 1, actual value: 0", pkg/kubelet/cm/container_manager_linux.go:437), so the node never gets Ready (got "0")',
  )
  assert.match(
    kubeletSysctlProblem('kernel/keys/root_maxbytes', '1000')!,
    /invalid kernel flag: kernel\/keys\/root_maxbytes, expected value: 25000000, actual value: 1000/,
  )
  assert.match(kubeletSysctlProblem('kernel.panic', 'ten')!, /kernel\.panic must be 10 or unset: .*not even an integer/)
  // 2 is a value the kernel takes (vm.rst): only kubelet refuses it
  assert.equal(sysctlValueProblem('vm.overcommit_memory', '2'), undefined)
  assert.match(kubeletSysctlProblem('vm.overcommit_memory', '2')!, /expected value: 1, actual value: 2/)
})

test('lint sysctl-value: a kubelet-required sysctl with another value is an error at its line', () => {
  const text =
    'version: v1alpha1\nmachine:\n  type: worker\n  sysctls:\n    vm.swappiness: "1"\n    vm.overcommit_memory: "2"\n    kernel.panic: "10"\n'
  const fs = lintMachineConfig(text, 'w.yaml', { schemaPath: SCHEMA }).filter((f) => f.rule === 'sysctl-value')
  assert.deepEqual(
    fs.map((f) => [f.severity, f.line, f.field]),
    [['error', 6, 'machine.sysctls.vm.overcommit_memory']],
  )
  assert.match(fs[0]!.message, /invalid kernel flag: vm\/overcommit_memory, expected value: 1, actual value: 2/)
  assert.match(fs[0]!.fix, /drop vm\.overcommit_memory .* or set it to 1/)
})
