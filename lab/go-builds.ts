// The lab's real components built from Go modules with their sums checked: talosctl v1.10.3 itself (tools/talosctl,
// a module that requires github.com/siderolabs/talos v1.10.3 and repeats its replace directives) and the lab's Talos
// API server (lab/talos-api, on Talos's pkg/machinery). Each is built once per content of its module (go.mod, go.sum,
// *.go) into a cache outside the checkout, so another clone on the same machine, CI's among them, reuses it.
//
// Go: the toolchain Talos v1.10.3 itself is built with, go1.24.3 (its go.mod and Makefile's TOOLS). The go command
// fetches it from the module proxy the first time (GOTOOLCHAIN); it is also needed, not only faithful:
// github.com/siderolabs/gen v0.8.0, which the cosi runtime uses, does not compile with Go 1.25 or newer
// (concurrent/hashtriemap.go: efaceMapOf exists only for go1.22–go1.24).
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT } from './state.ts'
import { findTool } from './tools.ts'

export const GO_TOOLCHAIN = 'go1.24.3'
export const TALOS_VERSION = 'v1.10.3'

export interface GoBuild {
  /** The binary's name in the cache. */
  name: string
  /** The Go module that builds it, relative to the repo. */
  module: string
  /** The package to build, relative to the module (or a full import path). */
  pkg: string
  /** What it is, for the progress line. */
  what: string
  /** `-X` settings for the linker (part of the cache key). */
  linkerVars?: Record<string, string>
}

export const TALOSCTL_BUILD: GoBuild = {
  name: 'talosctl',
  module: 'tools/talosctl',
  pkg: 'github.com/siderolabs/talos/cmd/talosctl',
  what: `talosctl ${TALOS_VERSION} (github.com/siderolabs/talos/cmd/talosctl)`,
}

export const TALOS_API_BUILD: GoBuild = {
  name: 'talos-api',
  module: 'lab/talos-api',
  pkg: '.',
  what: "the lab's Talos API server (lab/talos-api)",
}

export const KUBERNETES_VERSION = 'v1.33.1'

/**
 * What Kubernetes's own release build stamps into its binaries (hack/lib/version.sh, kube::version::ldflags): without
 * it a `go build` reports `v0.0.0-master+$Format:%H$` to `--version` and to `kubectl version`.
 */
const KUBERNETES_VERSION_VARS = Object.fromEntries(
  ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
    [`${pkg}.gitVersion`, KUBERNETES_VERSION],
    [`${pkg}.gitMajor`, KUBERNETES_VERSION.split('.')[0]!.slice(1)],
    [`${pkg}.gitMinor`, KUBERNETES_VERSION.split('.')[1]!],
    [`${pkg}.gitTreeState`, 'clean'],
  ]),
)

/**
 * The real Kubernetes control plane (issue #23), from the official k8s.io/kubernetes module at KUBERNETES_VERSION
 * (tools/kubernetes pins its staging modules at the matching v0.33.x): the binaries Talos runs as static pods from
 * registry.k8s.io/kube-* images of the same version.
 */
export const KUBERNETES_BUILDS: GoBuild[] = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map(
  (name) => ({
    name,
    module: 'tools/kubernetes',
    pkg: `k8s.io/kubernetes/cmd/${name}`,
    what: `${name} ${KUBERNETES_VERSION} (k8s.io/kubernetes/cmd/${name})`,
    linkerVars: KUBERNETES_VERSION_VARS,
  }),
)

/** Where built binaries are kept: $TALOS_RUNBOOKS_CACHE, else $XDG_CACHE_HOME/talos-runbooks, else ~/.cache/… */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TALOS_RUNBOOKS_CACHE) return env.TALOS_RUNBOOKS_CACHE
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'talos-runbooks')
}

/**
 * A hash of everything that decides the binary: the module's go.mod, go.sum and Go sources, the files it embeds
 * (templates/), and the toolchain.
 */
export function moduleKey(b: GoBuild): string {
  const dir = join(REPO_ROOT, b.module)
  const h = createHash('sha256').update(GO_TOOLCHAIN)
  // what goes into the binary: a test file does not (go build leaves _test.go out), so a new test rebuilds nothing
  const built = (f: string) => f === 'go.mod' || f === 'go.sum' || (f.endsWith('.go') && !f.endsWith('_test.go'))
  for (const f of readdirSync(dir).sort()) if (built(f)) h.update(f).update(readFileSync(join(dir, f)))
  const embedded = join(dir, 'templates')
  if (existsSync(embedded))
    for (const f of readdirSync(embedded).sort())
      if (f.endsWith('.yaml')) h.update(`templates/${f}`).update(readFileSync(join(embedded, f)))
  if (b.linkerVars) h.update(JSON.stringify(b.linkerVars))
  return h.digest('hex').slice(0, 16)
}

export const builtPath = (b: GoBuild, env: NodeJS.ProcessEnv = process.env): string =>
  join(cacheDir(env), `${b.name}-${moduleKey(b)}`)

/** `talosctl version --client --short` says `Talos v1.10.3` (cmd/talosctl/cmd/talos/version.go, PrintShortVersion). */
export function talosctlVersion(bin: string): string | undefined {
  const r = spawnSync(bin, ['version', '--client', '--short'], { encoding: 'utf8', timeout: 10_000 })
  if (r.status !== 0) return undefined
  return /\bv\d+\.\d+\.\d+\S*/.exec(r.stdout)?.[0]
}

/**
 * The talosctl the lab and the tests run: $TALOSCTL, else `talosctl` on PATH, when it is v1.10.3; else this repo's
 * cached build; undefined when there is none yet (the preflight builds it).
 */
export function findTalosctl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const cand of [env.TALOSCTL, findTool('talosctl', env)]) {
    if (cand && talosctlVersion(cand) === TALOS_VERSION) return cand
  }
  const built = builtPath(TALOSCTL_BUILD, env)
  return existsSync(built) ? built : undefined
}

/** The talosctl to run; throws with the command that provides it when there is none. */
export function realTalosctl(env: NodeJS.ProcessEnv = process.env): string {
  const bin = findTalosctl(env)
  if (!bin) throw new Error(`talosctl ${TALOS_VERSION} is not built yet: run \`npm run lab:preflight\``)
  return bin
}

/** The lab's Talos API server binary; throws when it is not built. */
export function talosApiBinary(env: NodeJS.ProcessEnv = process.env): string {
  const bin = builtPath(TALOS_API_BUILD, env)
  if (!existsSync(bin)) throw new Error(`${TALOS_API_BUILD.what} is not built yet: run \`npm run lab:preflight\``)
  return bin
}

/** `kube-apiserver --version` (and the others) print `Kubernetes v1.33.1` (component-base/version/verflag). */
export function kubeComponentVersion(bin: string): string | undefined {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 })
  if (r.status !== 0) return undefined
  return /\bv\d+\.\d+\.\d+\S*/.exec(r.stdout)?.[0]
}

/** A control-plane component of KUBERNETES_VERSION: on PATH when that one is there, else the cached build. */
export function findKubeComponent(b: GoBuild, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const onPath = findTool(b.name, env)
  if (onPath && kubeComponentVersion(onPath) === KUBERNETES_VERSION) return onPath
  const built = builtPath(b, env)
  return existsSync(built) ? built : undefined
}

/** The component to run; throws with the command that provides it when there is none. */
export function kubeComponent(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const b = KUBERNETES_BUILDS.find((x) => x.name === name)
  if (!b) throw new Error(`${name} is not a Kubernetes control-plane component the lab builds`)
  const bin = findKubeComponent(b, env)
  if (!bin) throw new Error(`${b.what} is not built yet: run \`npm run lab:preflight\``)
  return bin
}

/** Why Go cannot build here, or undefined. */
export function whyNoGo(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!findTool('go', env))
    return 'Go is not installed (https://go.dev/doc/install; any Go ≥ 1.21 fetches go1.24.3 itself)'
  return undefined
}

/**
 * Build b into the cache unless it is there, saying what it does; `go build -v` names each package as it compiles
 * it, which is the progress shown. GOFLAGS=-mod=readonly: go.sum must already hold every sum (checked against the
 * checksum database when first downloaded), nothing is added to it.
 */
export async function ensureBuilt(
  b: GoBuild,
  say: (s: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const out = builtPath(b, env)
  if (existsSync(out)) return out
  const noGo = whyNoGo(env)
  if (noGo) throw new Error(`cannot build ${b.what}: ${noGo}`)
  mkdirSync(cacheDir(env), { recursive: true })
  const tmp = `${out}.tmp-${process.pid}`
  const started = Date.now()
  say(`building ${b.what} with ${GO_TOOLCHAIN}, once (about 10 minutes on 2 cores the first time) …\n`)
  const tty = process.stderr.isTTY
  let packages = 0
  let log = ''
  const code = await new Promise<number>((resolve) => {
    const ldflags = Object.entries(b.linkerVars ?? {}).map(([k, v]) => `-X=${k}=${v}`)
    const args = ['build', '-v', ...(ldflags.length ? ['-ldflags', ldflags.join(' ')] : []), '-o', tmp, b.pkg]
    const child = spawn('go', args, {
      cwd: join(REPO_ROOT, b.module),
      env: { ...env, GOTOOLCHAIN: GO_TOOLCHAIN, GOFLAGS: '-mod=readonly' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString('utf8')
      log = (log + text).slice(-20_000)
      for (const line of text.split('\n')) {
        if (!/^[\w.-]+(\/[\w.~+-]+)*$/.test(line.trim())) continue
        packages++
        if (tty) say(`\r  ${packages} packages compiled (${Math.round((Date.now() - started) / 1000)} s)`)
        else if (packages % 100 === 0)
          say(`  ${packages} packages compiled (${Math.round((Date.now() - started) / 1000)} s)\n`)
      }
    })
    child.on('error', () => resolve(127))
    child.on('close', (c) => resolve(c ?? 1))
  })
  if (tty) say('\n')
  if (code !== 0) {
    rmSync(tmp, { force: true })
    throw new Error(`building ${b.what} failed (go build exit ${code}):\n${log.split('\n').slice(-30).join('\n')}`)
  }
  renameSync(tmp, out)
  // builds of other contents stay: another checkout on this machine (CI's fresh clone beside a working copy) may be
  // running them
  say(`built ${b.what} in ${Math.round((Date.now() - started) / 1000)} s: ${out}\n`)
  return out
}

/**
 * Where the runbooks find talosctl in this checkout: `node_modules/.bin/talosctl`, which npx and npm put first on PATH
 * (`npx zx runbooks/…`, `npm test`), linked to the talosctl the preflight found or built. The product itself only
 * ever runs `talosctl` from PATH (or $TALOSCTL), as on an operator's machine.
 */
export function linkTalosctl(bin: string): string {
  const dir = join(REPO_ROOT, 'node_modules', '.bin')
  mkdirSync(dir, { recursive: true })
  const link = join(dir, 'talosctl')
  // under npm, PATH already holds this link: find the binary behind it before replacing it
  const target = realpathSync(bin)
  // already right: left alone, so a preflight running beside another process that runs talosctl never removes the
  // link under it
  if (existsSync(link) && realpathSync(link) === target) return link
  rmSync(link, { force: true })
  symlinkSync(target, link)
  return link
}
