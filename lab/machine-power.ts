// A simulated machine's power, as `talosctl shutdown` and its BMC (lab/bmc/) switch it. Off: nothing of the machine
// answers (Talos API, etcd, Kubernetes API, rescue SSH). On: it boots from what the BMC's boot flag says (a PXE
// rescue system) or from its disk: Talos comes back in the stage it had (a configured node runs its config again,
// staged config included, kernel args unchanged, as a reboot does), a machine with no Talos netboots its rescue.
import { isAlive } from './processes.ts'
import { reconcileNode, stopEtcd, stopKubeApi } from './node-services.ts'
import { rescueSshdPid, startRescueSshd, stopRescueSshd } from './sshd.ts'
import { loadNode, updateNode } from './state.ts'
import { rebootNode } from './talosctl/power.ts'

export type BootDevice = 'pxe' | 'disk'

/** Cut the power: every process of the machine stops at once, nothing resigns (a VIP it held waits for its lease). */
export async function powerOffMachine(name: string): Promise<string[]> {
  const done: string[] = []
  const before = updateNode(name, (n) => (n.power = 'off'))
  done.push(`${name}: powered off`)
  if (isAlive(before.kubeApi.pid)) (await stopKubeApi(name, 'crash'), done.push(`${name}: kube-api stopped`))
  if (isAlive(before.etcd.pid)) (await stopEtcd(name), done.push(`${name}: etcd stopped`))
  if (rescueSshdPid(name)) (await stopRescueSshd(name), done.push(`${name}: rescue sshd stopped`))
  return done
}

/** Power on and boot from `device` (the BMC's next-boot flag; default: the disk). No-op when already on. */
export async function powerOnMachine(name: string, device: BootDevice = 'disk'): Promise<string[]> {
  if (loadNode(name).power !== 'off') return [`${name}: already on`]
  const done = [`${name}: powered on, booting from ${device === 'pxe' ? 'the network (rescue system)' : 'disk'}`]
  if (device === 'pxe') {
    // the rescue system comes up; whatever is on the disk is untouched until 01 writes it
    updateNode(name, (n) => {
      n.power = 'on'
      n.stage = 'off'
    })
  } else {
    const n = loadNode(name)
    updateNode(name, (x) => (x.power = 'on'))
    if (n.stage !== 'off' && n.stage !== 'maintenance') {
      await rebootNode(name) // a configured node boots into its config: services back per reconcile
      done.push(`${name}: Talos running`)
    } else if (n.stage === 'maintenance') {
      updateNode(name, (x) => (x.bootedAt = new Date().toISOString()))
      done.push(`${name}: Talos in maintenance mode`)
    }
  }
  const after = loadNode(name)
  if (after.stage === 'off' && !rescueSshdPid(name))
    done.push(`${name}: rescue sshd running (pid ${await startRescueSshd(name)})`)
  await reconcileNode(name)
  return done
}
