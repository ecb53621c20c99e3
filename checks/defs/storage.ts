// The validator's ledger/accounts volumes: mounted where the inventory says, with the right filesystem, their data
// directories with the right owner and mode, and not filling up.
import { names, validatorNodes, type CheckInventory } from '../engine/inventory.ts'
import { bytes, expectEqual, fail, nodeValue, pass, warn, worded } from '../engine/results.ts'
import { defineCheck, type Result } from '../engine/types.ts'
import { storageDataDir } from '../../config/volume-data-dir.ts'

const targets = (inv: CheckInventory) => names(validatorNodes(inv))
const USED_WARN = 0.8
const USED_FAIL = 0.95

/** "0750" or "drwxr-x---" or 0o750 → "0750", so the inventory's octal and `ls -l`'s letters compare. */
export function octalMode(mode: string | number): string {
  if (typeof mode === 'number') return '0' + (mode & 0o7777).toString(8).padStart(3, '0')
  if (/^0?[0-7]{3,4}$/.test(mode)) return '0' + mode.replace(/^0(?=[0-7]{3,})/, '').padStart(3, '0')
  const m = /^[-dlcbps]?([-r][-w][-xsS])([-r][-w][-xsS])([-r][-w][-xtT])$/.exec(mode)
  if (!m) return mode
  const bits = (t: string) => (t[0] === 'r' ? 4 : 0) + (t[1] === 'w' ? 2 : 0) + (/[xst]/.test(t[2]!) ? 1 : 0)
  return '0' + bits(m[1]!) + bits(m[2]!) + bits(m[3]!)
}

/** `1000:1000 0750`, as `ls -ln` would show owner and mode. */
const ownerWords = (o: { uid: number; gid: number; mode: string }) => worded(o, `${o.uid}:${o.gid} ${o.mode}`)

export const storageMounts = defineCheck({
  id: 'storage.mounts',
  group: 'storage',
  title: 'validator volumes are mounted with the right filesystem and free space, their data dirs with owner and mode',
  targets,
  needs: ['storage'],
  evaluate: ({ storage }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const v = nodeValue(storage, node, 'storage.mounts', 'storage')
      if ('fail' in v) return [v.fail]
      return (inv.validator?.storage ?? []).flatMap((want): Result[] => {
        const t = `${node}/${want.name}`
        const seen = v.value.find((m) => m.mountPoint === want.mountPoint)
        if (!seen?.filesystem) {
          return [
            fail(
              'storage.mounts',
              t,
              null,
              worded(
                { mountPoint: want.mountPoint, filesystem: want.filesystem },
                `${want.filesystem} at ${want.mountPoint}`,
              ),
              `nothing is mounted at ${want.mountPoint} on ${node}`,
            ),
          ]
        }
        const out: Result[] = [
          expectEqual(
            'storage.mounts',
            `${t}/fs`,
            seen.filesystem,
            want.filesystem,
            `filesystem at ${want.mountPoint}`,
          ),
        ]
        // Owner and mode are judged on the data directory, never on the mount root: Talos resets the root to
        // root:root 0755 at every mount (config/volume-data-dir.ts cites the lines), so it says nothing of 05.
        const dir = storageDataDir(want)
        const wantedOwner = ownerWords({ uid: want.owner.uid, gid: want.owner.gid, mode: octalMode(want.mode) })
        out.push(
          seen.owner
            ? expectEqual(
                'storage.mounts',
                `${t}/owner`,
                ownerWords({ uid: seen.owner.uid, gid: seen.owner.gid, mode: octalMode(seen.owner.mode) }),
                wantedOwner,
                `owner and mode of ${dir}`,
              )
            : fail(
                'storage.mounts',
                `${t}/owner`,
                null,
                wantedOwner,
                seen.dataDirMissing
                  ? `${dir} does not exist on ${node}: run 05-storage-tuning to create it`
                  : `could not read the owner of ${dir} on ${node}`,
              ),
        )
        if (seen.sizeBytes && seen.availableBytes !== undefined) {
          const used = 1 - seen.availableBytes / seen.sizeBytes
          const sv = {
            sizeGiB: +(seen.sizeBytes / 2 ** 30).toFixed(1),
            availGiB: +(seen.availableBytes / 2 ** 30).toFixed(1),
            used: `${(used * 100).toFixed(1)}%`,
          }
          const shown = worded(sv, `${bytes(seen.sizeBytes - seen.availableBytes)} of ${bytes(seen.sizeBytes)}`)
          const wv = `used ≤ ${USED_WARN * 100}%`
          out.push(
            used > USED_FAIL
              ? fail('storage.mounts', `${t}/free`, shown, wv, `${want.mountPoint} is ${sv.used} full`)
              : used > USED_WARN
                ? warn('storage.mounts', `${t}/free`, shown, wv, `${want.mountPoint} is ${sv.used} full`)
                : pass('storage.mounts', `${t}/free`, shown, wv, `${sv.availGiB} GiB free of ${sv.sizeGiB} GiB`),
          )
        }
        // No free-space row when the API reports none (the lab's talosctl has no `mounts`): nothing to judge.
        return out
      })
    }),
})

export const storageChecks = [storageMounts]
