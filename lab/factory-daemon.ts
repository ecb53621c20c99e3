// The lab's Image Factory on loopback (started by `lab up` at the inventory's cluster.imageFactory): the routes of
// siderolabs/image-factory that 01 and 09 use (internal/frontend/http/http.go). `POST /schematics` stores the
// schematic and answers 201 with {"id", "schematic"} (configuration.go handleSchematicCreate); `GET|HEAD
// /image/:schematic/:version/:path` serves the metal disk image of a schematic the factory knows, 404 otherwise. The
// lab learns a schematic only here (lab/factory.ts stores it), so an installer image whose schematic nobody POSTed
// does not exist for the lab's machines (lab/registry.ts), as on the real factory.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { execFileSync } from 'node:child_process'
import { knownSchematic, registerSchematic } from './factory.ts'
import { buildImage } from './images.ts'
import { LAB_TALOS_RELEASES } from './registry.ts'
import { canonicalSchematicYaml } from '../lib/talos/schematic.ts'

const [host, port] = [process.argv[2] ?? '', Number(process.argv[3])]

function answer(res: ServerResponse, status: number, body: string | Buffer, type = 'text/plain'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

async function createSchematic(req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const id = registerSchematic(await readBody(req))
    const schematic = canonicalSchematicYaml(knownSchematic(id)!)
    answer(res, 201, JSON.stringify({ id, schematic }) + '\n', 'application/json')
  } catch (e) {
    answer(res, 400, `${(e as Error).message}\n`)
  }
}

/** The image files the lab serves: the raw disk and its zstd form, as the factory names them. */
const IMAGE_PATHS = ['metal-amd64.raw', 'metal-amd64.raw.zst']

function serveImage(res: ServerResponse, id: string, version: string, path: string): void {
  const s = knownSchematic(id)
  if (!s) return answer(res, 404, `schematic ${id} not found\n`)
  if (!LAB_TALOS_RELEASES.includes(version)) return answer(res, 404, `version ${version} not found\n`)
  if (!IMAGE_PATHS.includes(path)) return answer(res, 404, `${path}: not an image the lab's factory builds\n`)
  const raw = buildImage(version, undefined, { id, extraKernelArgs: s.customization.extraKernelArgs ?? [] })
  const body = path.endsWith('.zst')
    ? execFileSync('/usr/bin/zstd', ['-q', '-c', '-3'], { input: raw, maxBuffer: 64 * 2 ** 20 })
    : raw
  answer(res, 200, body, 'application/octet-stream')
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://lab')
  const image = /^\/image\/([0-9a-f]{64})\/([^/]+)\/([^/]+)$/.exec(url.pathname)
  if (req.method === 'POST' && url.pathname === '/schematics') return void createSchematic(req, res)
  if ((req.method === 'GET' || req.method === 'HEAD') && image) return serveImage(res, image[1]!, image[2]!, image[3]!)
  answer(res, 404, 'not found\n')
})
server.on('error', (e) => {
  process.stderr.write(`lab image factory: cannot listen on ${host}:${port}: ${e.message}\n`)
  process.exit(1)
})
server.listen(port, host, () =>
  process.stderr.write(`${new Date().toISOString()} lab image factory on ${host}:${port}\n`),
)
const stop = () => server.close(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
