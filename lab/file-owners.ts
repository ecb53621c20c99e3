// Owner and mode of paths on a simulated node. The lab runs unprivileged and cannot chown its sysroot, so what a
// filesystem creation or a chown/chmod on the node set is kept beside the sysroot (nodes/<name>/owners.json) and
// the lab's `talosctl ls -l` serves it in its MODE/UID/GID columns, as a real node's machined reports the inode's.
// A path with no record is what Talos creates: owned by root.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, posix } from 'node:path'
import { writeFileAtomic } from './state.ts'

export interface FileOwner {
  uid: number
  gid: number
  /** Octal permission bits, 4 digits ("0750"). */
  mode: string
}

/** nodes/<name>/owners.json for the sysroot nodes/<name>/root. */
export const ownersFile = (root: string) => join(dirname(root), 'owners.json')

const key = (path: string) => posix.normalize('/' + path).replace(/(.)\/$/, '$1')

function readOwners(root: string): Record<string, FileOwner> {
  const f = ownersFile(root)
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Record<string, FileOwner>) : {}
}

/** The recorded owner and mode of `path` (absolute on the node), if something set them. */
export function ownerOf(root: string, path: string): FileOwner | undefined {
  return readOwners(root)[key(path)]
}

/** Record a chown (uid, gid) and/or chmod (mode) of `path`; what is not given keeps its value (default root, 0755). */
export function setOwner(root: string, path: string, change: Partial<FileOwner>): void {
  const all = readOwners(root)
  const cur = all[key(path)] ?? { uid: 0, gid: 0, mode: '0755' }
  all[key(path)] = {
    ...cur,
    ...change,
    ...(change.mode ? { mode: change.mode.replace(/^0o/, '').padStart(4, '0').slice(-4) } : {}),
  }
  writeFileAtomic(ownersFile(root), JSON.stringify(all, null, 2) + '\n', 0o644)
}
