// machine.files on a lab node, as machined writes them: once per boot, in the boot sequence's "userSetup" phase,
// after EPHEMERAL (/var) is mounted and before "startEverything" loads the CRI service that kubelet depends on
// (siderolabs/talos v1.10.3 internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_sequencer.go Boot :221-237,
// internal/app/machined/pkg/system/services/kubelet.go DependsOn :104). So kubelet's first start of a boot sees
// what machine.files wrote, and a kubelet restart within the boot (a config change) does not.
// WriteUserFiles (v1alpha1_sequencer_tasks.go:542-655): `create` writes the file whether it exists or not (the
// content replaces what was there) but only under /var; `overwrite` and `append` need an existing regular file
// (existsAndIsFile: "file must exist"); the directory is created (0755), the permissions set. A file outside /var
// is written under /var and bind-mounted over the path (the lab writes both). A failure stops the boot there
// (pauseOnFailure): nothing after it, kubelet included, starts.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, posix } from 'node:path'
import type { MachineFile } from './machine-config.ts'

/** Write the files into the node's sysroot; returns machined's errors (empty when the phase succeeded). */
export function writeUserFiles(root: string, files: MachineFile[]): string[] {
  const errors: string[] = []
  for (const f of files) {
    const onNode = posix.normalize(f.path)
    const inVar = onNode.split('/')[1] === 'var'
    if (!inVar && f.op === 'create') return [...errors, `create operation not allowed outside of /var: "${f.path}"`]
    if (!['create', 'overwrite', 'append'].includes(f.op)) {
      errors.push(`unknown operation for file "${f.path}": "${f.op}"`)
      continue
    }
    const target = join(root, onNode)
    if (f.op !== 'create') {
      if (!existsSync(target)) {
        errors.push(`file must exist: "${f.path}"`)
        continue
      }
      if (!statSync(target).isFile()) {
        errors.push(`invalid mode: "${f.path}" is not a regular file`)
        continue
      }
    }
    const content = f.op === 'append' ? `${readFileSync(target, 'utf8')}\n${f.content}` : f.content
    const written = inVar ? target : join(root, 'var', onNode)
    mkdirSync(dirname(written), { recursive: true, mode: 0o755 })
    writeFileSync(written, content)
    chmodSync(written, f.permissions)
    if (!inVar) writeFileSync(target, content) // the read-only bind mount over the existing file
  }
  return errors
}
