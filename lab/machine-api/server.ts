// The machine model's side of the clean interface to lab/talos-api (the Go server that speaks Talos's gRPC API with
// Talos's own types): POST /api/nodes and POST /api/node/<name>/<op>, JSON in, JSON out. An error is a non-200 answer
// {code, message} with a gRPC code name; talos-api returns it to talosctl as that status.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { loadNode } from '../state.ts'
import { modelNodes, NODE_OPS, ModelError } from './ops.ts'

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  return text === '' ? {} : JSON.parse(text)
}

function answer(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(value))
}

/** Whether this request is for the machine API (and was answered). */
export function serveMachineApi(req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? ''
  if (!url.startsWith('/api/')) return false
  void (async () => {
    try {
      const args = await body(req)
      if (url === '/api/nodes') return answer(res, 200, modelNodes())
      const m = /^\/api\/node\/([^/]+)\/([A-Za-z]+)$/.exec(url)
      const op = m ? NODE_OPS[m[2]!] : undefined
      if (!m || !op) return answer(res, 404, { code: 'Unimplemented', message: `lab machine model: no ${url}` })
      answer(res, 200, await op(loadNode(decodeURIComponent(m[1]!)), args as Record<string, unknown>))
    } catch (e) {
      if (e instanceof ModelError) return answer(res, 422, { code: e.code, message: e.message })
      answer(res, 500, { code: 'Internal', message: (e as Error).stack ?? String(e) })
    }
  })()
  return true
}
