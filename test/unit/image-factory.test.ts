// The Image Factory client (lib/talos/image-factory.ts) against a local HTTP server speaking the factory's routes, and
// where 01 keeps each node's disk image (steps/image-factory.ts diskImageOf).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { downloadImage, ImageFactoryError, postSchematic } from '../../lib/talos/image-factory.ts'
import { loadInventory } from '../../config/inventory.ts'
import { diskImageOf } from '../../steps/image-factory.ts'
import { EMPTY_SCHEMATIC_ID } from '../../lib/talos/schematic.ts'

const REPO = join(import.meta.dirname, '../..')

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

test('postSchematic: the ID from a 201 answer; an HTTP error or an answer without an ID is an error naming the URL', async () => {
  const seen: string[] = []
  const { url, server } = await serve((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${body}`)
      if (body.includes('bad')) return void res.writeHead(400).end('yaml: unmarshal errors\n')
      if (body.includes('noid')) return void res.writeHead(201).end('{"schematic":""}')
      res.writeHead(201, { 'content-type': 'application/json' }).end(`{"id":"${'a'.repeat(64)}","schematic":"x"}\n`)
    })
  })
  try {
    assert.equal(await postSchematic(url, 'customization: {}\n'), 'a'.repeat(64))
    assert.deepEqual(seen, ['POST /schematics customization: {}\n'])
    await assert.rejects(
      postSchematic(url, 'bad'),
      /POST http:\/\/127\.0\.0\.1:\d+\/schematics: HTTP 400: yaml: unmarshal errors/,
    )
    await assert.rejects(postSchematic(url, 'noid'), /the answer has no schematic id/)
  } finally {
    server.close()
  }
  await assert.rejects(postSchematic(url, 'customization: {}\n', 2000), (e: Error) => {
    assert.ok(e instanceof ImageFactoryError)
    assert.match(e.message, new RegExp(`cannot reach ${url}/schematics: `))
    return true
  })
})

test('downloadImage: a .zst is decompressed on the way; a truncated download leaves nothing behind', async () => {
  const raw = Buffer.concat([Buffer.from('LAB-TALOS-IMAGE/1\n'), Buffer.alloc(3 * 2 ** 20, 7)])
  const zst = execFileSync('/usr/bin/zstd', ['-q', '-c', '-3'], { input: raw })
  const { url, server } = await serve((req, res) => {
    if (req.url === '/image/whole.raw.zst') return void res.writeHead(200, { 'content-length': zst.length }).end(zst)
    if (req.url === '/image/cut.raw.zst') {
      // a stream cut short: the zstd frame never ends
      const cut = zst.subarray(0, Math.floor(zst.length / 2))
      return void res.writeHead(200, { 'content-length': cut.length }).end(cut)
    }
    res.writeHead(404).end('schematic not found\n')
  })
  const dir = mkdtempSync(join(tmpdir(), 'factory-download-'))
  try {
    const progress: number[] = []
    await downloadImage(`${url}/image/whole.raw.zst`, join(dir, 'whole.raw'), (p) => progress.push(p.received))
    assert.ok(readFileSync(join(dir, 'whole.raw')).equals(raw))
    assert.equal(progress.at(-1), zst.length)
    await assert.rejects(downloadImage(`${url}/image/cut.raw.zst`, join(dir, 'cut.raw')), ImageFactoryError)
    await assert.rejects(
      downloadImage(`${url}/image/none.raw.zst`, join(dir, 'none.raw')),
      /HTTP 404: schematic not found/,
    )
    assert.deepEqual(readdirSync(dir), ['whole.raw'], 'no partial file is left')
  } finally {
    server.close()
  }
})

test('diskImageOf: file:// as given; the factory image cached by factory, schematic and version; a URL by its hash', () => {
  const inv = loadInventory(join(REPO, 'inventory/example.yaml'))
  const cp1 = inv.nodes.find((n) => n.name === 'cp1')!
  const v = inv.nodes.find((n) => n.profile === 'validator')!
  process.env.TALOS_RUNBOOKS_CACHE = '/cache'
  try {
    const plain = diskImageOf(inv, cp1)
    assert.equal(plain.url, `https://factory.talos.dev/image/${EMPTY_SCHEMATIC_ID}/v1.10.3/metal-amd64.raw.zst`)
    assert.equal(plain.file, `/cache/factory.talos.dev/${EMPTY_SCHEMATIC_ID}/v1.10.3/metal-amd64.raw`)
    const validator = diskImageOf(inv, v)
    assert.notEqual(validator.file, plain.file, "the validator's schematic is its own")
    // another factory (a lab's, a self-hosted one) never shares a cache entry with factory.talos.dev
    const other = diskImageOf({ ...inv, cluster: { ...inv.cluster, imageFactory: 'http://127.0.10.1:8080' } }, cp1)
    assert.equal(other.file, `/cache/127.0.10.1_8080/${EMPTY_SCHEMATIC_ID}/v1.10.3/metal-amd64.raw`)
    const byUrl = diskImageOf(inv, {
      ...cp1,
      rescue: { ...cp1.rescue!, imageUrl: 'https://mirror/x/metal-amd64.raw.zst' },
    })
    assert.match(byUrl.file, /^\/cache\/url\/[0-9a-f]{16}\/metal-amd64\.raw$/)
    const local = diskImageOf(inv, { ...cp1, rescue: { ...cp1.rescue!, imageUrl: 'file:///srv/images/a.raw' } })
    assert.equal(local.file, '/srv/images/a.raw')
    assert.ok(!existsSync('/cache'), 'nothing is written by asking')
  } finally {
    delete process.env.TALOS_RUNBOOKS_CACHE
  }
})
