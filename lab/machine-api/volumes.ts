// The volumes of a configured lab machine as Talos v1.10.3 manages them: the VolumeConfigs machined creates
// (internal/app/machined/pkg/controllers/block/volume_config.go, user_volume_config.go), each brought to `ready` by the
// volume manager (internal/volumes/locate.go: directory, symlink and overlay volumes are ready at once; partitions
// once located and formatted), and who asks for each one mounted (VolumeMountRequests): the services' Volumes()
// (internal/app/machined/pkg/system/services/{cri,etcd,kubelet}.go, requester "service/<id>", request ID
// "service/<id>-<volume>", system/volumes.go), the boot sequencer for EPHEMERAL
// (runtime/v1alpha1/v1alpha1_sequencer_tasks.go MountEphemeralPartition) and the UserVolumeConfigController for user
// volumes. STATE is mounted only while a controller reads or writes it (blockautomaton.NewVolumeMounter in
// controllers/config/persistence.go, cluster/node_identity.go), so a settled machine does not show it mounted.
import { partitionPath } from '../../lib/host/block-device.ts'
import { provisionUserVolumes } from '../volumes.ts'
import type { LabDisk, LabNode } from '../state.ts'
import { humanizeBytes } from './humanize.ts'
import type { RunningConfig } from './running-config.ts'

const MiB = 1024 * 1024

// pkg/machinery/constants/constants.go
const EPHEMERAL_SELINUX = 'system_u:object_r:ephemeral_t:s0'
const STATE_SELINUX = 'system_u:object_r:system_state_t:s0'
const USER_VOLUME_MOUNT_POINT = '/var/mnt'

/** block.MountSpec (resources/block/volume_config.go) in its YAML form. */
export interface MountSpec {
  targetPath: string
  selinuxLabel: string
  projectQuotaSupport: boolean
  parentId?: string
  fileMode?: number
  uid?: number
  gid?: number
  recursiveRelabel?: boolean
}

export interface LabVolume {
  id: string
  type: 'partition' | 'directory' | 'symlink' | 'overlay'
  /** The device the volume is (partition volumes): VolumeStatus location and mountLocation. */
  location?: string
  partitionIndex?: number
  parentLocation?: string
  size?: number
  filesystem?: 'xfs' | 'ext4'
  /** VolumeConfig.ParentID: the overlays' EPHEMERAL. */
  parentId?: string
  mountSpec?: MountSpec
  symlink?: { symlinkTargetPath: string; force: boolean }
  /** [requester, VolumeMountRequest ID] of everyone who wants it mounted. */
  requests: [string, string][]
  /** Talos could not provision it: VolumeStatus phase failed with this errorMessage (nothing mounts it). */
  failed?: string
}

/**
 * manageStandardVolumes (volume_config.go:384-540): the directory volumes under EPHEMERAL, /var/run the symlink to
 * /run; a volume's parent is the volume of its parent directory.
 */
const STANDARD_DIRECTORIES: {
  path: string
  id?: string
  mode: number
  uid?: number
  gid?: number
  recursive?: boolean
  label: string
}[] = [
  { path: '/var/log', mode: 0o755, label: 'system_u:object_r:var_log_t:s0' },
  { path: '/var/log/audit', mode: 0o700, label: 'system_u:object_r:audit_log_t:s0' },
  // constants.KubernetesAuditLogDir, owned by the API server's user (KubernetesAPIServerRunUser/Group 65534)
  {
    path: '/var/log/audit/kube',
    mode: 0o700,
    uid: 65534,
    gid: 65534,
    recursive: true,
    label: 'system_u:object_r:kube_log_t:s0',
  },
  { path: '/var/log/containers', mode: 0o755, label: 'system_u:object_r:containers_log_t:s0' },
  { path: '/var/log/pods', mode: 0o755, label: 'system_u:object_r:pods_log_t:s0' },
  { path: '/var/lib', mode: 0o700, label: EPHEMERAL_SELINUX },
  // constants.EtcdDataVolumeID / EtcdDataPath, owned by EtcdUserID 60
  {
    path: '/var/lib/etcd',
    id: 'ETCD',
    mode: 0o700,
    uid: 60,
    gid: 60,
    recursive: true,
    label: 'system_u:object_r:etcd_data_t:s0',
  },
  { path: '/var/lib/containerd', mode: 0o000, label: 'system_u:object_r:containerd_state_t:s0' },
  { path: '/var/lib/kubelet', mode: 0o700, label: 'system_u:object_r:kubelet_state_t:s0' },
  { path: '/var/lib/cni', mode: 0o700, recursive: true, label: 'system_u:object_r:cni_state_t:s0' },
  { path: '/var/lib/kubelet/seccomp', mode: 0o700, label: 'system_u:object_r:seccomp_profile_t:s0' },
  {
    path: '/var/lib/kubelet/seccomp/profiles',
    mode: 0o700,
    recursive: true,
    label: 'system_u:object_r:seccomp_profile_t:s0',
  },
  { path: USER_VOLUME_MOUNT_POINT, mode: 0o755, label: EPHEMERAL_SELINUX },
  { path: '/var/run/lock', mode: 0o755, label: 'system_u:object_r:var_lock_t:s0' },
]

/** constants.Overlays: overlay volumes on EPHEMERAL (manageOverlayVolumes). */
const OVERLAYS: [string, string][] = [
  ['/etc/cni', 'system_u:object_r:cni_conf_t:s0'],
  ['/etc/kubernetes', 'system_u:object_r:k8s_conf_t:s0'],
  ['/usr/libexec/kubernetes', 'system_u:object_r:k8s_plugin_t:s0'],
  ['/opt', 'system_u:object_r:opt_t:s0'],
]

/** The volumes each service asks for at start (services/*.go Volumes()); cri's include the overlays. */
const SERVICE_VOLUMES: Record<string, string[]> = {
  cri: ['/var/lib', '/var/lib/cni', '/var/lib/containerd', '/var/run', '/var/run/lock', ...OVERLAYS.map(([p]) => p)],
  etcd: ['/var/lib', 'ETCD'],
  kubelet: [
    '/var/lib',
    '/var/lib/kubelet',
    '/var/log',
    '/var/log/audit',
    '/var/log/containers',
    '/var/log/pods',
    '/var/lib/kubelet/seccomp',
    '/var/lib/kubelet/seccomp/profiles',
    '/var/log/audit/kube',
    USER_VOLUME_MOUNT_POINT,
  ],
}

/**
 * The space a partition that takes the rest of the disk gets: go-blockdevice's GPT aligns partitions to 1 MiB and
 * keeps the last 33 sectors for the backup table (an approximation of LargestContiguousAllocatable).
 */
function restOfDisk(d: LabDisk, startBytes: number): number {
  return Math.floor((d.sizeBytes - 33 * 512) / MiB) * MiB - startBytes
}

/**
 * The install disk's Talos partitions, as the lab's metal image lays them out (the dual-boot layout the lab's
 * sysroot mounts: EFI 1, BIOS 2, BOOT 3, META 4; internal/pkg/partition/constants.go sizes: EFI 100 MiB, BIOS 1 MiB,
 * BOOT 1000 MiB, META 1 MiB) with STATE (5, 100 MiB) and EPHEMERAL (6, the rest) created by the volume manager
 * (partition.go CreatePartition: MaxSize, else all that is left).
 */
function systemPartitions(disk: LabDisk, cfg: RunningConfig): LabVolume[] {
  const part = (idx: number) => ({
    location: partitionPath(disk.dev, idx),
    partitionIndex: idx,
    parentLocation: disk.dev,
  })
  return [
    { id: 'META', type: 'partition', ...part(4), size: MiB, requests: [] },
    {
      id: 'STATE',
      type: 'partition',
      ...part(5),
      size: 100 * MiB,
      filesystem: 'xfs',
      mountSpec: {
        targetPath: '/system/state',
        selinuxLabel: STATE_SELINUX,
        projectQuotaSupport: false,
        fileMode: 0o700,
      },
      requests: [],
    },
    {
      id: 'EPHEMERAL',
      type: 'partition',
      ...part(6),
      size: restOfDisk(disk, (1 + 100 + 1 + 1000 + 1 + 100) * MiB),
      filesystem: 'xfs',
      mountSpec: {
        targetPath: '/var',
        selinuxLabel: EPHEMERAL_SELINUX,
        projectQuotaSupport: cfg.diskQuotaSupport,
        fileMode: 0o755,
      },
      requests: [['sequencer', 'EPHEMERAL']],
    },
  ]
}

/**
 * Each UserVolumeConfig: volume u-<name> where Talos's volume manager puts it (lab/volumes.ts provisionUserVolumes:
 * order, disk selection, refused disks), ready on its partition, or failed with the manager's error.
 */
function userVolumes(n: LabNode, cfg: RunningConfig, installDisk: string | undefined): LabVolume[] {
  return provisionUserVolumes(cfg.view.userVolumes, n.hardware.disks, installDisk).map((st) => {
    const uv = cfg.view.userVolumes.find((u) => `u-${u.name}` === st.id)
    if (st.phase !== 'ready')
      return { id: st.id, type: 'partition', failed: st.errorMessage ?? 'failed', requests: [] } satisfies LabVolume
    return {
      id: st.id,
      type: 'partition',
      location: st.location,
      partitionIndex: st.partitionIndex,
      parentLocation: st.parentLocation,
      size: st.size,
      filesystem: st.filesystem === 'ext4' ? 'ext4' : 'xfs',
      mountSpec: {
        targetPath: uv?.name ?? st.id.replace(/^u-/, ''),
        selinuxLabel: EPHEMERAL_SELINUX,
        projectQuotaSupport: false,
        parentId: USER_VOLUME_MOUNT_POINT,
        fileMode: 0o755,
      },
      requests: [['block.UserVolumeConfigController', st.id]],
    } satisfies LabVolume
  })
}

function directoryVolumes(): LabVolume[] {
  const parents: Record<string, string> = { '/var': 'EPHEMERAL', '/var/run': '/var/run' }
  const out: LabVolume[] = [
    {
      id: '/var/run',
      type: 'symlink',
      mountSpec: { targetPath: '/var/run', selinuxLabel: '', projectQuotaSupport: false },
      symlink: { symlinkTargetPath: '/run', force: true },
      requests: [],
    },
  ]
  for (const d of STANDARD_DIRECTORIES) {
    const cut = d.path.lastIndexOf('/')
    const id = d.id ?? d.path
    out.push({
      id,
      type: 'directory',
      mountSpec: {
        targetPath: d.path.slice(cut + 1),
        selinuxLabel: d.label,
        projectQuotaSupport: false,
        parentId: parents[d.path.slice(0, cut)]!,
        fileMode: d.mode,
        uid: d.uid,
        gid: d.gid,
        recursiveRelabel: d.recursive,
      },
      requests: [],
    })
    parents[d.path] = id
  }
  for (const [path, label] of OVERLAYS)
    out.push({
      id: path,
      type: 'overlay',
      parentId: 'EPHEMERAL',
      mountSpec: { targetPath: path, selinuxLabel: label, projectQuotaSupport: false, fileMode: 0o755 },
      requests: [],
    })
  return out
}

/**
 * Every volume of a configured machine, with the mount requests of the services that are started (a service asks
 * when it starts and withdraws when it finishes or fails: system/service_runner.go Start).
 */
export function machineVolumes(n: LabNode, cfg: RunningConfig, startedServices: string[]): LabVolume[] {
  const installDisk = n.installDisk ?? cfg.view.installDisk
  const disk = n.hardware.disks.find((d) => d.dev === installDisk)
  const volumes = [
    ...(disk ? systemPartitions(disk, cfg) : []),
    ...directoryVolumes(),
    ...userVolumes(n, cfg, installDisk),
  ]
  const byId = new Map(volumes.map((v) => [v.id, v]))
  for (const svc of startedServices)
    for (const id of SERVICE_VOLUMES[svc] ?? []) byId.get(id)?.requests.push([`service/${svc}`, `service/${svc}-${id}`])
  return volumes
}

/** The VolumeStatus spec (resources/block/volume_status.go) of a ready volume. */
export function volumeStatusSpec(v: LabVolume): Record<string, unknown> {
  if (v.failed) return { phase: 'failed', preFailPhase: 'waiting', type: v.type, errorMessage: v.failed }
  return {
    phase: 'ready',
    type: v.type,
    ...(v.parentId ? { parentID: v.parentId } : {}),
    ...(v.location
      ? {
          location: v.location,
          // no encryption: the mount location is the partition itself (internal/volumes/encrypt.go)
          mountLocation: v.location,
          partitionIndex: v.partitionIndex,
          parentLocation: v.parentLocation,
        }
      : {}),
    ...(v.size ? { size: v.size, prettySize: humanizeBytes(v.size) } : {}),
    ...(v.filesystem ? { filesystem: v.filesystem } : {}),
    ...(v.mountSpec ? { mountSpec: v.mountSpec } : {}),
    ...(v.symlink ? { symlink: v.symlink } : {}),
  }
}
