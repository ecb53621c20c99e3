// The block resources of a lab machine (pkg/machinery/resources/block at v1.10.3): its disks, its volumes and what is
// mounted, with Talos's IDs (disk: the kernel's device name; volume and mount: the volume ID) and YAML field names.
import { posix } from 'node:path'
import type { LabDisk, LabNode } from '../state.ts'
import { nodeServices } from '../machine-services.ts'
import { humanizeBytes } from './humanize.ts'
import type { ModelResource } from './model-resource.ts'
import { runningConfig } from './running-config.ts'
import { machineVolumes, volumeStatusSpec, type LabVolume } from './volumes.ts'

const modalias = (t: LabDisk['transport']) =>
  t === 'nvme' ? 'nvme:v1B36d0010' : t === 'virtio' ? 'virtio:d00000002v00001AF4' : 'scsi:t-0x00'

/** Disks.block.talos.dev, ID the device name (controllers/block/disks.go: the Device's ID), spec block.DiskSpec. */
export function disks(n: LabNode): ModelResource[] {
  return n.hardware.disks.map((d, i) => ({
    id: d.dev.replace('/dev/', ''),
    owner: 'block.DisksController',
    spec: {
      dev_path: d.dev,
      size: d.sizeBytes,
      pretty_size: humanizeBytes(d.sizeBytes),
      io_size: 512,
      sector_size: 512,
      readonly: false,
      cdrom: false,
      model: d.model,
      serial: d.serial,
      modalias: modalias(d.transport),
      ...(d.wwid ? { wwid: d.wwid } : {}),
      bus_path: `/pci0000:00/0000:00:0${i + 4}.0/${d.transport === 'nvme' ? 'nvme' : 'host0'}`,
      sub_system: '/sys/class/block',
      transport: d.transport,
      ...(d.rotational ? { rotational: true } : {}),
    },
  }))
}

async function volumesOf(n: LabNode): Promise<LabVolume[]> {
  const cfg = runningConfig(n)
  if (!cfg) return []
  const started = (await nodeServices(n)).filter((s) => s.state !== 'Finished' && s.state !== 'Failed').map((s) => s.id)
  return machineVolumes(n, cfg, started)
}

/** VolumeStatuses.block.talos.dev, one per VolumeConfig, ID the volume ID. */
export async function volumeStatuses(n: LabNode): Promise<ModelResource[]> {
  return (await volumesOf(n)).map((v) => ({
    id: v.id,
    owner: 'block.VolumeManagerController',
    spec: volumeStatusSpec(v),
  }))
}

interface Mounted {
  volume: LabVolume
  target: string
}

/**
 * The volumes that are mounted: requested by someone and with their parent mounted (controllers/block/mount.go waits
 * for the parent's MountStatus and mounts at its target joined with the volume's targetPath).
 */
function mounted(volumes: LabVolume[]): Mounted[] {
  const byId = new Map(volumes.map((v) => [v.id, v]))
  const targets = new Map<string, string | undefined>()
  const targetOf = (v: LabVolume): string | undefined => {
    if (targets.has(v.id)) return targets.get(v.id)
    let t: string | undefined
    if (v.requests.length && v.mountSpec) {
      const parent = v.mountSpec.parentId ? byId.get(v.mountSpec.parentId) : undefined
      const root = v.mountSpec.parentId ? parent && targetOf(parent) : '/'
      t = root === undefined ? undefined : posix.join(root, v.mountSpec.targetPath)
    }
    targets.set(v.id, t)
    return t
  }
  return volumes.flatMap((v) => {
    const target = targetOf(v)
    return target === undefined ? [] : [{ volume: v, target }]
  })
}

/**
 * MountStatuses.block.talos.dev, ID the volume ID (mount_request.go: one MountRequest per volume, listing its
 * requesters in the order of their request IDs; mount.go: source the volume's mountLocation, target, filesystem).
 */
export async function blockMountStatuses(n: LabNode): Promise<ModelResource[]> {
  return mounted(await volumesOf(n)).map(({ volume: v, target }) => {
    const requests = [...v.requests].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    return {
      id: v.id,
      owner: 'block.MountController',
      spec: {
        spec: {
          volumeID: v.id,
          parentID: v.mountSpec?.parentId ?? '',
          readOnly: false,
          requesters: requests.map(([who]) => who),
          requesterIDs: requests.map(([, id]) => id),
        },
        source: v.location ?? '',
        target,
        filesystem: v.filesystem ?? 'none',
        readOnly: false,
        projectQuotaSupport: v.mountSpec?.projectQuotaSupport ?? false,
      },
    }
  })
}

/**
 * MountStatuses.runtime.talos.dev, the legacy view kept for old clients (controllers/runtime/mount_status.go): one per
 * mounted partition or disk volume, ID the volume ID, filesystemType from the volume status.
 */
export async function legacyMountStatuses(n: LabNode): Promise<ModelResource[]> {
  return mounted(await volumesOf(n))
    .filter(({ volume: v }) => v.type === 'partition')
    .map(({ volume: v, target }) => ({
      id: v.id,
      owner: 'runtime.MountStatusController',
      spec: { source: v.location ?? '', target, filesystemType: v.filesystem ?? 'none', encrypted: false },
    }))
}
