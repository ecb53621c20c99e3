// A lab machine's files and kernel log: its sysroot (nodes/<name>/root) stands for its root filesystem.
import { join, normalize } from 'node:path'
import { paths, type LabNode } from './state.ts'
import { allocateHugepages } from './sysroot.ts'
import { hugepagesFromCmdline } from '../lib/host/procfs.ts'

/** Map an absolute node path into the sysroot, refusing to escape it. */
export function sysrootPath(n: LabNode, p: string): string {
  const clean = normalize('/' + p)
  // a control plane's /var/lib/etcd is its real etcd data dir (the ETCD volume, services/etcd.go Volumes at v1.10.3)
  if (n.role === 'controlplane' && (clean === '/var/lib/etcd' || clean.startsWith('/var/lib/etcd/')))
    return join(paths.etcdData(n.name), clean.slice('/var/lib/etcd'.length))
  return join(paths.root(n.name), clean)
}

/** The kernel's log of this boot, as `talosctl dmesg` gets it (level and message of each line). */
export function kernelLog(n: LabNode): { level: string; msg: string }[] {
  const lines: { level: string; msg: string }[] = [
    {
      level: 'notice',
      msg: `Linux version 6.12.28-talos (@buildkitsandbox) (gcc (GCC) 14.2.0, GNU ld (GNU Binutils) 2.44) #1 SMP`,
    },
    { level: 'info', msg: `Command line: ${n.cmdline}` },
  ]
  const mem = n.hardware.numaMemoryMiB
  mem.forEach((m, i) => lines.push({ level: 'info', msg: `NUMA: Node ${i} [mem ${m} MiB]` }))
  lines.push({ level: 'notice', msg: `Kernel command line: ${n.cmdline}` })
  // what the kernel said about the boot-time huge pages this command line asks for (mm/hugetlb.c)
  const { allocation } = allocateHugepages(n.hardware, hugepagesFromCmdline(n.cmdline))
  for (const w of allocation.warnings) lines.push({ level: 'warning', msg: w })
  for (const [size, perNode] of Object.entries(allocation.perSize)) {
    const total = perNode.reduce((a, b) => a + b, 0)
    if (total > 0)
      lines.push({
        level: 'info',
        msg: `HugeTLB: registered ${Number(size) >= 1048576 ? `${Number(size) / 1048576}.00 GiB` : `${Number(size) / 1024}.00 MiB`} page size, pre-allocated ${total} pages`,
      })
  }
  for (const d of n.hardware.disks)
    lines.push({ level: 'info', msg: `${d.dev.replace('/dev/', '')}: ${d.model} ${d.serial}` })
  return lines
}
