// `talosctl rollback`: boots the previous installation again, or fails with "previous UKI not found"
// (internal/app/machined/pkg/runtime/v1alpha1/bootloader/sdboot/sdboot.go at v1.10.3, revert()).
import type { RunContext } from './context.ts'
import { RpcFailure, nodeErrors, perNode, rpcError, withClient } from './common.ts'
import { rebootNode } from '../machine-power.ts'
import { rememberInstallation } from '../installation.ts'
import { loadNode, updateNode } from '../state.ts'

/** `talosctl rollback`: swap the running and the previous installation, then reboot into it. */
export async function rollback(ctx: RunContext): Promise<void> {
  let s
  try {
    s = await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(`error executing rollback: ${e.message}`)
    throw e
  }
  const results = await perNode(s, async (n) => {
    if (!loadNode(n.name).previousInstall) throw new Error(rpcError('Unknown', 'previous UKI not found'))
    updateNode(n.name, (x) => {
      const prev = x.previousInstall!
      rememberInstallation(x)
      x.installedImage = prev.image
      x.talosVersion = prev.talosVersion
      x.cmdline = prev.cmdline
      x.bootSchematic = prev.bootSchematic
    })
    await rebootNode(n.name)
  })
  // the real command prints nothing on success (cmd/talosctl/cmd/talos/rollback.go)
  const err = nodeErrors(results)
  if (err) throw new Error(`error executing rollback: ${err}`)
}
