// The lab kubelet cannot run containers. It runs one kind of one-shot pod (restartPolicy: Never) for real:
// a shell script of `mkdir -p PATH` / `chown UID:GID PATH` / `chmod MODE PATH` on hostPath volumes, which is how a
// Talos cluster sets ownership of the data directories in user volumes (Talos has no config field for it). The effect lands in the node's
// sysroot's record of owners (lab/file-owners.ts), which the lab's `talosctl ls -l` reports; any other command fails
// the pod.
import { existsSync, mkdirSync } from 'node:fs'
import { join, posix } from 'node:path'
import { setOwner } from '../file-owners.ts'

type Obj = Record<string, any>

export type OneShotOp =
  | { op: 'mkdir'; path: string }
  | { op: 'chown'; uid: number; gid: number; path: string }
  | { op: 'chmod'; mode: string; path: string }

/** Parse `sh -c` scripts made only of mkdir -p/chown/chmod/true joined by && or ;. Throws on anything else. */
export function parseOneShotScript(script: string): OneShotOp[] {
  const ops: OneShotOp[] = []
  for (const raw of script.split(/&&|;|\n/)) {
    const words = raw.trim().split(/\s+/).filter(Boolean)
    if (words.length === 0 || (words.length === 1 && words[0] === 'true')) continue
    if (words[0] === 'mkdir' && words[1] === '-p' && words.length === 3) {
      ops.push({ op: 'mkdir', path: words[2]! })
      continue
    }
    const args = words.slice(1).filter((w) => w !== '-R')
    if (words[0] === 'chown' && args.length === 2 && /^\d+:\d+$/.test(args[0]!)) {
      const [uid, gid] = args[0]!.split(':').map(Number)
      ops.push({ op: 'chown', uid: uid!, gid: gid!, path: args[1]! })
    } else if (words[0] === 'chmod' && args.length === 2 && /^0?[0-7]{3,4}$/.test(args[0]!)) {
      ops.push({ op: 'chmod', mode: args[0]!.padStart(4, '0'), path: args[1]! })
    } else {
      throw new Error(
        `lab kubelet runs only mkdir -p PATH / chown UID:GID PATH / chmod MODE PATH scripts, not: ${raw.trim()}`,
      )
    }
  }
  return ops
}

/** Container path → host path through the pod's hostPath volume mounts. */
export function hostPathOf(pod: Obj, container: Obj, path: string): string {
  for (const m of container.volumeMounts ?? []) {
    const vol = (pod.spec.volumes ?? []).find((v: Obj) => v.name === m.name)
    const mp = posix.normalize(m.mountPath)
    const p = posix.normalize(path)
    if (vol?.hostPath?.path && (p === mp || p.startsWith(mp + '/')))
      return posix.join(vol.hostPath.path, posix.relative(mp, p))
  }
  throw new Error(`${path} is not on a hostPath volume of the pod`)
}

/** A pod the lab kubelet can run to completion: restartPolicy Never, every container a mkdir/chown/chmod script. */
export function isOneShot(pod: Obj): boolean {
  if (pod.spec?.restartPolicy !== 'Never' || !(pod.spec.containers ?? []).length) return false
  return pod.spec.containers.every((c: Obj) => {
    const cmd: string[] = [...(c.command ?? []), ...(c.args ?? [])]
    if (cmd[0] !== 'sh' || cmd[1] !== '-c' || cmd.length !== 3) return false
    try {
      return parseOneShotScript(cmd[2]!).length > 0
    } catch {
      return false
    }
  })
}

/** Run every container of the pod against the sysroot; returns the per-container exit state. */
export function runOneShot(pod: Obj, sysroot: string): { ok: boolean; message: string } {
  try {
    for (const c of pod.spec.containers ?? []) {
      const cmd: string[] = [...(c.command ?? []), ...(c.args ?? [])]
      if (cmd[0] !== 'sh' || cmd[1] !== '-c' || cmd.length !== 3)
        throw new Error(`lab kubelet runs only \`sh -c SCRIPT\` one-shot containers (${c.name})`)
      for (const op of parseOneShotScript(cmd[2]!)) {
        const hostPath = hostPathOf(pod, c, op.path)
        // a new directory has no record: root:root, 0755 from the umask (lab/file-owners.ts), as busybox mkdir makes it
        if (op.op === 'mkdir') {
          mkdirSync(join(sysroot, hostPath), { recursive: true })
          continue
        }
        if (!existsSync(join(sysroot, hostPath))) throw new Error(`${op.path}: No such file or directory`)
        setOwner(sysroot, hostPath, op.op === 'chown' ? { uid: op.uid, gid: op.gid } : { mode: op.mode })
      }
    }
    return { ok: true, message: 'Completed' }
  } catch (e) {
    return { ok: false, message: (e as Error).message }
  }
}

export function finishedStatus(p: Obj, hostIP: string, r: { ok: boolean; message: string }): Obj {
  const ts = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  return {
    ...(p.status ?? {}),
    phase: r.ok ? 'Succeeded' : 'Failed',
    hostIP,
    startTime: p.status?.startTime ?? ts,
    conditions: [
      { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: ts },
      { type: 'Ready', status: 'False', reason: 'PodCompleted', lastProbeTime: null, lastTransitionTime: ts },
    ],
    containerStatuses: (p.spec.containers ?? []).map((c: Obj) => ({
      name: c.name,
      image: c.image,
      ready: false,
      restartCount: 0,
      started: false,
      lastState: {},
      state: {
        terminated: {
          exitCode: r.ok ? 0 : 1,
          reason: r.ok ? 'Completed' : 'Error',
          message: r.ok ? undefined : r.message,
          startedAt: ts,
          finishedAt: ts,
        },
      },
    })),
  }
}
