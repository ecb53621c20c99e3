// Parsing what an operator sends to the lab rescue system over SSH (`SSH_ORIGINAL_COMMAND`) into the small
// set of operations the simulated rescue system implements. Pure: no I/O, unit-tested.
//
// Supported, as a Debian rescue system's /bin/sh would run them (sequences with `&&` and `;` too):
//   uname [-a|-r|-n|-m|-s]      cat /etc/os-release        lsblk -b -J -o NAME,SIZE,MODEL,SERIAL,TYPE
//   dd of=/dev/X [bs=4M ...]    cat > /dev/X               zstd -dc | dd of=/dev/X ...
//   sha256sum /dev/X            head -c N /dev/X | sha256sum
//   sync                        reboot

export type RescueOp =
  | { kind: 'uname'; flags: string[] }
  | { kind: 'cat'; path: string }
  | { kind: 'lsblk'; columns: string[]; json: boolean; bytes: boolean }
  | { kind: 'write'; dev: string; tool: 'dd' | 'cat'; blockSize: number; quiet: boolean; decompress?: 'zstd' }
  | { kind: 'sha256'; dev: string; limit?: number }
  | { kind: 'sync' }
  | { kind: 'reboot' }
  | { kind: 'true' }
  /** What sh/the tool prints and exits with for something the rescue system can't do. */
  | { kind: 'fail'; stderr: string; code: number }

export interface Step {
  op: RescueOp
  /** How this step is joined to the previous one. */
  after: 'start' | '&&' | ';'
  text: string
}

export const LSBLK_COLUMNS = ['NAME', 'SIZE', 'MODEL', 'SERIAL', 'TYPE'] as const

const notFound = (word: string): RescueOp => ({ kind: 'fail', stderr: `sh: 1: ${word}: not found\n`, code: 127 })

/** Split on whitespace honouring '...' and "..." quotes; operators | && ; > come out as their own tokens. */
export function tokenize(line: string): string[] {
  const out: string[] = []
  let cur = ''
  let has = false
  const push = () => {
    if (has) out.push(cur)
    cur = ''
    has = false
  }
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1)
      if (end < 0) throw new SyntaxError(`sh: 1: Syntax error: Unterminated quoted string`)
      cur += line.slice(i + 1, end)
      has = true
      i = end
    } else if (/\s/.test(c)) {
      push()
    } else if (c === '|' || c === ';' || c === '>' || c === '<' || (c === '&' && line[i + 1] === '&')) {
      push()
      if (c === '&') {
        out.push('&&')
        i++
      } else if (c === '|' && line[i + 1] === '|') {
        out.push('||')
        i++
      } else out.push(c)
    } else {
      cur += c
      has = true
    }
  }
  push()
  return out
}

/** dd's block size syntax: N, NK/NM/NG (powers of 1024), NkB/NMB/NGB (powers of 1000), Nc, Nw, Nb. */
export function parseDdSize(s: string): number | undefined {
  const m = /^(\d+)(c|w|b|K|k|KiB|kB|KB|M|MiB|MB|G|GiB|GB)?$/.exec(s)
  if (!m) return undefined
  const mult: Record<string, number> = {
    c: 1,
    w: 2,
    b: 512,
    K: 1024,
    k: 1024,
    KiB: 1024,
    kB: 1000,
    KB: 1000,
    M: 1024 ** 2,
    MiB: 1024 ** 2,
    MB: 1e6,
    G: 1024 ** 3,
    GiB: 1024 ** 3,
    GB: 1e9,
  }
  const n = Number(m[1]) * (m[2] ? mult[m[2]]! : 1)
  return n > 0 ? n : undefined
}

function parseDd(args: string[], decompress?: 'zstd'): RescueOp {
  let dev: string | undefined
  let blockSize = 512
  let quiet = false
  for (const a of args) {
    const eq = a.indexOf('=')
    if (eq < 0)
      return {
        kind: 'fail',
        stderr: `dd: unrecognized operand '${a}'\nTry 'dd --help' for more information.\n`,
        code: 1,
      }
    const [k, v] = [a.slice(0, eq), a.slice(eq + 1)]
    switch (k) {
      case 'of':
        dev = v
        break
      case 'if':
        if (v !== '/dev/stdin' && v !== '-')
          return { kind: 'fail', stderr: `dd: failed to open '${v}': No such file or directory\n`, code: 1 }
        break
      case 'bs':
      case 'obs':
      case 'ibs': {
        const n = parseDdSize(v)
        if (n === undefined) return { kind: 'fail', stderr: `dd: invalid number: '${v}'\n`, code: 1 }
        blockSize = n
        break
      }
      case 'status':
        if (!['none', 'noxfer', 'progress'].includes(v))
          return { kind: 'fail', stderr: `dd: invalid status level: '${v}'\n`, code: 1 }
        quiet = v === 'none'
        break
      case 'conv':
      case 'oflag':
      case 'iflag':
        break // fsync, direct, fullblock...: no effect on a simulated disk
      default:
        return {
          kind: 'fail',
          stderr: `dd: unrecognized operand '${a}'\nTry 'dd --help' for more information.\n`,
          code: 1,
        }
    }
  }
  // dd without of= copies to stdout: never what an install wants, and nothing the lab simulates
  if (!dev)
    return { kind: 'fail', stderr: `lab rescue: dd without of= (writing to stdout) is not supported\n`, code: 1 }
  return { kind: 'write', dev, tool: 'dd', blockSize, quiet, decompress }
}

function parseLsblk(args: string[]): RescueOp {
  let columns: string[] = ['NAME', 'MAJ:MIN', 'RM', 'SIZE', 'RO', 'TYPE', 'MOUNTPOINTS']
  let json = false
  let bytes = false
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '-o' || a === '--output') {
      const v = args[++i]
      if (!v) return { kind: 'fail', stderr: `lsblk: option requires an argument -- 'o'\n`, code: 1 }
      columns = v.split(',').map((c) => c.toUpperCase())
    } else if (a.startsWith('--output='))
      columns = a
        .slice(9)
        .split(',')
        .map((c) => c.toUpperCase())
    else if (/^-[bJd]+$/.test(a)) {
      json ||= a.includes('J')
      bytes ||= a.includes('b')
    } else if (a === '--json') json = true
    else if (a === '--bytes') bytes = true
    else if (a === '--nodeps') continue
    else return { kind: 'fail', stderr: `lsblk: ${a}: not a block device\n`, code: 32 }
  }
  const unknown = columns.find((c) => !(LSBLK_COLUMNS as readonly string[]).includes(c))
  if (unknown)
    return {
      kind: 'fail',
      stderr: `lab rescue: lsblk column ${unknown} is not simulated (use ${LSBLK_COLUMNS.join(',')})\n`,
      code: 1,
    }
  return { kind: 'lsblk', columns, json, bytes }
}

/** One simple command or pipeline (tokens between && / ;). */
export function parsePipeline(tokens: string[]): RescueOp {
  const parts: string[][] = [[]]
  for (const t of tokens) {
    if (t === '|') parts.push([])
    else parts[parts.length - 1]!.push(t)
  }
  if (parts.some((p) => p.length === 0))
    return { kind: 'fail', stderr: `sh: 1: Syntax error: "|" unexpected\n`, code: 2 }
  const unknown = parts.map((p) => p[0]!).find((w) => !KNOWN.has(w))
  if (unknown) return notFound(unknown)

  if (parts.length === 2) {
    const [a, b] = parts as [string[], string[]]
    // head -c N /dev/X | sha256sum: checksum exactly what was written (steps/install-image.ts verifies this way)
    if (a[0] === 'head' && b.length === 1 && b[0] === 'sha256sum') {
      const m = a.length === 4 && a[1] === '-c' ? a : undefined
      const limit = m ? Number(m[2]) : NaN
      if (!m || !Number.isInteger(limit) || limit < 0)
        return { kind: 'fail', stderr: `lab rescue: only \`head -c BYTES /dev/X | sha256sum\` is simulated\n`, code: 1 }
      return { kind: 'sha256', dev: m[3]!, limit }
    }
    if ((a[0] === 'zstd' || a[0] === 'zstdcat') && b[0] === 'dd') {
      const flags = a.slice(1)
      const decompressing = a[0] === 'zstdcat' || flags.some((f) => /^-[a-zA-Z0-9]*d/.test(f) || f === '--decompress')
      const ok = flags.every((f) => /^-[dcqT0-9]+$/.test(f) || ['--decompress', '--stdout', '--quiet'].includes(f))
      if (!decompressing || !ok)
        return { kind: 'fail', stderr: `lab rescue: only \`zstd -dc | dd of=/dev/X ...\` is simulated\n`, code: 1 }
      return parseDd(b.slice(1), 'zstd')
    }
    return { kind: 'fail', stderr: `lab rescue: this pipeline is not simulated: ${tokens.join(' ')}\n`, code: 2 }
  }
  if (parts.length > 2)
    return { kind: 'fail', stderr: `lab rescue: this pipeline is not simulated: ${tokens.join(' ')}\n`, code: 2 }

  const [cmd, ...args] = parts[0]!
  switch (cmd) {
    case 'uname': {
      const bad = args.find((a) => !/^-[asnrvmpio]+$/.test(a))
      if (bad)
        return {
          kind: 'fail',
          stderr: `uname: extra operand '${bad}'\nTry 'uname --help' for more information.\n`,
          code: 1,
        }
      return { kind: 'uname', flags: args.flatMap((a) => [...a.slice(1)]) }
    }
    case 'cat': {
      if (args[0] === '>' && args.length === 2)
        return { kind: 'write', dev: args[1]!, tool: 'cat', blockSize: 0, quiet: true }
      if (args.length !== 1 || args[0]!.startsWith('-') || args.includes('>') || args.includes('<'))
        return { kind: 'fail', stderr: `lab rescue: only \`cat FILE\` and \`cat > /dev/X\` are simulated\n`, code: 1 }
      return { kind: 'cat', path: args[0]! }
    }
    case 'lsblk':
      return parseLsblk(args)
    case 'dd':
      return parseDd(args)
    case 'sha256sum':
      if (args.length !== 1 || args[0]!.startsWith('-'))
        return { kind: 'fail', stderr: `lab rescue: only \`sha256sum /dev/X\` is simulated\n`, code: 1 }
      return { kind: 'sha256', dev: args[0]! }
    case 'sync':
      return { kind: 'sync' }
    case 'reboot':
      return { kind: 'reboot' }
    case 'true':
      return { kind: 'true' }
    case 'head':
    case 'zstd':
    case 'zstdcat':
      return {
        kind: 'fail',
        stderr: `lab rescue: \`${cmd}\` is only simulated inside the pipelines listed in lab/rescue/parse.ts\n`,
        code: 1,
      }
  }
  return notFound(cmd!)
}

const KNOWN = new Set(['uname', 'cat', 'lsblk', 'dd', 'sha256sum', 'head', 'zstd', 'zstdcat', 'sync', 'reboot', 'true'])

/** A whole command line: pipelines joined by `&&` and `;`. */
export function parseCommandLine(line: string): Step[] {
  let tokens: string[]
  try {
    tokens = tokenize(line)
  } catch (e) {
    return [{ op: { kind: 'fail', stderr: `${(e as Error).message}\n`, code: 2 }, after: 'start', text: line }]
  }
  const steps: Step[] = []
  let cur: string[] = []
  let after: Step['after'] = 'start'
  const flush = (next: Step['after'], op: string) => {
    if (cur.length === 0) {
      if (op === ';' && steps.length > 0) return // trailing ;
      steps.push({
        op: { kind: 'fail', stderr: `sh: 1: Syntax error: "${op}" unexpected\n`, code: 2 },
        after,
        text: op,
      })
    } else steps.push({ op: parsePipeline(cur), after, text: cur.join(' ') })
    cur = []
    after = next
  }
  for (const t of tokens) {
    if (t === '&&' || t === ';') flush(t, t)
    else if (t === '||') {
      return [
        { op: { kind: 'fail', stderr: `lab rescue: \`||\` is not simulated\n`, code: 2 }, after: 'start', text: line },
      ]
    } else cur.push(t)
  }
  if (cur.length > 0) flush(';', 'end')
  return steps
}
