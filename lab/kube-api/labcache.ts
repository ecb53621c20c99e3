// The controllers read the lab's machines (node.json, the applied config, the sysroot) on every tick. Parsing
// every machine config each time dominated the idle API server's CPU, so files are re-read only when their
// stamp (inode, size, mtime) changes, and labStamp() tells the controllers whether anything changed at all.
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { paths, type LabCluster } from '../state.ts'
import { nodeShape, readLabMachine, readSysroot, type LabMachine, type NodeShape } from './labinfo.ts'

/** '' when the file is missing: a changed stamp means the file may have changed. */
export function fileStamp(file: string): string {
  try {
    const s = statSync(file, { bigint: true })
    return `${s.ino}:${s.size}:${s.mtimeNs}`
  } catch {
    return ''
  }
}

const machineFiles = (name: string) => [paths.node(name), paths.config(name)]
// readSysroot's inputs: meminfo changes with the hugepages a config reserves (the sysroot is rewritten with it)
const sysrootFiles = (name: string) => [
  ...machineFiles(name),
  join(paths.root(name), 'proc/meminfo'),
  join(paths.root(name), 'proc/sys/kernel/osrelease'),
]

/** One stamp for the lab state the controllers read: lab.json and every listed node's files. */
export function labStamp(nodes: readonly string[]): string {
  return [fileStamp(paths.cluster()), ...nodes.flatMap((n) => sysrootFiles(n).map(fileStamp))].join('|')
}

interface Entry<T> {
  stamp: string
  value: T
}

export class LabMachineCache {
  private machines = new Map<string, Entry<LabMachine | undefined>>()
  private shapes = new Map<string, Entry<NodeShape>>()

  machine(name: string): LabMachine | undefined {
    const stamp = machineFiles(name).map(fileStamp).join('|')
    const hit = this.machines.get(name)
    if (hit && hit.stamp === stamp) return hit.value
    const value = readLabMachine(name)
    this.machines.set(name, { stamp, value })
    return value
  }

  /**
   * nodeShape() of a machine with a config, its sysroot read again only when its files changed. The shape is made
   * from the machine as read after this stamp, not from `m`: `m` may have been read before its config changed, and a
   * shape of the old config under the new stamp would stay until the files changed again.
   */
  shape(m: LabMachine & { cfg: NonNullable<LabMachine['cfg']> }): NodeShape {
    const name = m.node.name
    const stamp = sysrootFiles(name).map(fileStamp).join('|')
    const hit = this.shapes.get(name)
    if (hit && hit.stamp === stamp) return structuredClone(hit.value)
    const now = this.machine(name)
    const value = nodeShape(now?.node ?? m.node, now?.cfg ?? m.cfg, readSysroot(paths.root(name)))
    this.shapes.set(name, { stamp, value })
    return structuredClone(value)
  }

  all(c: LabCluster): LabMachine[] {
    return c.nodes.map((n) => this.machine(n)).filter((m): m is LabMachine => !!m)
  }
}
