// Which host key a machine's rescue system must present: the one the inventory pins (rescue.hostKeyFingerprint), or
// the one an operator trusted on first use, stored beside the other generated files. A key nothing pins is shown with
// its SHA256 fingerprint for the operator to compare with the machine's console; only a person may trust it, never
// --yes (issue #25 item 2). A key that differs from the pinned or trusted one is refused (lib/host/ssh.ts).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { presentedHostKey } from '../lib/host/ssh.ts'
import { log } from '../lib/runner/log.ts'
import { RefusedError } from '../lib/runner/runner.ts'
import type { StepHandle } from '../lib/runner/types.ts'
import type { InventoryNode } from '../config/inventory.ts'
import { resolveFingerprint } from './install-image.ts'

/** `<outputDir>/rescue-host-keys/<node>.fingerprint` (0600 in 0700): a key trusted on first use. */
export const trustedKeyFile = (outDir: string, node: string) => join(outDir, 'rescue-host-keys', `${node}.fingerprint`)

/** The pinned or trusted fingerprint, or undefined when nothing names one yet. */
export function knownFingerprint(outDir: string, n: InventoryNode): string | undefined {
  const pinned = n.rescue?.hostKeyFingerprint
  if (pinned) return resolveFingerprint(pinned)
  const file = trustedKeyFile(outDir, n.name)
  return existsSync(file) ? resolveFingerprint(`file:${file}`) : undefined
}

type Asker = Pick<StepHandle, 'unattended' | 'askPerson' | 'dryRun'>

/**
 * The fingerprint to hold n's rescue system to. Unknown: read the presented key, and either refuse (unattended, or no
 * one to ask: exit 3 with the fingerprint and how to pin it) or ask the operator and store it on yes.
 */
export async function rescueFingerprint(outDir: string, n: InventoryNode, ask?: Asker): Promise<string> {
  const known = knownFingerprint(outDir, n)
  if (known) return known
  const r = n.rescue!
  const seen = await presentedHostKey({ host: r.host, port: r.port })
  const where = `${n.name} (${r.host}:${r.port})`
  const pin = `compare it with the machine's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there), then pin it in the inventory (rescue.hostKeyFingerprint: ${seen}) or run 01 without --yes to be asked`
  if (!ask || ask.unattended)
    throw new RefusedError(
      `${where} presents host key ${seen}, which nothing pins; --yes never trusts such a key: ${pin}`,
    )
  const yes = await ask.askPerson(
    `${where} presents host key ${seen}. Is it the fingerprint the machine's console shows for its rescue system? Trust it from now on?`,
  )
  if (!yes) throw new RefusedError(`${where}: host key ${seen} not trusted; nothing was written`)
  const file = trustedKeyFile(outDir, n.name)
  if (ask.dryRun) {
    log.info(`  (dry-run) would store ${n.name}'s host key ${seen} in ${file}`)
    return seen
  }
  mkdirSync(join(outDir, 'rescue-host-keys'), { recursive: true, mode: 0o700 })
  writeFileSync(file, `${seen}\n`, { mode: 0o600 })
  log.ok(`${n.name}: host key ${seen} trusted, stored in ${file}`)
  return seen
}
