// Source positions for values in a parsed YAML document, so validation errors (from ajv, or our own rules)
// can say `file:line:col` instead of a JSON pointer. Works on the `yaml` package's Document nodes, whose
// `range` holds byte offsets; a LineCounter turns those into 1-based line/column.
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  parseDocument,
  visit,
  type Document,
  type Node,
} from 'yaml'

export type PathSeg = string | number
interface Pos {
  line: number
  column: number
}

export interface ParsedYaml {
  doc: Document.Parsed
  lines: LineCounter
}

/** Parse one YAML document, keeping what positions need. Syntax errors stay on `doc.errors`. */
export function parseWithPositions(text: string): ParsedYaml {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, keepSourceTokens: true, prettyErrors: false, uniqueKeys: true })
  return { doc, lines }
}

/** yaml's alias-expansion limit ("billion laughs"): what an operator is told, with what to do instead. */
export const ALIAS_BOMB = {
  message:
    'YAML aliases expand to more values than yaml allows (it stops there to protect against a "billion laughs" file)',
  fix: 'write the values out instead of repeating anchors (&) and aliases (*)',
}

/**
 * Where the first alias is when turning the documents into values exceeds yaml's alias limit (toJS throws "Excessive
 * alias count ..."), else undefined. Every later toJS of these documents is then safe.
 */
export function aliasBombAt(docs: Document.Parsed[], lines: LineCounter): Pos | undefined {
  for (const d of docs) {
    try {
      d.toJS()
    } catch (e) {
      if (!/alias/i.test((e as Error).message)) throw e
      let at = 0
      visit(d, {
        Alias(_, node) {
          at = node.range?.[0] ?? 0
          return visit.BREAK
        },
      })
      return posAt(lines, at)
    }
  }
  return undefined
}

/** All documents of a multi-document stream, sharing one LineCounter. */
export function parseAllWithPositions(text: string): { docs: Document.Parsed[]; lines: LineCounter } {
  const lines = new LineCounter()
  const docs = parseAllDocuments(text, {
    lineCounter: lines,
    keepSourceTokens: true,
    prettyErrors: false,
    uniqueKeys: true,
  })
  return { docs: Array.isArray(docs) ? docs : [], lines }
}

const posAt = (lines: LineCounter, offset: number): Pos => {
  const p = lines.linePos(offset)
  return { line: p.line, column: p.col }
}

/** `/nodes/3/address` (ajv instancePath, RFC 6901) → ['nodes', 3, 'address'] */
export function pointerToPath(pointer: string): PathSeg[] {
  if (!pointer) return []
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s))
}

/** ['nodes', 3, 'address'] → `nodes[3].address`; keys that are not identifiers are quoted: sysctls["vm.swappiness"]. */
export function formatPath(path: PathSeg[]): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg
    else out += `[${JSON.stringify(seg)}]`
  }
  return out
}

/** Dotted form for lint findings: machine.sysctls.vm.max_map_count, machine.files[0].path */
export function formatDotted(path: PathSeg[]): string {
  let out = ''
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg
  return out
}

interface Located {
  node: Node | null
  /** The map key's node, when the last segment was a map key. */
  key: Node | null
  /** How many segments resolved. */
  depth: number
}

function locate(root: Node | null, path: PathSeg[]): Located {
  let node: Node | null = root
  let key: Node | null = null
  let depth = 0
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg))
      if (!pair) break
      key = pair.key as Node
      node = (pair.value as Node | null) ?? null
      if (node === null) {
        depth++
        break
      }
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined
      if (!item) break
      key = null
      node = item
    } else break
    depth++
  }
  return { node, key, depth }
}

/**
 * Where `path` is in the document: the key of a map entry (that is where an editor's eye goes for
 * "nodes[3].address: ..."), or the item of a list. A path that does not exist (a missing required
 * property) resolves to the deepest ancestor that does.
 */
export function positionOf(
  parsed: { doc: Document; lines: LineCounter },
  path: PathSeg[],
  prefer: 'key' | 'value' = 'key',
): Pos {
  const { node, key } = locate(parsed.doc.contents as Node | null, path)
  const target = prefer === 'key' ? (key ?? node) : (node ?? key)
  const range = target?.range ?? (parsed.doc.contents as Node | null)?.range
  return range ? posAt(parsed.lines, range[0]) : { line: 1, column: 1 }
}

type YamlErr = {
  code?: string
  message?: string
  pos: [number, number]
  linePos?: [{ line: number; col: number }] | [{ line: number; col: number }, { line: number; col: number }]
}

/**
 * Position of a YAML parse error. An unclosed quote is reported where the parser gave up (often the end of the
 * file); with the text at hand, point at the quote that was opened instead: that is the line the operator must fix.
 */
export function errorPosition(lines: LineCounter, err: YamlErr, text?: string): Pos {
  const quote = err.code === 'MISSING_CHAR' ? /Missing closing (["'])quote/.exec(err.message ?? '')?.[1] : undefined
  if (quote && text !== undefined) {
    const opened = openingQuoteBefore(text, err.pos[0], quote)
    if (opened >= 0) return posAt(lines, opened)
  }
  if (err.linePos?.[0]) return { line: err.linePos[0].line, column: err.linePos[0].col }
  return posAt(lines, err.pos[0])
}

/** The last `quote` before `end` that starts a scalar (after ": ", "- ", "[", "{", "," or at a line start). */
function openingQuoteBefore(text: string, end: number, quote: string): number {
  for (let i = Math.min(end, text.length) - 1; i >= 0; i--) {
    if (text[i] !== quote) continue
    let j = i - 1
    while (j >= 0 && text[j] === ' ') j--
    if (j < 0 || /[:\-[{,\n]/.test(text[j]!)) return i
  }
  return -1
}
