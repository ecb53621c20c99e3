// Label selectors (`-l`) and field selectors (spec.nodeName=..., metadata.name=...). Pure functions.
import { badRequest, type Obj } from './errors.ts'

type Req = { key: string; op: 'in' | 'notin' | 'exists' | '!exists' | '=' | '!='; values: string[] }

/** Split on commas that are not inside "in (a,b)". */
function splitTop(s: string): string[] {
  const out: string[] = []
  let depth = 0
  let cur = ''
  for (const ch of s) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) {
      out.push(cur)
      cur = ''
    } else cur += ch
  }
  if (cur.trim()) out.push(cur)
  return out.map((x) => x.trim()).filter(Boolean)
}

export function parseLabelSelector(sel: string): Req[] {
  return splitTop(sel).map((term) => {
    let m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term)
    if (m) return { key: m[1], op: m[2] as 'in', values: m[3].split(',').map((v) => v.trim()) }
    m = /^(\S+?)\s*(==|=|!=)\s*(\S*)$/.exec(term)
    if (m) return { key: m[1], op: m[2] === '!=' ? '!=' : '=', values: [m[3]] }
    if (/^!\S+$/.test(term)) return { key: term.slice(1), op: '!exists', values: [] }
    if (/^[\w./-]+$/.test(term)) return { key: term, op: 'exists', values: [] }
    throw badRequest(`unable to parse requirement: ${term}`)
  })
}

export function matchLabels(reqs: Req[], labels: Record<string, string> = {}): boolean {
  return reqs.every((r) => {
    const has = Object.hasOwn(labels, r.key)
    const v = labels[r.key]
    switch (r.op) {
      case 'exists':
        return has
      case '!exists':
        return !has
      case '=':
      case 'in':
        return has && r.values.includes(v)
      case '!=':
      case 'notin':
        return !has || !r.values.includes(v)
    }
  })
}

export function parseFieldSelector(sel: string): { path: string; neg: boolean; value: string }[] {
  return splitTop(sel).map((term) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term)
    if (!m) throw badRequest(`invalid selector: '${sel}'; can't understand '${term}'`)
    return { path: m[1], neg: m[2] === '!=', value: m[3] }
  })
}

export function matchFields(reqs: ReturnType<typeof parseFieldSelector>, obj: Obj): boolean {
  return reqs.every((r) => {
    const v = r.path.split('.').reduce<any>((c, p) => c?.[p], obj)
    const s = v === undefined || v === null ? '' : String(v)
    return r.neg ? s !== r.value : s === r.value
  })
}

/** A list/watch filter from the query string. */
export function objectFilter(q: URLSearchParams): (o: Obj) => boolean {
  const ls = q.get('labelSelector')
  const fs = q.get('fieldSelector')
  const lreq = ls ? parseLabelSelector(ls) : []
  const freq = fs ? parseFieldSelector(fs) : []
  return (o) => matchLabels(lreq, o.metadata?.labels) && matchFields(freq, o)
}
