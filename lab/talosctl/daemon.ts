// The lab talosctl daemon: one per lab, started by `lab up`, serving lab/bin/talosctl over a unix socket in the lab
// dir. A call through it is a shell and a curl (~20 ms of CPU) instead of a Node process (~250 ms): the check suite
// and the failover drill make dozens of calls, and on a small machine their start-up was most of the lab's time.
// Protocol (HTTP on the socket): POST /run, body = the arguments, each followed by NUL; headers x-cwd (must be this
// daemon's cwd: relative paths resolve against it), x-build (the bundle the client would run: a daemon running another
// bundle, or one whose sources changed since, refuses), x-err-file (a file the client created: stderr goes there), x-env-* (TALOSCONFIG, HOME, ...).
// Answer: 200, stdout as the body, the exit code in x-exit-code; anything else means "run it yourself".
// When it cannot start it says why in one line starting with "lab talosctl daemon: " (lab/talosctl-daemon.ts shows it).
import { createServer } from 'node:http'
import { appendFileSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { paths, REPO_ROOT } from '../state.ts'
import { main, preloadCommands } from './main.ts'
import { withIo } from './io.ts'
import { serveMachineApi } from '../machine-api/server.ts'

const socket = paths.talosctlSocket()
// the bundle's directory names the build (import.meta.url is pinned to the sources by build.mjs)
const build = basename(dirname(process.argv[1] ?? ''))
const cwd = process.cwd()
// this checkout's stamp (see lab/talosctl/build.mjs): its mtime is when the current build started reading the sources
const stamp = join(dirname(dirname(process.argv[1] ?? '')), 'checkouts', REPO_ROOT, 'current')

/**
 * Whether a lab/ or lib/ *.ts changed (ctime, as lab/talosctl/current-build.sh judges it) since this checkout's build
 * was made, checked at most every 2 s: then clients rebuild, and come back once the rebuild is this same build.
 */
let checkedAt = 0
let stale = false
function sourcesChanged(): boolean {
  if (Date.now() - checkedAt < 2000) return stale
  checkedAt = Date.now()
  let builtAt: number
  try {
    builtAt = statSync(stamp).mtimeMs
  } catch {
    return (stale = true)
  }
  const newer = (dir: string): boolean =>
    readdirSync(dir, { withFileTypes: true }).some((d) =>
      d.isDirectory()
        ? newer(join(dir, d.name))
        : d.name.endsWith('.ts') && statSync(join(dir, d.name)).ctimeMs > builtAt,
    )
  stale = newer(join(REPO_ROOT, 'lab')) || newer(join(REPO_ROOT, 'lib'))
  return stale
}

/** One line in the log and exit 1: what `lab up` reports when the daemon does not come up. */
function cannotStart(why: string): never {
  process.stderr.write(`lab talosctl daemon: ${why}\n`)
  process.exit(1)
}

const server = createServer((req, res) => {
  if (serveMachineApi(req, res)) return
  const refuse = (code: number, why: string) => {
    res.writeHead(code, { 'content-type': 'text/plain' })
    res.end(why)
  }
  if (req.method !== 'POST' || req.url !== '/run') return refuse(404, 'POST /run')
  if (req.headers['x-cwd'] !== cwd) return refuse(421, `this daemon runs in ${cwd}`)
  if (req.headers['x-build'] !== build || sourcesChanged())
    return refuse(409, `this daemon runs build ${build}${stale ? ' and lab/*.ts changed since' : ''}`)
  const errFile = String(req.headers['x-err-file'] ?? '')
  if (!errFile) return refuse(400, 'x-err-file missing')
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', async () => {
    const body = Buffer.concat(chunks).toString('utf8')
    const argv = body === '' ? [] : body.replace(/\0$/, '').split('\0')
    const env: Record<string, string | undefined> = {}
    for (const [k, v] of Object.entries(req.headers))
      if (k.startsWith('x-env-') && typeof v === 'string' && v !== '')
        env[k.slice(6).toUpperCase().replaceAll('-', '_')] = v
    const stdout: Buffer[] = []
    let code: number
    try {
      code = await withIo(
        { out: (s) => void stdout.push(Buffer.from(s)), err: (s) => appendFileSync(errFile, s), env },
        () => main(argv),
      )
    } catch (e) {
      appendFileSync(errFile, `${(e as Error).stack ?? e}\n`)
      code = 1
    }
    res.writeHead(200, { 'x-exit-code': String(code), 'content-type': 'application/octet-stream' })
    res.end(Buffer.concat(stdout))
  })
})

// A unix socket's address holds at most 107 bytes and a NUL (sun_path[UNIX_PATH_MAX = 108]: linux
// include/uapi/linux/un.h); Node's libuv silently truncates a longer path (nodejs/node deps/uv/docs/src/pipe.rst,
// uv_pipe_bind), so the daemon would listen somewhere no client looks.
const SUN_PATH_MAX = 107
if (Buffer.byteLength(socket) > SUN_PATH_MAX) {
  cannotStart(
    `${socket} is ${Buffer.byteLength(socket)} bytes, longer than the ${SUN_PATH_MAX} a unix socket address holds: use a shorter TALOS_LAB_DIR`,
  )
}
try {
  await preloadCommands()
  rmSync(socket, { force: true })
} catch (e) {
  cannotStart((e as Error).message)
}
let listening = false
server.on('error', (e: NodeJS.ErrnoException) => {
  if (listening) return void process.stderr.write(`${new Date().toISOString()} ${e.message}\n`)
  // libuv turns bind's ENOENT into EACCES (libuv src/unix/pipe.c, uv_pipe_bind: "for compatibility with Windows")
  const gone = e.code === 'EACCES' && !existsSync(dirname(socket))
  cannotStart(`cannot listen on ${socket}: ${gone ? `${dirname(socket)} does not exist` : e.message}`)
})
server.listen(socket, () => {
  listening = true
  process.stderr.write(`${new Date().toISOString()} lab talosctl daemon (build ${build}) on ${socket}\n`)
})
const stop = () => server.close(() => (rmSync(socket, { force: true }), process.exit(0)))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
