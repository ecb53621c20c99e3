// talosctl gen secrets / gen config (talosconfig output): real certificates from lab/pki.ts in the
// secrets-bundle layout of pkg/machinery/config/generate/secrets (yaml.v3 lower-cased field names, base64 PEM).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs'
import { randomBytes, randomInt } from 'node:crypto'
import { dirname } from 'node:path'
import { parse as parseYaml, stringify } from 'yaml'
import { generateCa, issueCert, b64, unb64 } from '../pki.ts'
import type { RunContext } from './context.ts'
import * as io from './io.ts'

export interface SecretsBundle {
  cluster: { id: string; secret: string }
  secrets: { bootstraptoken: string; secretboxencryptionsecret: string }
  trustdinfo: { token: string }
  certs: {
    etcd: { crt: string; key: string }
    k8s: { crt: string; key: string }
    k8saggregator: { crt: string; key: string }
    k8sserviceaccount: { key: string }
    os: { crt: string; key: string }
  }
}

/** Bootstrap-token format [a-z0-9]{6}.[a-z0-9]{16}, as Talos' genToken(6, 16). */
export function genToken(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  const pick = (n: number) => Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]).join('')
  return `${pick(6)}.${pick(16)}`
}

export function newSecretsBundle(): SecretsBundle {
  const pair = (c: { crt: string; key: string }) => ({ crt: b64(c.crt), key: b64(c.key) })
  const saKey = execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }).toString()
  return {
    cluster: { id: randomBytes(32).toString('base64url') + '=', secret: randomBytes(32).toString('base64') },
    secrets: { bootstraptoken: genToken(), secretboxencryptionsecret: randomBytes(32).toString('base64') },
    trustdinfo: { token: genToken() },
    certs: {
      etcd: pair(generateCa('etcd')),
      k8s: pair(generateCa('kubernetes')),
      k8saggregator: pair(generateCa('')),
      k8sserviceaccount: { key: b64(saKey) },
      os: pair(generateCa('talos', 'ed25519')),
    },
  }
}

export const toYaml = (v: unknown) => stringify(v, { indent: 4, indentSeq: true, lineWidth: 0 })

function checkOverwrite(file: string, force: boolean): void {
  if (!force && existsSync(file)) throw new Error(`file "${file}" already exists, use --force to overwrite`)
}

export async function genSecrets(ctx: RunContext): Promise<void> {
  const out = ctx.flags['output-file'] as string
  checkOverwrite(out, ctx.flags.force)
  const bundle = newSecretsBundle()
  writeFileSync(out, toYaml(bundle), { mode: 0o600 })
  chmodSync(out, 0o600)
}

export function loadSecretsBundle(file: string): SecretsBundle {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new Error(`failed to load secrets bundle: open ${file}: no such file or directory`)
  }
  const b = parseYaml(text) as SecretsBundle
  if (!b?.certs?.os?.crt || !b.certs.os.key)
    throw new Error(`failed to load secrets bundle: ${file}: certs.os is missing`)
  return b
}

/** A talosconfig with an os:admin client certificate signed by the bundle's OS CA. */
export function buildTalosconfig(
  clusterName: string,
  bundle: SecretsBundle,
  endpoints: string[],
  nodes: string[],
): string {
  const ca = { crt: unb64(bundle.certs.os.crt), key: unb64(bundle.certs.os.key) }
  const client = issueCert(ca, { cn: 'admin', org: ['os:admin'], usage: 'client', keyType: 'ed25519', days: 365 })
  return toYaml({
    context: clusterName,
    contexts: {
      [clusterName]: {
        endpoints,
        ...(nodes.length ? { nodes } : {}),
        ca: bundle.certs.os.crt,
        crt: b64(client.crt),
        key: b64(client.key),
      },
    },
  })
}

function validateEndpoint(endpoint: string): void {
  let u: URL
  try {
    u = new URL(endpoint)
  } catch {
    throw new Error(`no scheme and port specified for the cluster endpoint URL\ntry: "https://${endpoint}:6443"`)
  }
  if (u.protocol !== 'https:')
    throw new Error(`the control plane endpoint URL should have scheme https://\ntry: "https://${u.host}"`)
}

export async function genConfig(ctx: RunContext): Promise<void> {
  const [clusterName, endpoint] = ctx.args
  validateEndpoint(endpoint)
  const types = ctx.flags['output-types'] as string[]
  if (!types.length) throw new Error('at least one output type must be specified')
  const bad = types.filter((t) => !['controlplane', 'worker', 'talosconfig'].includes(t))
  if (bad.length) throw new Error(`1 error occurred:\n\t* invalid output type: "${bad[0]}"\n\n`)
  const unsupported = types.filter((t) => t !== 'talosconfig')
  if (unsupported.length)
    throw new Error(
      `lab talosctl: gen config --output-types ${unsupported.join(',')} is not implemented in the lab (render machine configs from templates/); use --output-types talosconfig`,
    )
  if (!ctx.flags['with-secrets'])
    throw new Error('lab talosctl: gen config needs --with-secrets (the lab does not generate throw-away PKI)')
  const bundle = loadSecretsBundle(ctx.flags['with-secrets'])
  const endpoints = ctx.global.endpoints.length ? ctx.global.endpoints : ['127.0.0.1']
  const data = buildTalosconfig(clusterName, bundle, endpoints, ctx.global.nodes)
  const out = (ctx.flags.output as string) || 'talosconfig'
  if (out === '-') {
    io.out(data)
    return
  }
  checkOverwrite(out, ctx.flags.force)
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, data, { mode: 0o600 })
  chmodSync(out, 0o600)
  io.err(`Created ${out}\n`)
}
