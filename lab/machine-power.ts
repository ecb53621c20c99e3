// A simulated machine's power, as `talosctl shutdown` and its BMC (lab/bmc/) switch it. Off: nothing of the machine
// answers (Talos API, etcd, Kubernetes API, rescue SSH). On: it boots from what the BMC's boot flag says (a PXE
// rescue system) or from its disk: Talos comes back in the stage it had (a configured node runs its config again,
// staged config included, kernel args unchanged, as a reboot does), a machine with no Talos netboots its rescue.
// Going down and booting are shared by every way a machine reboots: the API's sequences (lab/machine-sequences.ts)
// and the BMC.
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { isAlive } from './processes.ts'
import { reconcileNode, stopEtcd, stopKubeApi } from './node-services.ts'
import { rescueSshdPid, startRescueSshd, stopRescueSshd } from './sshd.ts'
import { loadNode, paths, updateNode, writeFileAtomic } from './state.ts'
import { applyBootParams, osRelease } from './sysroot.ts'
import { runKubelet } from './kubelet.ts'
import { clearEvents, publishEvent } from './machine-events.ts'
import { applyConfigAtBoot } from './boot-config.ts'
import { bootDefaultEntry } from './installation.ts'

/** Going down: the control plane's static pods (kube-apiserver, controller-manager, scheduler), then etcd. */
export async function stopNodeServices(name: string): Promise<void> {
  await stopKubeApi(name)
  await stopEtcd(name)
}

/**
 * Talos boots from the machine's disk: a new machined (empty event buffer, a new boot id), the staged config (if
 * any) becomes the config, the installed image's kernel command line and version, kubelet, then the services the
 * config and stage call for. `via`: kexec (a reboot that skips the firmware) or the firmware (power on, power cycle).
 */
export async function bootNode(name: string, via: 'kexec' | 'firmware' = 'firmware'): Promise<void> {
  updateNode(name, (x) => {
    x.stage = 'booting'
    bootDefaultEntry(x)
  })
  clearEvents(name)
  const staged = join(paths.nodeDir(name), 'config.staged.yaml')
  if (existsSync(staged)) {
    writeFileAtomic(paths.config(name), readFileSync(staged, 'utf8'), 0o600)
    rmSync(staged)
  }
  const n = loadNode(name)
  applyBootParams(paths.root(name), n.hardware, n.cmdline)
  writeFileAtomic(join(paths.root(name), 'etc/os-release'), osRelease(n.talosVersion), 0o644)
  // machined's controllers apply the booted config's sysctls, modules and volumes before kubelet starts
  applyConfigAtBoot(name)
  // machined's MachineStatusController reports each stage (v1.10.3 pkg/machinery/api/machine/machine.proto
  // MachineStatusEvent); talosctl's --wait waits for RUNNING and ready (cmd/talosctl/pkg/talos/action/tracker.go)
  publishEvent(name, 'MachineStatusEvent', {
    stage: 'BOOTING',
    status: { ready: false, unmetConditions: [{ name: 'nodeReady', reason: 'node is booting' }] },
  })
  await runKubelet(name)
  updateNode(name, (x) => {
    x.stage = 'running'
    x.bootedAt = new Date().toISOString()
    x.bootedVia = via
    delete x.pulledImages // the system containerd's images were on /system, a tmpfs (lab/registry.ts)
  })
  await reconcileNode(name)
  publishEvent(name, 'MachineStatusEvent', { stage: 'RUNNING', status: { ready: true } })
}

/** Reboot at once (a configured machine's power-on, a reboot sequence): services down, then boot. */
export async function rebootNode(name: string): Promise<void> {
  updateNode(name, (x) => (x.stage = 'rebooting'))
  await stopNodeServices(name)
  await bootNode(name)
}

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
