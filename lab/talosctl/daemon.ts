// The lab talosctl daemon: one per lab, started by `lab up`, serving lab/bin/talosctl over a unix socket in the lab
// dir. A call through it is a shell and a curl (~20 ms of CPU) instead of a Node process (~250 ms): the check suite
// and the failover drill make dozens of calls, and on a small machine their start-up was most of the lab's time.
// Protocol (HTTP on the socket): POST /run, body = the arguments, each followed by NUL; headers x-cwd (must be this
// daemon's cwd: relative paths resolve against it), x-build (the bundle the client would run: a daemon running an
// older bundle, or one older than the sources, refuses), x-err-file (a file the client created: stderr goes there), x-env-* (TALOSCONFIG, HOME, ...).
// Answer: 200, stdout as the body, the exit code in x-exit-code; anything else means "run it yourself".
import { createServer } from 'node:http'
import { appendFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { paths, REPO_ROOT } from '../state.ts'
import { main, preloadCommands } from './main.ts'
import { withIo } from './io.ts'

const socket = paths.talosctlSocket()
// the bundle's directory names the build (import.meta.url is pinned to the sources by build.mjs)
const build = basename(dirname(process.argv[1] ?? ''))
const cwd = process.cwd()
const builtAt = statSync(process.argv[1]!).mtimeMs

/** Whether a lab/*.ts changed since this bundle was built (checked at most every 2 s): then clients must rebuild. */
let checkedAt = 0
let stale = false
function sourcesChanged(): boolean {
  if (stale || Date.now() - checkedAt < 2000) return stale
  checkedAt = Date.now()
  const newer = (dir: string): boolean =>
    readdirSync(dir, { withFileTypes: true }).some((d) =>
      d.isDirectory() ? newer(join(dir, d.name)) : d.name.endsWith('.ts') && statSync(join(dir, d.name)).mtimeMs > builtAt,
    )
  stale = newer(join(REPO_ROOT, 'lab'))
  return stale
}

const server = createServer((req, res) => {
  const refuse = (code: number, why: string) => {
    res.writeHead(code, { 'content-type': 'text/plain' })
    res.end(why)
  }
  if (req.method !== 'POST' || req.url !== '/run') return refuse(404, 'POST /run')
  if (req.headers['x-cwd'] !== cwd) return refuse(421, `this daemon runs in ${cwd}`)
  if (req.headers['x-build'] !== build || sourcesChanged()) return refuse(409, `this daemon runs build ${build}${stale ? ' and lab/*.ts changed since' : ''}`)
  const errFile = String(req.headers['x-err-file'] ?? '')
  if (!errFile) return refuse(400, 'x-err-file missing')
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', async () => {
    const body = Buffer.concat(chunks).toString('utf8')
    const argv = body === '' ? [] : body.replace(/\0$/, '').split('\0')
    const env: Record<string, string | undefined> = {}
    for (const [k, v] of Object.entries(req.headers)) if (k.startsWith('x-env-') && typeof v === 'string' && v !== '') env[k.slice(6).toUpperCase().replaceAll('-', '_')] = v
    const stdout: Buffer[] = []
    let code: number
    try {
      code = await withIo({ out: (s) => void stdout.push(Buffer.from(s)), err: (s) => appendFileSync(errFile, s), env }, () => main(argv))
    } catch (e) {
      appendFileSync(errFile, `${(e as Error).stack ?? e}\n`)
      code = 1
    }
    res.writeHead(200, { 'x-exit-code': String(code), 'content-type': 'application/octet-stream' })
    res.end(Buffer.concat(stdout))
  })
})

await preloadCommands()
rmSync(socket, { force: true })
server.listen(socket, () => process.stderr.write(`${new Date().toISOString()} lab talosctl daemon (build ${build}) on ${socket}\n`))
const stop = () => server.close(() => (rmSync(socket, { force: true }), process.exit(0)))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
