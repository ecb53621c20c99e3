// Atomic file writes for everything the runbooks store (reports, journals' companions): tmp + fsync + rename, so a
// reader or a Ctrl-C never sees half a file, and the file has its final mode from its first byte.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

/** Write `data` to `file` atomically with `mode` (default 0600: most of what the runbooks write is private). */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  mkdirSync(dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, data, { mode })
  const fd = openSync(tmp, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}
