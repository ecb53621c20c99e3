// The lab's machine API daemon: one per lab, started by `lab up` (lab/daemons.ts), serving the machine model
// (server.ts, `/api/...`) over a unix socket in the lab dir to lab/talos-api, which puts Talos's gRPC API in front of
// it. When it cannot start it says why in one line starting with "lab machine API daemon: " (lab/daemons.ts shows it).
import { createServer } from 'node:http'
import { existsSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { paths } from '../state.ts'
import { serveMachineApi } from './server.ts'

const socket = paths.machineApiSocket()

/** One line in the log and exit 1: what `lab up` reports when the daemon does not come up. */
function cannotStart(why: string): never {
  process.stderr.write(`lab machine API daemon: ${why}\n`)
  process.exit(1)
}

const server = createServer((req, res) => {
  if (serveMachineApi(req, res)) return
  res.writeHead(404, { 'content-type': 'text/plain' })
  res.end('the lab machine API answers /api/ only')
})
// talos-api keeps its connections to this socket for 10 s of idleness (lab/talos-api/backend.go); Node's default of
// 5 s let the server close a connection the client was sending a POST on
server.keepAliveTimeout = 60_000

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
  process.stderr.write(`${new Date().toISOString()} lab machine API daemon on ${socket}\n`)
})
const stop = () => server.close(() => (rmSync(socket, { force: true }), process.exit(0)))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
