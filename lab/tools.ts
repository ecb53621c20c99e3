// The external programs the lab and its tests run, and the Debian package each comes from: the one table that
// the preflight of `npm run lab:deploy` and of `npm test` checks (lab/preflight.ts), and that the lab itself
// resolves its binaries through, so both agree on what "installed" means.
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

export interface Tool {
  /** The program's name, as looked up on PATH. */
  bin: string
  /** Debian (bookworm) package that ships it; undefined when Debian has none recent enough. */
  pkg?: string
  /** What the lab or a test uses it for (printed when it is missing). */
  usedFor: string
  /** How to get it when there is no Debian package. */
  howto?: string
}

export const LAB_TOOLS: readonly Tool[] = [
  { bin: 'etcd', pkg: 'etcd-server', usedFor: 'one real etcd per control-plane node' },
  // Debian bookworm's etcd-client is etcd 3.4: etcdctl only (etcdutl came with 3.5; the product uses it where present)
  {
    bin: 'etcdctl',
    pkg: 'etcd-client',
    usedFor:
      '10-etcd-backup verifying snapshots (etcdctl snapshot status), the lab restoring one (etcdctl snapshot restore)',
  },
  { bin: 'sshd', pkg: 'openssh-server', usedFor: 'the rescue system of every machine' },
  { bin: 'ssh-keygen', pkg: 'openssh-client', usedFor: 'rescue host keys and their fingerprints' },
  { bin: 'numactl', pkg: 'numactl', usedFor: 'the numactl --hardware oracle of the NUMA checks' },
  { bin: 'openssl', pkg: 'openssl', usedFor: 'the cluster PKI, service-account keys and CSR checks' },
  { bin: 'zstd', pkg: 'zstd', usedFor: 'the compressed Talos images the rescue systems write' },
  { bin: 'ipmi_sim', pkg: 'openipmi', usedFor: 'the simulated BMCs' },
  { bin: 'ipmitool', pkg: 'ipmitool', usedFor: 'talking to the BMCs' },
  {
    bin: 'kubectl',
    usedFor: 'the runbooks, checks and lab tests (the real kubectl against the lab API)',
    // Debian bookworm's kubernetes-client is kubectl 1.20, far older than the lab's Kubernetes v1.33 API
    howto:
      'install kubectl v1.32–v1.34 (the lab serves Kubernetes v1.33): https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/',
  },
]

/** sshd and friends live in sbin, which a normal user's PATH often lacks; the lab finds them there anyway. */
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin']

const isExecutable = (p: string) => {
  try {
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Absolute path of `bin` on PATH (then sbin), or undefined. */
export function findTool(bin: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN]
  return dirs.map((d) => join(d, bin)).find(isExecutable)
}

/** The binary the lab runs: where findTool sees it, else the Debian location (whose absence the preflight reports). */
export const labBinary = (bin: string, debianPath: string): string => findTool(bin) ?? debianPath

/** The tools of `tools` that cannot be found. */
export const missingTools = (tools: readonly Tool[] = LAB_TOOLS, env: NodeJS.ProcessEnv = process.env): Tool[] =>
  tools.filter((t) => !findTool(t.bin, env))
