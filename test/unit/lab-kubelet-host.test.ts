// lab/containers.ts runPodContainers on a kubelet agent's sysroot (a KubeletHost): kubelet's admission and CPU
// manager see only the CPUs online in the boot (cadvisor lists no offline CPU), so `nosmt` makes every core one
// thread.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hardwareProfile } from '../../lab/hardware.ts'
import { createSysroot } from '../../lab/sysroot.ts'
import { startKubelet } from '../../lab/kubelet.ts'
import { runPodContainers, type KubeletHost } from '../../lab/containers.ts'

const dirs: string[] = []
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

const kubelet = {
  cpuManagerPolicy: 'static',
  cpuManagerPolicyOptions: { 'full-pcpus-only': 'true' },
  reservedSystemCPUs: '0',
  topologyManagerPolicy: 'single-numa-node',
  topologyManagerScope: 'container',
}

/** validator-2socket (CPU c and c+16 are one core's threads, NUMA node 0 the even CPUs) booted with `cmdline`, its kubelet started. */
function host(cmdline: string): KubeletHost {
  const dir = mkdtempSync(join(tmpdir(), 'kubelet-host-'))
  dirs.push(dir)
  const hw = hardwareProfile('validator-2socket')
  const root = join(dir, 'root')
  createSysroot(root, hw, { cmdline, hostname: 'validator1', installDisk: '/dev/nvme0n1' })
  assert.equal(startKubelet(root, hw, kubelet), undefined)
  return {
    hardware: hw,
    root,
    file: join(dir, 'containers.json'),
    boot: 'b1',
    config: () => ({ machine: { kubelet: { extraConfig: kubelet } } }),
  }
}

const guaranteed = (uid: string, cpus: number) => {
  const r = { cpu: String(cpus), memory: '1Gi' }
  return {
    metadata: { uid, name: uid, namespace: 'solana' },
    spec: { containers: [{ name: 'c', image: 'pause', resources: { requests: r, limits: r } }] },
    status: { qosClass: 'Guaranteed' },
  }
}

test('with both threads online, 3 CPUs are refused by full-pcpus-only; 4 get two whole cores of one NUMA node', () => {
  const h = host('console=ttyS0')
  const odd = runPodContainers(h, [guaranteed('odd', 3)])
  assert.equal(odd.rejected.get('odd')?.reason, 'SMTAlignmentError')
  const even = runPodContainers(h, [guaranteed('even', 4)])
  const c = even.containers.find((x) => x.podUid === 'even' && x.name === 'c')
  assert.deepEqual(c?.exclusiveCpus, [2, 4, 18, 20])
})

test('under nosmt a core is one thread: 3 CPUs are admitted, and none is a second thread', () => {
  const h = host('console=ttyS0 nosmt')
  const r = runPodContainers(h, [guaranteed('odd', 3)])
  assert.equal(r.rejected.size, 0, JSON.stringify([...r.rejected]))
  const c = r.containers.find((x) => x.podUid === 'odd' && x.name === 'c')
  assert.deepEqual(c?.exclusiveCpus, [2, 4, 6])
})
