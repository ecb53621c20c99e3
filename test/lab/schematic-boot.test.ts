// The lab kernel boots with the command line its image carries (issue 13, item 2): a UEFI (systemd-boot) node gets
// its extra kernel args from the installer image's schematic only, never from machine.install.extraKernelArgs; the
// validator's schematic on a single-NUMA control plane is an invalid hugepages= parameter (nothing reserved, the
// kernel's warning in dmesg); an installer whose schematic the factory does not know cannot be pulled. Driven by the
// real talosctl against the lab's Talos API; cp1 is bootstrapped, as a control plane upgrade takes etcd's upgrade lock.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestLab, type TestLab } from '../../lab/testlab.ts'
import { EMPTY_SCHEMATIC_ID } from '../../lib/talos/schematic.ts'

const P = '127.0.94'
let lab: TestLab
const image = (id: string) => `factory.talos.dev/metal-installer/${id}:v1.10.3`
const VALIDATOR_SCHEMATIC =
  'customization:\n  extraKernelArgs:\n    - default_hugepagesz=1G\n    - hugepagesz=1G\n    - hugepages=0:4,1:4\n    - iommu=pt\n'

describe('lab kernel: command line from the image schematic', { timeout: 120_000 }, () => {
  let validatorId = ''
  before(async () => {
    // the image pull's simulated time is not under test here
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 0, imagePullMs: 100 })
    // the lab's factory, as `lab up` fills it from the inventory (an operator POSTs the schematic)
    validatorId = await lab.registerSchematic(VALIDATOR_SCHEMATIC)
    lab.update('cp1', (n) => (n.firmware = 'uefi'))
    // extraKernelArgs are ignored by systemd-boot
    await lab.install('cp1', lab.renderConfig('controlplane', { extraKernelArgs: ['iommu=off'] }))
    const b = await lab.run(['-n', `${P}.11`, 'bootstrap'])
    assert.equal(b.code, 0, b.stderr)
    await lab.until('etcd', async () => (await lab.run(['-n', `${P}.11`, 'etcd', 'status'])).code === 0, 60_000)
  })
  after(async () => {
    await lab?.cleanup()
  })

  /** Upgrades cp1 to the image and waits for it to come back on a new boot (the call answers before the reboot). */
  const upgrade = async (id: string) => {
    const boot = (await lab.bootId(`${P}.11`))!
    const up = await lab.run(['-n', `${P}.11`, 'upgrade', '--image', image(id), '--wait=false'])
    assert.equal(up.code, 0, up.stderr)
    await lab.waitNewBoot(`${P}.11`, boot)
  }
  const read = async (path: string) => {
    const r = await lab.run(['-n', `${P}.11`, 'read', path])
    assert.equal(r.code, 0, r.stderr)
    return r.stdout
  }

  it('systemd-boot ignores machine.install.extraKernelArgs', async () => {
    assert.doesNotMatch(await read('/proc/cmdline'), /iommu=off/)
  })

  it("the validator's installer on a single-NUMA control plane: invalid hugepages=, nothing reserved, dmesg says so", async () => {
    await upgrade(validatorId)
    const cmdline = await read('/proc/cmdline')
    assert.match(cmdline, /hugepages=0:4,1:4 iommu=pt/)
    assert.doesNotMatch(cmdline, /iommu=off/)
    assert.equal(await read('/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages'), '0\n')
    assert.match(await read('/proc/meminfo'), /^HugePages_Total:\s+0$/m)
    const dmesg = await lab.run(['-n', `${P}.11`, 'dmesg'])
    assert.equal(dmesg.code, 0, dmesg.stderr)
    // mm/hugetlb.c hugepages_setup(): node 1 >= nr_online_nodes → "Invalid hugepages parameter" + what was left to parse
    assert.match(dmesg.stdout, /kern: warning: \[[^\]]+\]: HugeTLB: Invalid hugepages parameter 4$/m)
    assert.doesNotMatch(dmesg.stdout, /pre-allocated/)
  })

  it('the plain installer gives the plain command line back', async () => {
    await upgrade(EMPTY_SCHEMATIC_ID)
    assert.doesNotMatch(await read('/proc/cmdline'), /hugepages|iommu/)
    assert.equal(lab.node('cp1').bootSchematic, EMPTY_SCHEMATIC_ID)
  })

  it('an installer whose schematic the factory does not know cannot be pulled', async () => {
    const unknown = 'f'.repeat(64)
    const up = await lab.run(['-n', `${P}.11`, 'upgrade', '--image', image(unknown), '--wait=false'])
    assert.equal(up.code, 1)
    // machined pulls the installer before it answers (v1alpha1_server.go:495): containerd finds no such image
    assert.match(up.stderr, /error validating installer image "[^"]*\/f{64}:v1\.10\.3": .*not found/)
    assert.equal(lab.node('cp1').bootSchematic, EMPTY_SCHEMATIC_ID)
    assert.ok(!readFileSync(join(lab.dir, 'nodes/cp1/root/proc/cmdline'), 'utf8').includes('f'.repeat(64)))
  })
})
