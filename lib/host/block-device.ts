// Whole disk or partition, from a /dev path alone. Talos installs to a whole disk: "Talos Linux assumes complete
// control of the disk it is installed on, so that it can control the partition table for image based upgrades"
// (talos v1.10.3 website/content/v1.10/introduction/system-requirements.md), and its installer writes a new GPT
// partition table on machine.install.disk (cmd/installer/pkg/install/install.go, "if running in install/image
// mode, just create new GPT partition table"). A partition there is a typo for its disk.
//
// The kernel names partition N of disk D "D<N>" when D ends in a letter (sda1, vdb2, xvda1) and "D p<N>" when D
// ends in a digit (nvme0n1p1, mmcblk0p1, loop0p1, md0p1) (block/partitions/core.c, add_partition()); udev's persistent
// links name partitions "<disk link>-part<N>" (/dev/disk/by-id/...-part1, 60-persistent-storage.rules).

interface PartitionPath {
  /** the whole disk the partition is on */
  disk: string
  partition: number
}

const LETTER_DISK_PARTITION = /^(\/dev\/(?:sd|vd|xvd|hd)[a-z]+)([1-9][0-9]*)$/
const DIGIT_DISK_PARTITION =
  /^(\/dev\/(?:nvme[0-9]+n[0-9]+|mmcblk[0-9]+|loop[0-9]+|md[0-9]+|nbd[0-9]+|rbd[0-9]+|zd[0-9]+))p([1-9][0-9]*)$/
const UDEV_LINK_PARTITION = /^(\/dev\/disk\/by-[a-z-]+\/.+)-part([1-9][0-9]*)$/

/** The disk and partition number when `path` names a partition; undefined for a whole disk (or a name we cannot tell). */
export function partitionOf(path: string): PartitionPath | undefined {
  for (const re of [LETTER_DISK_PARTITION, DIGIT_DISK_PARTITION, UDEV_LINK_PARTITION]) {
    const m = re.exec(path)
    if (m) return { disk: m[1]!, partition: Number(m[2]) }
  }
  return undefined
}

/** The device of partition `n` of `disk`, named as the kernel names it (the inverse of partitionOf). */
export const partitionPath = (disk: string, n: number): string => (/[0-9]$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`)

/** The message both the inventory and the linter give for a partition used as the install disk. */
export const partitionInstallDiskMessage = (path: string, p: PartitionPath) =>
  `${path} is partition ${p.partition} of ${p.disk}: Talos installs to a whole disk (it writes its own GPT partition table and takes the whole disk, system-requirements.md)`
