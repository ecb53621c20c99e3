// Before the lab starts anything (`npm run lab:deploy`) and before the tests run (`npm test`'s pretest): every
// program of lab/tools.ts must be there, and the lab's Go components built (lab/go-builds.ts). When some are missing and this is root on a machine with apt-get, install
// their Debian packages and say so; otherwise stop with exit 2 and the exact install line, having started nothing.
// `LAB_INSTALL_TOOLS=no` forbids installing (the line is printed instead); PATH decides what is found, including
// apt-get itself.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { findTool, LAB_TOOLS, missingTools, type Tool } from './tools.ts'
import {
  ensureBuilt,
  findKubeComponent,
  findTalosctl,
  KUBERNETES_BUILDS,
  linkTalosctl,
  TALOS_API_BUILD,
  TALOSCTL_BUILD,
} from './go-builds.ts'

export const PREFLIGHT_EXIT = 2

export interface PreflightEnv {
  env: NodeJS.ProcessEnv
  uid: number
}

const here = (): PreflightEnv => ({ env: process.env, uid: process.getuid?.() ?? -1 })

/** Why this process may not install packages itself, or undefined when it may. */
export function whyNoInstall({ env, uid }: PreflightEnv): string | undefined {
  if (/^(no|0|false)$/i.test(env.LAB_INSTALL_TOOLS ?? '')) return 'LAB_INSTALL_TOOLS=no'
  if (uid !== 0) return 'not root'
  if (!findTool('apt-get', env)) return 'no apt-get on this machine'
  return undefined
}

const packagesOf = (tools: Tool[]) => [...new Set(tools.flatMap((t) => (t.pkg ? [t.pkg] : [])))]

/** The line a person pastes to install `tools`' Debian packages. */
export function installLine(tools: Tool[], uid: number): string {
  const sudo = uid === 0 ? '' : 'sudo '
  return `${sudo}apt-get update && ${sudo}apt-get install -y ${packagesOf(tools).join(' ')}`
}

function describeMissing(tools: Tool[]): string {
  return tools
    .map((t) => `  ${t.bin.padEnd(10)} ${t.pkg ? `(Debian package ${t.pkg})` : '(no Debian package)'}: ${t.usedFor}`)
    .join('\n')
}

function refuse(missing: Tool[], why: string, uid: number, say: (s: string) => void): number {
  const lines = [
    `preflight: missing ${missing.map((t) => t.bin).join(', ')}; nothing was started.`,
    describeMissing(missing),
  ]
  if (packagesOf(missing).length)
    lines.push(
      `Install ${missing.some((t) => !t.pkg) ? 'the packages' : 'them'} (not done here: ${why}), then run this again:`,
      `  ${installLine(missing, uid)}`,
    )
  for (const t of missing.filter((t) => !t.pkg)) lines.push(`${t.bin}: ${t.howto}`)
  say(lines.join('\n') + '\n')
  return PREFLIGHT_EXIT
}

/** apt-get update, then install; its output is shown only when it fails. */
function aptInstall(pkgs: string[], env: NodeJS.ProcessEnv): { ok: boolean; output: string } {
  const opts = {
    env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8' as const,
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
  }
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', ...pkgs],
  ]) {
    const r = spawnSync('apt-get', args, opts)
    if (r.error || r.status !== 0)
      return {
        ok: false,
        output: `apt-get ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout ?? ''}${r.stderr ?? ''}`,
      }
  }
  return { ok: true, output: '' }
}

/** Exit code: 0 when every tool is there (installing what it may), PREFLIGHT_EXIT otherwise. Never throws. */
export function preflight(
  p: PreflightEnv = here(),
  say: (s: string) => void = (s) => void process.stderr.write(s),
): number {
  const missing = missingTools(LAB_TOOLS, p.env)
  if (missing.length === 0) return 0
  const installable = missing.filter((t) => t.pkg)
  const why = whyNoInstall(p)
  if (why || installable.length === 0) return refuse(missing, why ?? 'no Debian package', p.uid, say)
  say(`installing ${packagesOf(installable).join(' ')} (needed by the lab) …\n`)
  const r = aptInstall(packagesOf(installable), p.env)
  if (!r.ok) say(r.output)
  const still = missingTools(LAB_TOOLS, p.env)
  if (still.length === 0) return 0
  return refuse(still, r.ok ? 'installed, yet still not found on PATH' : 'apt-get failed', p.uid, say)
}

/**
 * The lab's real components from Go (lab/go-builds.ts): talosctl v1.10.3 unless one is found ($TALOSCTL, PATH), and
 * the lab's Talos API server, and the Kubernetes control plane (kube-apiserver, kube-controller-manager,
 * kube-scheduler) unless matching ones are on PATH; each built once and cached. Exit code as preflight().
 */
export async function preflightBuilds(say: (s: string) => void = (s) => void process.stderr.write(s)): Promise<number> {
  try {
    linkTalosctl(findTalosctl() ?? (await ensureBuilt(TALOSCTL_BUILD, say)))
    await ensureBuilt(TALOS_API_BUILD, say)
    for (const b of KUBERNETES_BUILDS) if (!findKubeComponent(b)) await ensureBuilt(b, say)
    return 0
  } catch (e) {
    say(`preflight: ${(e as Error).message}\nnothing was started.\n`)
    return PREFLIGHT_EXIT
  }
}

// `tsx lab/preflight.ts` (npm's pretest)
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = preflight() || (await preflightBuilds())
}
