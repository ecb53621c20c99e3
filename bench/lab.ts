// A lab of the benchmarks' own: its own TALOS_LAB_DIR, runbook state, outputs and loopback range (127.0.<octet>.x),
// built from inventory/lab.yaml, never the default .lab. Also: wrappers that log every talosctl/kubectl call,
// and extra workers generated directly as lab state (a 100-node `lab up` would be rescue sshds and image writes
// the benchmark does not measure).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, parseDocument, stringify } from 'yaml'
import { parseInventory } from '../config/inventory.ts'
import { writeFileAtomic } from '../lab/state.ts'
import { realTalosctl } from '../lab/go-builds.ts'

export const REPO = fileURLToPath(new URL('..', import.meta.url))

export interface BenchLab {
  root: string
  labDir: string
  outDir: string
  inventory: string
  octet: number
  env: NodeJS.ProcessEnv
}

export function benchLab(octet: number, name = 'bench'): BenchLab {
  const root = mkdtempSync(join(tmpdir(), `${name}-`))
  const labDir = join(root, 'lab')
  const outDir = join(root, 'out')
  const inventory = join(root, 'inventory.yaml')
  const text = readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
    .replaceAll('127.0.10.', `127.0.${octet}.`)
    .replaceAll('.lab/', `${labDir}/`)
    .replace(/outputDir: \S+/, `outputDir: ${outDir}`)
    .replace('name: solana-lab', `name: solana-${name}`)
  writeFileSync(inventory, text)
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TALOS_LAB_DIR: labDir,
    TALOS_RUNBOOKS_STATE_DIR: join(root, 'state'),
    CI: 'true',
    NO_COLOR: '1',
  }
  delete env.TALOSCTL
  delete env.KUBECTL
  return { root, labDir, outDir, inventory, octet, env }
}

export function sh(
  lab: BenchLab,
  cmd: string,
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
  timeoutMs = 5 * 60_000,
): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd: REPO,
    env: { ...lab.env, ...extraEnv },
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  })
}

export function mustSh(lab: BenchLab, cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): string {
  const r = sh(lab, cmd, args, extraEnv)
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${(r.stdout + r.stderr).slice(-3000)}`)
  return r.stdout
}

export const runbookFile = (prefix: string) => {
  const r = spawnSync('sh', ['-c', `ls runbooks/${prefix}-*.ts`], { cwd: REPO, encoding: 'utf8' })
  const f = r.stdout.trim().split('\n')[0]
  if (!f) throw new Error(`no runbook runbooks/${prefix}-*.ts`)
  return f
}

export function labUp(lab: BenchLab): void {
  mustSh(lab, 'npx', ['tsx', 'lab/cli.ts', 'up', '--inventory', lab.inventory])
}

export function runRunbook(
  lab: BenchLab,
  prefix: string,
  extraEnv: NodeJS.ProcessEnv = {},
  inventory = lab.inventory,
): string {
  return mustSh(lab, 'npx', ['zx', runbookFile(prefix), '--inventory', inventory, '--yes'], extraEnv)
}

export function labDown(lab: BenchLab): void {
  if (existsSync(join(lab.labDir, 'lab.json'))) sh(lab, 'npx', ['tsx', 'lab/cli.ts', 'down'])
  rmSync(lab.root, { recursive: true, force: true })
}

/**
 * Wrappers for talosctl and kubectl that append `<startNs> <endNs> <exit> <tool> <args>` to one log per call. The
 * wrapper files stay the same between measurements (the log is named by $BENCH_CALL_LOG): 02 remembers which
 * configs the talosctl binary passed, keyed by the binary's path, size and mtime, as it would for a real one.
 */
export function callWrappers(lab: BenchLab, tag: string): { env: NodeJS.ProcessEnv; log: string } {
  const log = join(lab.root, `calls-${tag}.log`)
  writeFileSync(log, '')
  const wrap = (tool: string, real: string) => {
    const f = join(lab.root, `${tool}-logged`)
    const text = `#!/bin/sh\ns=$(date +%s%N)\n"${real}" "$@"\nrc=$?\necho "$s $(date +%s%N) $rc ${tool} $*" >> "$BENCH_CALL_LOG"\nexit $rc\n`
    if (!existsSync(f) || readFileSync(f, 'utf8') !== text) writeFileSync(f, text)
    chmodSync(f, 0o755)
    return f
  }
  const kubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim() || 'kubectl'
  return {
    env: { TALOSCTL: wrap('talosctl', realTalosctl()), KUBECTL: wrap('kubectl', kubectl), BENCH_CALL_LOG: log },
    log,
  }
}

const workerName = (i: number) => `worker${i}`

/**
 * Grow the deployed lab to `total` nodes by cloning worker1's lab state (node.json, applied config, sysroot) into
 * workers 2.. at 127.0.<octet>.<30+i>, and write the matching inventory. Returns that inventory's path.
 */
export function growLab(lab: BenchLab, total: number): string {
  const inv = parse(readFileSync(lab.inventory, 'utf8')) as { nodes: Record<string, any>[] }
  const template = inv.nodes.find((n) => n.name === 'worker1')!
  const clusterFile = join(lab.labDir, 'lab.json')
  const cluster = JSON.parse(readFileSync(clusterFile, 'utf8')) as { nodes: string[] }
  const src = join(lab.labDir, 'nodes', 'worker1')
  const srcNode = JSON.parse(readFileSync(join(src, 'node.json'), 'utf8'))
  const srcConfig = readFileSync(join(src, 'config.yaml'), 'utf8')
  for (let i = 2; inv.nodes.length < total; i++) {
    const name = workerName(i)
    const address = `127.0.${lab.octet}.${30 + i}`
    inv.nodes.push({ ...template, name, address, rescue: { ...template.rescue, host: address } })
    if (cluster.nodes.includes(name)) continue
    const dir = join(lab.labDir, 'nodes', name)
    cpSync(join(src, 'root'), join(dir, 'root'), { recursive: true })
    writeFileSync(join(dir, 'root/proc/sys/kernel/hostname'), `${name}\n`)
    const node = {
      ...srcNode,
      name,
      address,
      etcd: { clientUrl: `http://${address}:2379`, peerUrl: `http://${address}:2380` },
      kubeApi: { url: `https://${address}:6443` },
    }
    writeFileSync(join(dir, 'node.json'), JSON.stringify(node, null, 2) + '\n')
    writeFileSync(join(dir, 'config.yaml'), srcConfig.replace(/hostname: worker1\b/, `hostname: ${name}`), {
      mode: 0o600,
    })
    cluster.nodes.push(name)
  }
  // lab.json is rewritten whole by the lab CLI too; nothing else writes it while the benchmark runs
  const fresh = JSON.parse(readFileSync(clusterFile, 'utf8'))
  writeFileAtomic(clusterFile, JSON.stringify({ ...fresh, nodes: cluster.nodes }, null, 2) + '\n', 0o644)
  const file = join(lab.root, `inventory-${total}.yaml`)
  writeFileSync(file, stringify(inv))
  return file
}

/** Back to the inventory's own nodes in lab.json (the clones' files stay; nothing reads them any more). */
export function shrinkLab(lab: BenchLab): void {
  const names = (parse(readFileSync(lab.inventory, 'utf8')) as { nodes: { name: string }[] }).nodes.map((n) => n.name)
  const clusterFile = join(lab.labDir, 'lab.json')
  const c = JSON.parse(readFileSync(clusterFile, 'utf8'))
  writeFileAtomic(
    clusterFile,
    JSON.stringify({ ...c, nodes: c.nodes.filter((n: string) => names.includes(n)) }, null, 2) + '\n',
    0o644,
  )
}

/**
 * The lab's inventory at another Talos version, written beside it. The installer images follow talosVersion (the
 * factory's image for each node's schematic), so the version is the only edit.
 */
export function inventoryAtVersion(lab: BenchLab, version: string): string {
  const text = readFileSync(lab.inventory, 'utf8')
  const doc = parseDocument(text)
  doc.setIn(['cluster', 'talosVersion'], version)
  parseInventory(doc.toString(), lab.inventory) // refuses here, not halfway through the benchmark
  const file = join(lab.root, `inventory-${version}.yaml`)
  writeFileSync(file, doc.toString())
  return file
}
