// lab/kube-api/labcache.ts: a shape made when a machine's config changed between reading the machine and asking for
// its shape must follow the config the files now hold (the kube-api test's "Talos on a worker writes
// machine.nodeTaints" case waited 150 s for a shape of the old config cached under the new file stamp).
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hardwareProfile } from '../../lab/hardware.ts'

const dir = mkdtempSync(join(tmpdir(), 'lab-machine-cache-'))
process.env.TALOS_LAB_DIR = dir
after(() => rmSync(dir, { recursive: true, force: true }))

const { LabMachineCache } = await import('../../lab/kube-api/labcache.ts')

const config = (taints: string) =>
  `version: v1alpha1\nmachine:\n  type: worker\n${taints}cluster:\n  controlPlane:\n    endpoint: https://127.0.0.1:6443\n`

test('a shape follows the config on disk, even when the machine was read before the config changed', () => {
  const nodeDir = join(dir, 'nodes', 'w1')
  mkdirSync(join(nodeDir, 'root'), { recursive: true })
  const hw = hardwareProfile('worker')
  writeFileSync(
    join(nodeDir, 'node.json'),
    JSON.stringify({
      name: 'w1',
      address: '127.0.0.21',
      role: 'worker',
      stage: 'running',
      talosVersion: 'v1.10.3',
      hardware: hw,
      installDisk: hw.disks[0]!.dev,
      faults: {},
      etcd: {},
      kubeApi: {},
    }),
  )
  writeFileSync(join(nodeDir, 'config.yaml'), config(''))
  const cache = new LabMachineCache()
  const before = cache.machine('w1')!
  assert.deepEqual(cache.shape({ ...before, cfg: before.cfg! }).configTaints, [])

  // the config changes after this pass read the machine, before it asks for the shape
  const read = cache.machine('w1')!
  writeFileSync(join(nodeDir, 'config.yaml'), config("  nodeTaints:\n    solana.org/spare: 'true:NoSchedule'\n"))
  const want = [{ key: 'solana.org/spare', value: 'true', effect: 'NoSchedule' }]
  assert.deepEqual(cache.shape({ ...read, cfg: read.cfg! }).configTaints, want)
  // and the next pass, with the machine read again, sees the same
  const next = cache.machine('w1')!
  assert.deepEqual(cache.shape({ ...next, cfg: next.cfg! }).configTaints, want)
})
