// The subset of CEL that UserVolumeConfig disk selectors use, evaluated against a lab disk as Talos evaluates
// provisioning.diskSelector.match against each Disk resource (pkg/machinery/cel/celenv/celenv.go DiskLocator:
// `disk` is the disk's spec, `system_disk` whether Talos is installed on it): disk.model/serial/wwid/transport/
// dev_path/size/rotational, ==, !=, <, <=, >, >=, !, &&, ||, ( ), numbers with a u suffix times a unit constant.
import type { LabDisk } from './state.ts'

type Tok = { t: 'id' | 'str' | 'op' | 'lp' | 'rp' | 'not' | 'num'; v: string }

function tokenize(expr: string): Tok[] {
  const out: Tok[] = []
  let i = 0
  while (i < expr.length) {
    const ch = expr[i]
    if (/\s/.test(ch)) {
      i++
      continue
    }
    if (ch === '"' || ch === "'") {
      const q = ch
      let j = i + 1
      let s = ''
      while (j < expr.length && expr[j] !== q) {
        if (expr[j] === '\\') j++
        s += expr[j]
        j++
      }
      if (j >= expr.length) throw new Error(`unterminated string in ${JSON.stringify(expr)}`)
      out.push({ t: 'str', v: s })
      i = j + 1
      continue
    }
    const two = expr.slice(i, i + 2)
    if (['==', '!=', '&&', '||', '>=', '<='].includes(two)) {
      out.push({ t: 'op', v: two })
      i += 2
      continue
    }
    if (ch === '>' || ch === '<') {
      out.push({ t: 'op', v: ch })
      i++
      continue
    }
    if (ch === '!') {
      out.push({ t: 'not', v: ch })
      i++
      continue
    }
    if (ch === '(') {
      out.push({ t: 'lp', v: ch })
      i++
      continue
    }
    if (ch === ')') {
      out.push({ t: 'rp', v: ch })
      i++
      continue
    }
    const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(expr.slice(i))
    if (m) {
      out.push({ t: 'id', v: m[0] })
      i += m[0].length
      continue
    }
    const n = /^[0-9]+(u)?(\s*\*\s*[A-Za-z.0-9]+)?/.exec(expr.slice(i))
    if (n) {
      out.push({ t: 'num', v: n[0] })
      i += n[0].length
      continue
    }
    throw new Error(`unsupported character ${JSON.stringify(ch)} in disk selector ${JSON.stringify(expr)}`)
  }
  return out
}

export interface DiskFacts {
  disk: LabDisk
  systemDisk: boolean
}

function diskField(d: LabDisk, name: string): string | number | boolean {
  const f = name.replace(/^disk\./, '')
  switch (f) {
    case 'model':
      return d.model
    case 'serial':
      return d.serial
    case 'transport':
      return d.transport
    case 'rotational':
      return d.rotational
    case 'wwid':
      return d.wwid ?? ''
    case 'dev_path':
      return d.dev
    case 'size':
      return d.sizeBytes
    default:
      throw new Error(`unsupported disk selector field ${name}`)
  }
}

/** Evaluate a UserVolumeConfig diskSelector (a CEL subset) against one disk. */
export function matchDiskSelector(expr: string, facts: DiskFacts): boolean {
  const toks = tokenize(expr)
  let p = 0
  const peek = () => toks[p]
  const value = (): string | number | boolean => {
    const t = toks[p++]
    if (!t) throw new Error(`disk selector ${JSON.stringify(expr)} ends early`)
    if (t.t === 'str') return t.v
    if (t.t === 'num') {
      const mm = /^([0-9]+)u?(?:\s*\*\s*([A-Za-z.0-9]+))?$/.exec(t.v)!
      // the unit constants Talos declares for disk selectors (pkg/machinery/cel/celenv/celenv.go unitMultipliers)
      const units: Record<string, number> = {
        KiB: 1024,
        MiB: 1024 ** 2,
        GiB: 1024 ** 3,
        TiB: 1024 ** 4,
        PiB: 1024 ** 5,
        kB: 1e3,
        MB: 1e6,
        GB: 1e9,
        TB: 1e12,
        PB: 1e15,
      }
      return Number(mm[1]) * (mm[2] ? (units[mm[2]] ?? NaN) : 1)
    }
    if (t.t === 'id') {
      if (t.v === 'system_disk') return facts.systemDisk
      if (t.v === 'true' || t.v === 'false') return t.v === 'true'
      return diskField(facts.disk, t.v)
    }
    throw new Error(`unexpected ${t.v} in disk selector ${JSON.stringify(expr)}`)
  }
  const unary = (): boolean => {
    const t = peek()
    if (t?.t === 'not') {
      p++
      return !unary()
    }
    if (t?.t === 'lp') {
      p++
      const v = or()
      if (peek()?.t !== 'rp') throw new Error(`missing ) in disk selector ${JSON.stringify(expr)}`)
      p++
      return v
    }
    const left = value()
    const op = peek()
    if (op?.t === 'op' && !['&&', '||'].includes(op.v)) {
      p++
      const right = value()
      switch (op.v) {
        case '==':
          return left === right
        case '!=':
          return left !== right
        case '>':
          return Number(left) > Number(right)
        case '<':
          return Number(left) < Number(right)
        case '>=':
          return Number(left) >= Number(right)
        case '<=':
          return Number(left) <= Number(right)
      }
    }
    return Boolean(left)
  }
  const and = (): boolean => {
    let v = unary()
    while (peek()?.t === 'op' && peek().v === '&&') {
      p++
      const r = unary()
      v = v && r
    }
    return v
  }
  const or = (): boolean => {
    let v = and()
    while (peek()?.t === 'op' && peek().v === '||') {
      p++
      const r = and()
      v = v || r
    }
    return v
  }
  const result = or()
  if (p !== toks.length) throw new Error(`unexpected ${toks[p].v} in disk selector ${JSON.stringify(expr)}`)
  return result
}
