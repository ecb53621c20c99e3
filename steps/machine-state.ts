// Does Talos answer on a machine, and how: maintenance mode, configured, or nothing listening. Shared by
// 01-provision (what to install) and 02-configure (first config or update).
import { existsSync } from 'node:fs'
import type { Cluster } from '../config/cluster.ts'
import type { InventoryNode } from '../config/inventory.ts'

export type MachineState = 'maintenance' | 'configured' | 'no-talos'

export interface NodeProvisionState {
  state: MachineState
  summary: string
}

/** Only these mean "no Talos API listens there"; any other failure leaves the machine's state unknown. */
const NOT_LISTENING = /connection refused|no route to host|connect: .*(timed out|unreachable)|i\/o timeout/i

// stderr first (talosctl's own words decide "not listening" vs "refused"); a timeout is only its message: what a
// killed process printed on the way out ("Terminated") says nothing
const errText = (e: unknown) =>
  (e as { timedOut?: boolean }).timedOut
    ? (e as Error).message
    : `${(e as { stderr?: string }).stderr ?? ''} ${(e as Error).message ?? ''}`

/**
 * Does Talos already answer on this machine? Maintenance mode answers `--insecure`; a configured node
 * needs the talosconfig. A machine is "no-talos" only when nothing listens: an unexpected error stops
 * the runbook rather than let it write an image over a machine it could not see.
 */
export async function probeMachine(c: Cluster, n: InventoryNode): Promise<NodeProvisionState> {
  const errors: string[] = []
  try {
    const [st] = await c.talos.machineStatus([n.address], { insecure: true })
    if (st) return { state: 'maintenance', summary: `Talos answers in maintenance mode (stage ${st.spec.stage})` }
  } catch (e) {
    errors.push(errText(e))
  }
  // without a talosconfig yet (before 02) no configured machine can be ours to reach; talosctl would only say
  // "failed to resolve configuration context: talos config file is empty" (pkg/machinery/client/config: a missing
  // file reads as an empty config)
  if (existsSync(c.paths.talosconfig)) {
    try {
      const v = await c.talos.version([n.address])
      return { state: 'configured', summary: `Talos ${v.servers[0]?.tag ?? '?'} is installed and configured` }
    } catch (e) {
      errors.push(errText(e))
    }
  }
  const unexpected = errors.find(
    (e) =>
      !NOT_LISTENING.test(e) &&
      // a configured apid refuses a client without a certificate: with TLS 1.3 the refusal comes after the client's
      // handshake, so talosctl sees "certificate required" or the closed connection (broken pipe, reset)
      !/certificate required|unknown authority|failed to open config file|no such file|talos config file is empty|write: broken pipe|connection reset by peer/.test(
        e,
      ),
  )
  if (unexpected)
    throw new Error(
      `${n.name} (${n.address}): cannot tell whether Talos runs there: ${unexpected.trim().split('\n')[0]}`,
    )
  if (!errors.some((e) => NOT_LISTENING.test(e)))
    throw new Error(
      `${n.name} (${n.address}): Talos refused both the maintenance and the authenticated API: ${errors[0]?.trim().split('\n')[0]}`,
    )
  return {
    state: 'no-talos',
    summary: n.rescue
      ? `no Talos yet: will install over SSH (${n.rescue.host}:${n.rescue.port})`
      : 'no Talos yet: boot the ISO',
  }
}
