// Which machine configs this very talosctl binary has already passed with `validate --mode metal --strict`. The
// verdict is a pure function of the binary and the config's bytes, and a re-run of 02 with nothing to change
// renders the same configs again: asking again would only cost one talosctl process per node (about a second each
// on a busy 2-vCPU machine). A config, a binary or a talosctl update (another size or mtime) not seen before is
// validated as always.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { writeFileAtomic } from '../host/atomic-write.ts'

/** How many verdicts are kept: enough for every node of a large cluster through several changes. */
const KEEP = 2000

/** The binary's path, size and mtime, or undefined when it cannot be found (then nothing is cached). */
export function binaryIdentity(bin: string): string | undefined {
  const candidates = bin.includes('/') ? [bin] : (process.env.PATH ?? '').split(delimiter).map((d) => join(d, bin))
  const file = candidates.find((f) => f && existsSync(f))
  if (!file) return undefined
  const real = realpathSync(file)
  const st = statSync(real)
  return `${real}\0${st.size}\0${st.mtimeMs}`
}

export class ValidatedConfigs {
  private readonly keys: string[]

  constructor(
    private readonly file: string,
    private readonly binary: string,
  ) {
    let keys: unknown = []
    try {
      keys = JSON.parse(readFileSync(file, 'utf8'))
    } catch {
      // missing or damaged: every config is validated again
    }
    this.keys = Array.isArray(keys) ? keys.filter((k): k is string => typeof k === 'string') : []
  }

  private key(config: string): string {
    return createHash('sha256').update(this.binary).update('\0').update(config).digest('hex')
  }

  has(config: string): boolean {
    return this.keys.includes(this.key(config))
  }

  add(config: string): void {
    const k = this.key(config)
    if (!this.keys.includes(k)) this.keys.push(k)
  }

  save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.keys.slice(-KEEP)) + '\n', 0o600)
  }
}
