// The lab's orchestration CLI: `npm run lab -- up|down|status|fault|heal`.
//   up [--inventory FILE]     create the lab machines (stage off, rescue SSH answering)    default inventory/lab.yaml
//   down [--keep]             stop every lab process; remove the lab dir unless --keep
//   status [--json]           nodes, stages, processes, faults
//   fault NODE KIND [--ms N]  KIND: down | etcd-crash | slow | api-down | boot-fail | etcd-data-loss | disk-loss
//   heal NODE                 clear the node's faults and restart what it should run
// The lab dir is $TALOS_LAB_DIR (default .lab). Exit 0 ok, 1 failure, 2 bad usage.
import { join, relative } from 'node:path'
import { redactString } from '../lib/runner/redact.ts'
import { labDown } from './down.ts'
import { FAULT_KINDS, checkKind, checkNode, healNode, injectFault } from './faults.ts'
import { UsageError } from '../lib/runner/flags.ts'
import { InventoryError } from './lab-inventory.ts'
import { preflight, preflightBuilds } from './preflight.ts'
import { KUBERNETES_VERSION, realTalosctl, TALOS_VERSION } from './go-builds.ts'
import { collectStatus, formatStatus, formatTable } from './status.ts'
import { sshdPaths } from './sshd.ts'
import { REPO_ROOT, labDir, labExists, loadNodes, paths } from './state.ts'
import { LabStateError, labUp } from './up.ts'
import { DaemonStartError } from './daemons.ts'

const USAGE = `usage: npm run lab -- <command>
  up [--inventory FILE]      bring the lab up (default inventory/lab.yaml)
  down [--keep]              stop every lab process and remove the lab dir (--keep: keep the files)
  status [--json]            show the lab
  fault NODE KIND [--ms N]   inject a fault; KIND: ${FAULT_KINDS.join(' | ')}
                             (etcd-data-loss: a control plane's etcd data is destroyed for good; 11-etcd-recover)
                             disk-loss: the machine is swapped for a blank one (new disk serials and rescue host key): powered off,
                             no config, no etcd data, its etcd member left in the list; powered on (BMC or heal)
                             it boots into maintenance mode at the same address (12-replace-node's drill)
  heal NODE                  clear the node's faults and restart its services
lab dir: $TALOS_LAB_DIR (now ${labDir()})`

interface Parsed {
  positional: string[]
  flags: Map<string, string | true>
}

function parseArgs(argv: string[], valued: string[]): Parsed {
  const positional: string[] = []
  const flags = new Map<string, string | true>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) {
      positional.push(a)
      continue
    }
    const eq = a.indexOf('=')
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2)
    if (valued.includes(name)) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i]
      if (v === undefined) throw new UsageError(`--${name} needs a value`)
      flags.set(name, v)
    } else if (eq < 0) flags.set(name, true)
    else throw new UsageError(`--${name} takes no value`)
  }
  return { positional, flags }
}

function onlyFlags(p: Parsed, allowed: string[], maxPositional: number, cmd: string): void {
  for (const f of p.flags.keys()) if (!allowed.includes(f)) throw new UsageError(`${cmd}: unknown option --${f}`)
  if (p.positional.length > maxPositional)
    throw new UsageError(`${cmd}: unexpected argument ${p.positional[maxPositional]}`)
}

const rel = (p: string) => (p.startsWith(REPO_ROOT + '/') ? relative(REPO_ROOT, p) : p)
const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n')

async function cmdUp(p: Parsed): Promise<number> {
  onlyFlags(p, ['inventory'], 0, 'up')
  const inventory = (p.flags.get('inventory') as string | undefined) ?? join(REPO_ROOT, 'inventory/lab.yaml')
  // as in lab:deploy: a missing etcd or sshd is said up front (exit 2), not as a spawn error halfway through
  const ready = preflight() || (await preflightBuilds())
  if (ready !== 0) return ready
  const started = Date.now()
  const r = await labUp(inventory)
  if (r.alreadyUp) {
    out(
      `lab already up in ${labDir()} (${r.inventory.clusterName}); \`npm run lab -- status\` shows it, \`npm run lab -- down\` removes it`,
    )
    return 0
  }
  const rows = [['NODE', 'ADDRESS', 'ROLE', 'HARDWARE', 'DISKS', 'RESCUE SSH', 'HOST KEY']]
  const nodes = loadNodes()
  for (const inv of r.inventory.nodes) {
    const n = nodes.find((x) => x.name === inv.name)!
    rows.push([
      inv.name,
      inv.address,
      inv.role,
      inv.hardware,
      n.hardware.disks.map((d) => d.dev.replace('/dev/', '')).join(','),
      `${inv.rescue.user}@${inv.rescue.host}:${inv.rescue.port}`,
      r.fingerprints[inv.name] ?? '?',
    ])
  }
  out(
    `lab ${r.inventory.clusterName} up in ${labDir()} (${((Date.now() - started) / 1000).toFixed(1)} s): ${nodes.length} machines powered on in their rescue system, no Talos yet\n`,
  )
  out(formatTable(rows))
  out(`operator key   ${rel(paths.operatorKey())}`)
  out(`host keys      ${rel(sshdPaths.fingerprint('<node>'))}`)
  out(
    `Talos image    ${rel(r.image!.raw)} (sha256 ${r.image!.sha256.slice(0, 16)}..., Talos ${r.image!.talosVersion}; .zst beside it)`,
  )
  const f = r.inventory.imageFactory
  if (f) out(`Image Factory  http://${f.host}:${f.port} (knows a schematic once 01 or 09 POSTs it)`)
  out(`endpoint       ${r.inventory.endpoint}\n`)
  out(
    `Talos API      the real talosctl ${TALOS_VERSION} (${rel(realTalosctl())}) against <address>:50000 of each machine`,
  )
  out(
    `Kubernetes     real kube-apiserver, controller-manager, scheduler ${KUBERNETES_VERSION} per control plane (kubelets simulated)`,
  )
  if (process.env.TALOS_LAB_DIR) {
    out('environment for `npm run lab` (the runbooks need none):')
    out(`  export TALOS_LAB_DIR="${labDir()}"`)
  }
  out(
    `next: npx zx runbooks/01-provision.ts --inventory ${rel(r.inventory.file)}   |   npm run lab -- status   |   npm run lab -- down`,
  )
  return 0
}

async function cmdDown(p: Parsed): Promise<number> {
  onlyFlags(p, ['keep'], 0, 'down')
  const existed = labExists()
  const r = await labDown({ keep: p.flags.has('keep') })
  for (const s of r.stopped) out(`stopped ${s}`)
  for (const s of r.skipped) process.stderr.write(`warning: ${s}\n`)
  if (r.left.length) {
    process.stderr.write(
      `error: still running after SIGKILL:\n${r.left.map((x) => `  pid ${x.pid}: ${x.cmdline.join(' ')}`).join('\n')}\nlab dir ${labDir()} kept\n`,
    )
    return 1
  }
  if (!existed) out(`no lab running in ${labDir()}`)
  else out(r.removed ? `lab down: removed ${labDir()}` : `lab down: processes stopped, files kept in ${labDir()}`)
  return 0
}

async function cmdStatus(p: Parsed): Promise<number> {
  onlyFlags(p, ['json'], 0, 'status')
  if (!labExists()) {
    if (p.flags.has('json')) out(JSON.stringify({ labDir: labDir(), up: false }))
    else out(`no lab running in ${labDir()}: \`npm run lab -- up\``)
    return 1
  }
  const s = await collectStatus()
  out(p.flags.has('json') ? JSON.stringify({ up: true, ...s }, null, 2) : formatStatus(s))
  return 0
}

function requireLab(): void {
  if (!labExists()) throw new LabStateError(`no lab in ${labDir()}: run \`npm run lab -- up\` first`)
}

async function cmdFault(p: Parsed): Promise<number> {
  onlyFlags(p, ['ms'], 2, 'fault')
  const kind = checkKind(p.positional[1]) // a mistyped kind is reported before anything about the lab's state
  requireLab()
  const node = checkNode(p.positional[0])
  const msFlag = p.flags.get('ms')
  if (msFlag !== undefined && kind !== 'slow') throw new UsageError('--ms only applies to the slow fault')
  const ms = msFlag === undefined ? undefined : Number(msFlag)
  await injectFault(node, kind, { ms, say: out })
  return 0
}

async function cmdHeal(p: Parsed): Promise<number> {
  onlyFlags(p, [], 1, 'heal')
  requireLab()
  const node = checkNode(p.positional[0])
  await healNode(node, out)
  return 0
}

const COMMANDS: Record<string, (p: Parsed) => Promise<number>> = {
  up: cmdUp,
  down: cmdDown,
  status: cmdStatus,
  fault: cmdFault,
  heal: cmdHeal,
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    ;(cmd ? process.stdout : process.stderr).write(USAGE + '\n')
    return cmd ? 0 : 2
  }
  const run = COMMANDS[cmd]
  try {
    if (!run)
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}; commands: ${Object.keys(COMMANDS).join(', ')}`)
    return await run(parseArgs(rest, ['inventory', 'ms']))
  } catch (e) {
    const err = e as Error
    process.stderr.write(`lab ${cmd ?? ''}: ${redactString(err.message)}\n`) // the one redaction path (lib/redact.ts)
    if (e instanceof UsageError) return 2
    if (!(e instanceof InventoryError || e instanceof LabStateError || e instanceof DaemonStartError))
      process.stderr.write(`${err.stack?.split('\n').slice(1, 4).join('\n') ?? ''}\n`)
    return 1
  }
}

process.exitCode = await main(process.argv.slice(2))
