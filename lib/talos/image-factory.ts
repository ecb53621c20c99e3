// The Image Factory's HTTP API, as 01 and 09 use it (siderolabs/image-factory internal/frontend/http/http.go):
// `POST /schematics` stores a schematic and answers 201 with {"id", "schematic"} (configuration.go
// handleSchematicCreate), and `GET /image/:schematic/:version/:path` serves its images. A self-hosted factory serves
// the same routes.
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { Decompress } from 'fzstd'

export class ImageFactoryError extends Error {}

const firstLine = (text: string) => text.trim().split('\n')[0]?.slice(0, 200) || '(no body)'

/** `fetch` with a deadline, its failure worded with the URL (Node says only "fetch failed"). */
async function fetchOrSay(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } }
    const why =
      err.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (err.cause?.message ?? err.message)
    throw new ImageFactoryError(`cannot reach ${url}: ${why}`)
  }
}

/** POST a schematic's YAML; the ID the factory gives it. */
export async function postSchematic(factory: string, yaml: string, timeoutMs = 30_000): Promise<string> {
  const url = `${factory.replace(/\/+$/, '')}/schematics`
  const res = await fetchOrSay(
    url,
    { method: 'POST', body: yaml, headers: { 'content-type': 'application/yaml' } },
    timeoutMs,
  )
  const body = await res.text()
  if (res.status !== 201 && res.status !== 200)
    throw new ImageFactoryError(`POST ${url}: HTTP ${res.status}: ${firstLine(body)}`)
  let id: unknown
  try {
    id = (JSON.parse(body) as { id?: unknown }).id
  } catch {
    /* worded below */
  }
  if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id))
    throw new ImageFactoryError(`POST ${url}: the answer has no schematic id: ${firstLine(body)}`)
  return id
}

export interface DownloadProgress {
  received: number
  /** Content-Length, when the server sent one. */
  total?: number
}

/**
 * Download `url` to `file`, zstd-decompressed when the URL ends in .zst (the factory serves metal-amd64.raw.zst).
 * Written to `file.part` and renamed at the end, so an interrupted download never leaves something that looks whole;
 * a truncated zstd stream fails here rather than on the disk.
 */
export async function downloadImage(
  url: string,
  file: string,
  onProgress: (p: DownloadProgress) => void = () => {},
  timeoutMs = 30 * 60_000,
): Promise<void> {
  const res = await fetchOrSay(url, {}, timeoutMs)
  if (res.status !== 200 || !res.body) {
    const body = await res.text().catch(() => '')
    throw new ImageFactoryError(`GET ${url}: HTTP ${res.status}: ${firstLine(body)}`)
  }
  const length = Number(res.headers.get('content-length'))
  const total = Number.isFinite(length) && length > 0 ? length : undefined
  mkdirSync(dirname(file), { recursive: true })
  const part = `${file}.part`
  const out = createWriteStream(part, { mode: 0o644 })
  const write = (chunk: Uint8Array) =>
    new Promise<void>((resolve, reject) => out.write(chunk, (e) => (e ? reject(e) : resolve())))
  try {
    const pending: Uint8Array[] = []
    const zstd = url.endsWith('.zst') ? new Decompress((data) => void pending.push(data)) : undefined
    let received = 0
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      received += chunk.length
      if (zstd) zstd.push(chunk)
      else pending.push(chunk)
      for (const c of pending.splice(0)) await write(c)
      onProgress({ received, ...(total ? { total } : {}) })
    }
    if (zstd) {
      zstd.push(new Uint8Array(0), true)
      for (const c of pending.splice(0)) await write(c)
    }
    if (total !== undefined && received !== total)
      throw new ImageFactoryError(`GET ${url}: got ${received} of ${total} bytes`)
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())))
    renameSync(part, file)
  } catch (e) {
    out.destroy()
    rmSync(part, { force: true })
    if (e instanceof ImageFactoryError) throw e
    throw new ImageFactoryError(`GET ${url}: ${(e as Error).message}`)
  }
}
