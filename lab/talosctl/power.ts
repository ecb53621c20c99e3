// talosctl reboot / shutdown / upgrade. A reboot stops the node's services, passes through 'rebooting' and
// comes back 'running' with a fresh bootedAt; only upgrade changes the installed image and kernel cmdline.
import { readFileSync } from 'node:fs'
import type { RunContext } from './context.ts'
import { RpcFailure, nodeErrors, perNode, rpcError, withClient, withMaintenanceClient, type Session } from './common.ts'
import { installCmdline, parseMachineConfig } from '../machine-config.ts'
import { etcdClientUrl, findHealthyMember } from '../node-services.ts'
import { rebootNode, shutDownNode } from '../machine-power.ts'
import { EtcdClient } from '../etcd-client.ts'
import { wipeEtcdData } from '../etcd-recovery.ts'
import { isAlive } from '../processes.ts'
import { installerKernelArgs } from '../factory.ts'
import { wipeEphemeralKubeletState } from '../kubelet.ts'
import { loadNode, paths, updateNode } from '../state.ts'
import * as io from './io.ts'
import { installerImageProblem, talosVersionOfImage } from '../registry.ts'
import { fallBackToPrevious, rememberInstallation } from '../installation.ts'

export const DEFAULT_INSTALLER = 'ghcr.io/siderolabs/installer:v1.10.3'

async function session(ctx: RunContext, what: string): Promise<Session> {
  try {
    return await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(`${what}${e.message}`)
    throw e
  }
}

function watchLines(results: { addr: string; error?: string }[]): void {
  const addrs = results.filter((r) => !r.error).map((r) => r.addr)
  if (!addrs.length) return
  io.err(`watching nodes: [${addrs.join(' ')}]\n`)
  for (const a of addrs) io.err(`    * ${a}: post check passed\n`)
}

export async function reboot(ctx: RunContext): Promise<void> {
  const s = await session(ctx, 'error executing reboot: ')
  const results = await perNode(s, async (n) => rebootNode(n.name))
  const err = nodeErrors(results)
  if (ctx.flags.wait || ctx.flags.debug) watchLines(results)
  if (err) throw new Error(`error executing reboot: ${err}`)
}

export async function shutdown(ctx: RunContext): Promise<void> {
  const s = await session(ctx, 'error executing shutdown: ')
  const results = await perNode(s, async (n) => shutDownNode(n.name))
  const err = nodeErrors(results)
  if (ctx.flags.wait || ctx.flags.debug) {
    const addrs = results.filter((r) => !r.error).map((r) => r.addr)
    if (addrs.length)
      io.err(
        `watching nodes: [${addrs.join(' ')}]\n` +
          addrs.map((a) => `    * ${a}: events check condition met\n`).join(''),
      )
  }
  if (err) throw new Error(`error executing shutdown: ${err}`)
}

export async function upgrade(ctx: RunContext): Promise<void> {
  const image = (ctx.flags.image as string) || DEFAULT_INSTALLER
  if (ctx.flags.insecure) {
    let s
    try {
      s = await withMaintenanceClient(ctx.global)
    } catch (e) {
      throw new Error(`error performing upgrade: ${(e as Error).message}`)
    }
    throw new Error(
      `error performing upgrade: ${rpcError('FailedPrecondition', s.node.stage === 'maintenance' && !s.node.installedImage ? 'Talos is not installed' : 'method is not supported in maintenance mode')}`,
    )
  }
  const s = await session(ctx, 'error performing upgrade: ')
  const results = await perNode(s, async (n) => {
    const problem = installerImageProblem(image)
    if (problem) throw new Error(problem)
    const cfg = parseMachineConfig(readFileSync(paths.config(n.name), 'utf8'), paths.config(n.name))
    // the new kernel command line is the installer image's: its schematic's args (+ extraKernelArgs with GRUB)
    const k = installerKernelArgs(image)
    if ('error' in k) throw new Error(rpcError('Unknown', k.error))
    updateNode(n.name, (x) => {
      rememberInstallation(x)
      x.installedImage = image
      x.talosVersion = talosVersionOfImage(image) ?? x.talosVersion
      x.cmdline = installCmdline(cfg, k.args, x.firmware)
      x.bootSchematic = k.schematic
      if (x.faults.bootFail) fallBackToPrevious(x)
    })
    if (!ctx.flags.preserve) {
      // without --preserve the EPHEMERAL partition is wiped; etcd data survives only on control planes that rejoin
    }
    if (!ctx.flags.stage) await rebootNode(n.name)
    return n.name
  })
  const err = nodeErrors(results)
  if (ctx.flags.wait || ctx.flags.debug) watchLines(results)
  else
    for (const r of results)
      if (!r.error)
        io.out(
          `NODE\tACK\tSTARTED\n`.replace(/\t/g, '   ') +
            `${r.addr}   Upgrade request received   ${new Date().toISOString()}\n`,
        )
  if (err) throw new Error(`error performing upgrade: ${err}`)
}

/**
 * `talosctl reset`: the lab simulates the documented partial reset, `--system-labels-to-wipe EPHEMERAL --reboot`
 * (website/content/v1.10/advanced/disaster-recovery.md): /var is wiped (kubelet checkpoints, and on a control plane
 * /var/lib/etcd), the machine config (STATE) stays, the node reboots. Anything else is refused rather than pretended.
 * On a control plane a graceful reset (the default) first leaves etcd, as the reset sequence's "leave" phase does when
 * etcd is Running or Failed (v1.10.3 internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_sequencer.go Reset,
 * v1alpha1_sequencer_tasks.go LeaveEtcd, internal/pkg/etcd/etcd.go LeaveCluster): the member removal needs a quorum,
 * so without one the sequence stops there and nothing is wiped. `--graceful=false` skips leaving: the disaster-recovery
 * way when quorum is lost for good.
 */
export async function reset(ctx: RunContext): Promise<void> {
  const s = await session(ctx, 'error executing reset: ')
  const labels = (ctx.flags['system-labels-to-wipe'] as string[]).flatMap((l) => l.split(','))
  if (labels.length !== 1 || labels[0] !== 'EPHEMERAL' || !ctx.flags.reboot)
    throw new Error('lab: only `reset --system-labels-to-wipe EPHEMERAL --reboot` is simulated')
  const results = await perNode(s, async (n) => {
    if (n.role === 'controlplane') {
      if (ctx.flags.graceful && isAlive(n.etcd.pid)) await leaveEtcd(n.name)
      await wipeEtcdData(n.name)
    }
    wipeEphemeralKubeletState(paths.root(n.name))
    await rebootNode(n.name)
  })
  const err = nodeErrors(results)
  if (ctx.flags.wait || ctx.flags.debug) watchLines(results)
  if (err) throw new Error(`error executing reset: ${err}`)
}

/** LeaveCluster: remove this member through the cluster; refused (nothing wiped) when the cluster cannot commit it. */
async function leaveEtcd(name: string): Promise<void> {
  const n = loadNode(name)
  let id = n.etcd.memberId ? BigInt(`0x${n.etcd.memberId}`).toString() : undefined
  try {
    id ??= (await new EtcdClient(etcdClientUrl(n), 2000).status()).header.member_id
    // LeaveCluster retries "unhealthy cluster" (members not connected long enough) for 5 minutes; the lab for 20 s
    const deadline = Date.now() + 20_000
    for (;;) {
      const via = (await findHealthyMember(name)) ?? n
      try {
        await new EtcdClient(etcdClientUrl(via), 5000).removeMember(id)
        break
      } catch (e) {
        if (!/unhealthy cluster/.test((e as Error).message) || Date.now() > deadline) throw e
        await new Promise((r) => setTimeout(r, 500))
      }
    }
  } catch (e) {
    const cause = /unhealthy|unreachable|timed out|deadline/i.test((e as Error).message)
      ? 'etcdserver: unhealthy cluster'
      : (e as Error).message
    throw new Error(
      rpcError(
        'Unknown',
        `failed to leave cluster: failed to remove member ${id ?? '?'}: ${cause} (a graceful reset leaves etcd first, which needs quorum; use --graceful=false)`,
      ),
    )
  }
}
