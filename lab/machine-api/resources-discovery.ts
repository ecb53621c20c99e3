// DiscoveredVolumes (pkg/machinery/resources/block/discovered_volume.go): what blkid finds on each disk and on the
// user volume partitions Talos made; `name` is the signature: "gpt" for a partitioned disk, a filesystem, or "" for a
// blank one. The minimum 05 needs: the system disk's own partitions are not listed. The YAML key of the device path
// is `dev_dath` in v1.10 (the spec's tag has that typo).
import type { LabNode } from '../state.ts'
import { provisionUserVolumes } from '../volumes.ts'
import { humanizeBytes } from './humanize.ts'
import type { ModelResource } from './model-resource.ts'
import { runningConfig } from './running-config.ts'

const OWNER = 'block.DiscoveryController'

export function discoveredVolumes(n: LabNode): ModelResource[] {
  const c = runningConfig(n)
  const installDisk = n.installDisk ?? c?.view.installDisk
  const placed = c ? provisionUserVolumes(c.view.userVolumes, n.hardware.disks, installDisk) : []
  return [...n.hardware.disks]
    .sort((a, b) => (a.dev < b.dev ? -1 : 1))
    .flatMap((d) => {
      const id = d.dev.replace('/dev/', '')
      const parts = placed.filter((v) => v.phase === 'ready' && v.parentLocation === d.dev)
      const name = d.dev === installDisk || parts.length ? 'gpt' : (d.signature ?? '')
      const disk: ModelResource = {
        id,
        owner: OWNER,
        spec: {
          dev_dath: d.dev,
          type: 'disk',
          device_path: `/sys/devices/virtual/block/${id}`,
          size: d.sizeBytes,
          pretty_size: humanizeBytes(d.sizeBytes),
          sector_size: 512,
          io_size: 512,
          name,
        },
      }
      return [
        disk,
        ...parts.map((v) => ({
          id: v.location.replace('/dev/', ''),
          owner: OWNER,
          spec: {
            dev_dath: v.location,
            type: 'partition',
            device_path: `/sys/devices/virtual/block/${id}/${v.location.replace('/dev/', '')}`,
            parent: id,
            parent_dev_path: d.dev,
            size: v.size,
            pretty_size: humanizeBytes(v.size),
            sector_size: 512,
            io_size: 512,
            name: v.filesystem,
            partition_label: v.id,
            partition_index: v.partitionIndex,
          },
        })),
      ]
    })
}
