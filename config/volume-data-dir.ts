// The validator's data directory inside a user volume (validator.storage[].dataDir), which the inventory's owner and
// mode apply to. Not the mount root: Talos v1.10.3 gives every user volume MountSpec{FileMode: 0o755, UID: 0, GID: 0}
// (internal/app/machined/pkg/controllers/block/user_volume_config.go:160-167) and re-applies it after every mount
// (mount.go:487 → updateTargetSettings: chmod at :406, chown at :417-425 when the owner differs, not recursive for
// user volumes), so the root is root:root 0755 again after each reboot or upgrade, while a directory below it keeps
// the owner and mode 05-storage-tuning set.

/** The data directory of a volume: its dataDir, or <mountPoint>/data. */
export const storageDataDir = (s: { mountPoint: string; dataDir?: string }): string =>
  s.dataDir ?? `${s.mountPoint}/data`

/** What is wrong with a dataDir: a path strictly below mountPoint, plain names only (05's pod puts it in `sh -c`). */
export function dataDirProblem(dataDir: string, mountPoint: string): string | undefined {
  if (!dataDir.startsWith(mountPoint + '/'))
    return `must be a directory strictly below mountPoint ${mountPoint} (Talos resets the mount root to root:root 0755 at every mount)`
  const rest = dataDir.slice(mountPoint.length + 1).split('/')
  if (rest.some((seg) => seg === '.' || seg === '..' || !/^[A-Za-z0-9._-]+$/.test(seg)))
    return 'must be a plain path below mountPoint: names of letters, digits, ".", "_" and "-", no "..", "." or "//"'
  return undefined
}
