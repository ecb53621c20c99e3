// The disk-loss fault: a machine whose disks died and was swapped for a blank one with the same name and address.
// Everything Talos keeps on disk is gone: the install disk's STATE partition (the machine config), EPHEMERAL (/var:
// etcd data, kubelet state and checkpoints) and the user volumes; the disks get new serials and its rescue system a
// new host key (its fingerprint file, which the lab inventory pins, is rewritten). The machine is left
// powered off; powered on (its BMC, or `heal`), it boots the Talos ISO into maintenance mode, as any machine without
// a config does ("When booted from the network without machine configuration, Talos will start in maintenance mode",
// website/content/v1.10/talos-guides/install/bare-metal-platforms/pxe.md at v1.10.3): it answers `--insecure` only,
// with a generated hostname (talos-<suffix>), and installs to its install disk when it gets a config.
// Its etcd member stays in the other members' list (dead), as on real hardware: nobody told etcd.
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { powerOffMachine } from './machine-power.ts'
import { TALOS_DEFAULT_CMDLINE } from './machine-config.ts'
import { createSysroot } from './sysroot.ts'
import { ownersFile } from './file-owners.ts'
import { paths, updateNode, type LabDisk } from './state.ts'
import { prepareRescueSshd, rescueEndpoint, sshdPaths } from './sshd.ts'

/** A new, blank drive of the same model: another serial (and, for NVMe, the wwid Linux derives from it). */
function freshDisk(d: LabDisk): LabDisk {
  const serial = `R${randomBytes(5).toString('hex').toUpperCase()}`
  const wwid =
    d.wwid && d.serial
      ? d.wwid.replace(Buffer.from(d.serial).toString('hex'), Buffer.from(serial).toString('hex'))
      : d.wwid
  const { signature: _old, ...blank } = d
  return { ...blank, serial, ...(wwid ? { wwid } : {}) }
}

export async function loseDisks(name: string): Promise<string[]> {
  const done = await powerOffMachine(name)
  const dir = paths.nodeDir(name)
  for (const f of ['config.yaml', 'config.staged.yaml']) rmSync(join(dir, f), { force: true })
  rmSync(paths.etcdData(name), { recursive: true, force: true })
  rmSync(paths.root(name), { recursive: true, force: true })
  rmSync(ownersFile(paths.root(name)), { force: true })
  // what 01 wrote over the rescue system is on the old disks too
  rmSync(join(paths.sshDir(name), 'disks'), { recursive: true, force: true })
  const n = updateNode(name, (x) => {
    x.stage = 'maintenance'
    x.hardware = { ...x.hardware, disks: x.hardware.disks.map(freshDisk) }
    x.cmdline = TALOS_DEFAULT_CMDLINE // the ISO's kernel command line; the install will bring the image's
    x.configVersion = 0
    x.bootstrapped = false
    x.faults = {}
    delete x.installDisk
    delete x.installedImage
    delete x.bootSchematic
    delete x.previousInstall
    delete x.nextBoot
    delete x.kubeletError
    delete x.etcd.memberId
  })
  createSysroot(paths.root(name), n.hardware, { cmdline: n.cmdline, hostname: name })
  // another machine, another rescue host key: the lab inventory pins it through the fingerprint file, which the
  // operator of a real replacement would update from the new machine's console
  const ep = rescueEndpoint(name)
  let hostKey = ''
  if (ep) {
    rmSync(sshdPaths.hostKey(name), { force: true })
    rmSync(`${sshdPaths.hostKey(name)}.pub`, { force: true })
    hostKey = `, new rescue host key ${prepareRescueSshd(ep)}`
  }
  const serials = n.hardware.disks.map((d) => `${d.dev}${d.serial ? ` (serial ${d.serial})` : ''}`).join(', ')
  done.push(
    `${name}: disks replaced by blank ones (${serials})${hostKey}: machine config, etcd data and kubelet state are gone`,
    `${name}: its etcd member stays in the member list until removed (talosctl etcd remove-member)`,
    `${name}: power it on (its BMC, or \`npm run lab -- heal ${name}\`): it boots into maintenance mode at ${n.address}`,
  )
  return done
}
