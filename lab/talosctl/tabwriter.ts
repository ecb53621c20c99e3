// Go's text/tabwriter (minwidth 0, tabwidth 0, padding 3, padchar ' ', no flags), which talosctl prints every
// table with: a cell ends at a tab; the text after a line's last tab is not part of any column; column widths are
// computed per block of consecutive lines that have that column.

export function tabwrite(text: string, padding = 3): string {
  const raw = text.split('\n')
  const trailingNewline = text.endsWith('\n')
  if (trailingNewline) raw.pop()
  const lines = raw.map((l) => l.split('\t'))
  const out: string[] = lines.map(() => '')
  const widths: number[] = []
  const len = (s: string) => [...s].length

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const line = lines[i]
      let s = ''
      line.forEach((c, j) => {
        s += c
        if (j < widths.length) s += ' '.repeat(Math.max(0, widths[j] - len(c)))
      })
      out[i] = s
    }
  }

  const format = (line0: number, line1: number) => {
    const column = widths.length
    for (let cur = line0; cur < line1; cur++) {
      if (column >= lines[cur].length - 1) continue
      writeLines(line0, cur)
      line0 = cur
      let width = 0
      for (; cur < line1; cur++) {
        const line = lines[cur]
        if (column >= line.length - 1) break
        width = Math.max(width, len(line[column]) + padding)
      }
      widths.push(width)
      format(line0, cur)
      widths.pop()
      line0 = cur
      cur-- // the for-loop increment would skip the line that ended the block
    }
    writeLines(line0, line1)
  }

  format(0, lines.length)
  return out.join('\n') + (trailingNewline ? '\n' : '')
}

/** Rows of cells → tabwriter text, one line per row ("a\tb\n" per row, as Fprintf with a pattern). */
export function table(rows: (string | number | boolean)[][]): string {
  return tabwrite(rows.map((r) => r.map(String).join('\t') + '\n').join(''))
}
