// SSH to a bare-metal host's rescue system (ssh2), with the host key pinned: a host whose key does not
// match the inventory's fingerprint is refused before any command runs, so a wrong machine is never written.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { createRequire } from 'node:module'
import type { Client, ConnectConfig } from 'ssh2'
import { log } from '../runner/log.ts'

/** ssh2, loaded on the first connection: only 01 and 12 reach a rescue system, and it costs every runbook's start. */
const newClient = (): Client => new (createRequire(import.meta.url)('ssh2') as typeof import('ssh2')).Client()

export class HostKeyMismatchError extends Error {
  constructor(
    readonly host: string,
    readonly expected: string,
    readonly seen: string,
  ) {
    super(
      `host key of ${host} is ${seen}, but the inventory pins ${expected}: refusing to connect (wrong machine, or re-installed rescue system?)`,
    )
  }
}

/** `SHA256:<base64 without padding>`, the form `ssh-keygen -lf` prints. */
export function fingerprintOf(hostKey: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(hostKey).digest('base64').replace(/=+$/, '')
}

interface SshTarget {
  host: string
  port: number
  user: string
  keyFile: string
  /** SHA256:... */
  fingerprint: string
  readyTimeoutMs?: number
}

/**
 * The host key a server presents, read in the key exchange before any authentication (the connection is dropped
 * there: nothing is sent that a wrong machine could use). Throws when the host cannot be reached.
 */
export function presentedHostKey(t: { host: string; port: number; readyTimeoutMs?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = newClient()
    let seen: string | undefined
    client
      .once('error', (e) => (seen ? resolve(seen) : reject(new Error(`ssh ${t.host}:${t.port}: ${e.message}`))))
      .connect({
        host: t.host,
        port: t.port,
        username: 'root',
        readyTimeout: t.readyTimeoutMs ?? 10000,
        hostVerifier: (key: Buffer) => {
          seen = fingerprintOf(key)
          return false
        },
      })
  })
}

interface ExecResult {
  stdout: string
  stderr: string
  code: number
}

export class RescueSession {
  private constructor(
    private readonly client: Client,
    readonly target: SshTarget,
  ) {}

  static connect(t: SshTarget): Promise<RescueSession> {
    return new Promise((resolve, reject) => {
      const client = newClient()
      let mismatch: HostKeyMismatchError | undefined
      const cfg: ConnectConfig = {
        host: t.host,
        port: t.port,
        username: t.user,
        privateKey: readFileSync(t.keyFile),
        readyTimeout: t.readyTimeoutMs ?? 10000,
        hostVerifier: (key: Buffer) => {
          const seen = fingerprintOf(key)
          if (seen === t.fingerprint) return true
          mismatch = new HostKeyMismatchError(`${t.host}:${t.port}`, t.fingerprint, seen)
          return false
        },
      }
      client
        .once('ready', () => resolve(new RescueSession(client, t)))
        .once('error', (e) => reject(mismatch ?? new Error(`ssh ${t.user}@${t.host}:${t.port}: ${e.message}`)))
        .connect(cfg)
    })
  }

  /** Run one command; stdin (if any) is streamed and closed. Prints the command as it runs. */
  exec(command: string, stdin?: Readable, onStdinBytes?: (n: number) => void): Promise<ExecResult> {
    log.cmd(`ssh ${this.target.user}@${this.target.host} -p ${this.target.port} ${command}`)
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, ch) => {
        if (err) return reject(new Error(`ssh ${this.target.host}: ${command}: ${err.message}`))
        let stdout = ''
        let stderr = ''
        ch.on('data', (d: Buffer) => (stdout += d.toString()))
        ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
        ch.once('close', (code: number | null) => resolve({ stdout, stderr, code: code ?? 255 }))
        if (stdin) {
          if (onStdinBytes) stdin.on('data', (b: Buffer) => onStdinBytes(b.length))
          stdin.once('error', (e) => reject(e))
          stdin.pipe(ch)
        } else {
          ch.end()
        }
      })
    })
  }

  async mustExec(command: string, stdin?: Readable, onStdinBytes?: (n: number) => void): Promise<string> {
    const r = await this.exec(command, stdin, onStdinBytes)
    if (r.code !== 0)
      throw new Error(`${this.target.host}: \`${command}\` exited ${r.code}: ${(r.stderr || r.stdout).trim()}`)
    return r.stdout
  }

  close(): void {
    this.client.end()
  }
}
