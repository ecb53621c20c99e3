// Plain aligned columns, as kubectl and talosctl print them (Go's tabwriter, 3 spaces of padding): one line per
// row, no borders, no rules. When the lines would be wider than the terminal, the widest column is cut (with …)
// until they fit, so one long value cannot push every row onto two lines.

const COLUMN_GAP = 3
/** What `width` is when stdout is not a terminal (a pipe, a CI log): wide enough to read, narrow enough to diff. */
const DEFAULT_WIDTH = 120
/** A column is never cut narrower than this (or its header). */
const MIN_COLUMN = 8

/** The terminal's width when `stream` is one, else DEFAULT_WIDTH. */
export function terminalWidth(stream: { isTTY?: boolean; columns?: number } = process.stdout): number {
  return stream.isTTY && stream.columns ? stream.columns : DEFAULT_WIDTH
}

/** Length in characters (code points), which is what the terminal shows for the text we print. */
export const textWidth = (s: string): number => [...s].length

/** `s` cut to `width` characters, the last one an ellipsis when something was cut. */
export function cut(s: string, width: number): string {
  const chars = [...s]
  if (chars.length <= width) return s
  return width <= 0 ? '' : chars.slice(0, width - 1).join('') + '…'
}

/**
 * `s` cut to `width` characters by taking out its middle (`net.core…_default`): for names whose start and end both
 * tell them apart, such as sysctl keys.
 */
export function cutMiddle(s: string, width: number): string {
  const chars = [...s]
  if (chars.length <= width) return s
  if (width <= 1) return width === 1 ? '…' : ''
  const tail = Math.floor((width - 1) / 2)
  const head = width - 1 - tail
  return chars.slice(0, head).join('') + '…' + chars.slice(chars.length - tail).join('')
}

/** Column widths that fit `maxWidth`: the widest column is narrowed first, down to the next widest, and so on. */
export function fitWidths(natural: number[], minimum: number[], maxWidth: number): number[] {
  const w = [...natural]
  const total = () => w.reduce((a, b) => a + b, 0) + COLUMN_GAP * Math.max(0, w.length - 1)
  while (total() > maxWidth) {
    const cuttable = w.map((_, i) => i).filter((i) => w[i]! > minimum[i]!)
    if (cuttable.length === 0) break
    const widest = cuttable.reduce((a, b) => (w[b]! > w[a]! ? b : a))
    const next = Math.max(0, ...w.filter((_, i) => i !== widest))
    // down to the next widest column at most, so ties are cut in turn; at least 1 so the loop ends
    const down = Math.max(1, Math.min(total() - maxWidth, w[widest]! - Math.max(next, minimum[widest]!)))
    w[widest] = Math.max(minimum[widest]!, w[widest]! - down)
  }
  return w
}

interface ColumnOptions {
  /** Maximum line width; Infinity prints every cell uncut. */
  width: number
  /** Columns cut only when cutting every other one to its minimum is not enough (names that identify a row). */
  keep?: number[]
  /** Decorate a cell after padding (colour): gets the row index (-1 for the header), column index and padded text. */
  paint?: (row: number, col: number, padded: string) => string
}

/** Header and rows as aligned lines; the last column is not padded (no trailing spaces). */
export function formatColumns(header: string[], rows: string[][], opts: ColumnOptions): string[] {
  const all = [header, ...rows]
  const natural = header.map((_, c) => Math.max(...all.map((r) => textWidth(r[c] ?? ''))))
  const minimum = header.map((h, c) => Math.min(natural[c]!, Math.max(MIN_COLUMN, textWidth(h))))
  const kept = minimum.map((m, c) => (opts.keep?.includes(c) ? natural[c]! : m))
  const widths = Number.isFinite(opts.width)
    ? fitWidths(fitWidths(natural, kept, opts.width), minimum, opts.width)
    : natural
  return all.map((r, ri) =>
    header
      .map((_, c) => {
        const text = cut(r[c] ?? '', widths[c]!)
        const padded = c === header.length - 1 ? text : text + ' '.repeat(widths[c]! - textWidth(text))
        return opts.paint ? opts.paint(ri - 1, c, padded) : padded
      })
      .join(' '.repeat(COLUMN_GAP))
      .trimEnd(),
  )
}
