// Which config changes Talos applies only by rebooting (config/apply-reboot.ts, after v1.10.3's CanApplyImmediate).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { stringify } from 'yaml'
import { fieldsNeedingReboot } from '../../config/apply-reboot.ts'

const base = {
  version: 'v1alpha1',
  machine: {
    type: 'worker',
    kubelet: { extraConfig: { memoryManagerPolicy: 'Static' } },
    sysctls: { 'vm.swappiness': '0' },
    features: { kubePrism: { enabled: true }, stableHostname: true },
  },
  cluster: { clusterName: 'c' },
}
const text = (m: object, extra: object[] = []) =>
  [{ ...base, machine: { ...base.machine, ...m } }, ...extra].map((d) => stringify(d)).join('---\n')

test('machine.files is applied only at boot: adding the memory manager reset reboots the node', () => {
  const files = [{ path: '/var/lib/kubelet/memory_manager_state', op: 'create', permissions: 0o600, content: '{}' }]
  assert.deepEqual(fieldsNeedingReboot(text({}), text({ files })), ['machine.files'])
})

test('what Talos applies live: kubelet, sysctls, install, node labels, the live features, other documents', () => {
  const same = text({})
  for (const change of [
    { kubelet: { extraConfig: { memoryManagerPolicy: 'None' } } },
    { sysctls: { 'vm.swappiness': '10' } },
    { install: { image: 'ghcr.io/siderolabs/installer:v1.10.4' } },
    { nodeLabels: { a: 'b' } },
    { features: { kubePrism: { enabled: false }, stableHostname: true } },
  ])
    assert.deepEqual(fieldsNeedingReboot(same, text(change)), [], JSON.stringify(change))
  assert.deepEqual(fieldsNeedingReboot(same, text({}, [{ kind: 'UserVolumeConfig', name: 'x' }])), [])
  assert.deepEqual(fieldsNeedingReboot(same, same.replace('clusterName: c', 'clusterName: d')), [])
})

test('what needs a reboot: machine.type, other features, a new top-level field', () => {
  assert.deepEqual(fieldsNeedingReboot(text({}), text({ type: 'controlplane' })), ['machine.type'])
  assert.deepEqual(fieldsNeedingReboot(text({}), text({ features: { kubePrism: { enabled: true } } })), [
    'machine.features.stableHostname',
  ])
  assert.deepEqual(
    fieldsNeedingReboot(text({}), text({}).replace('version: v1alpha1', 'version: v1alpha1\npersist: false')),
    ['persist'],
  )
})
