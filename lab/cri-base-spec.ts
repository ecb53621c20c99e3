// /etc/cri/conf.d/base-spec.json as Talos v1.10.3's CRIBaseRuntimeSpecController writes it whenever the active config
// changes (internal/app/machined/pkg/controllers/files/cri_base_runtime_spec.go:60-140, mode 0600): containerd's default
// spec for the k8s.io namespace with process.rlimits removed ("compatibility with CRI defaults"), then
// machine.baseRuntimeSpecOverrides merged over it with Talos's config merge (maps key by key, lists appended).
// containerd reads the file when it starts, so containers keep their limits until the next boot
// (website/content/v1.10/advanced/oci-base-spec.md: "applied with a machine reboot"). Without an RLIMIT_NOFILE the
// containers inherit Talos's 1048576 open files (same page).
// The lab writes a reduced default spec: ociVersion and process (user, cwd, containerd's default capabilities, no
// rlimits), not containerd's whole generated one (mounts, namespaces, …), which nothing here reads. The lab's
// containers (lab/containers.ts) start from its capabilities and rlimits.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { CONTAINERD_DEFAULT_CAPS } from './proc-status.ts'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v)

/** Talos's merge (pkg/machinery/config/merge): maps merged key by key, lists appended, anything else replaced. */
export function mergeSpec(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base }
  for (const [k, v] of Object.entries(over)) {
    const cur = out[k]
    if (isObj(cur) && isObj(v)) out[k] = mergeSpec(cur, v)
    else if (Array.isArray(cur) && Array.isArray(v)) out[k] = [...cur, ...v]
    else out[k] = v
  }
  return out
}

// containerd v2.0.5 pkg/oci/spec.go:157-186 populateDefaultUnixSpec: bounding, permitted and effective are
// defaultUnixCaps (lab/proc-status.ts CONTAINERD_DEFAULT_CAPS)
const DEFAULT_SPEC: Obj = {
  ociVersion: '1.2.0',
  process: {
    user: { uid: 0, gid: 0 },
    cwd: '/',
    capabilities: {
      bounding: CONTAINERD_DEFAULT_CAPS,
      effective: CONTAINERD_DEFAULT_CAPS,
      permitted: CONTAINERD_DEFAULT_CAPS,
    },
  },
}

export const CRI_BASE_SPEC = '/etc/cri/conf.d/base-spec.json'

/** Write the machine's base runtime spec for these overrides into its sysroot. */
export function writeCriBaseSpec(root: string, overrides: Obj): void {
  const file = join(root, CRI_BASE_SPEC)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify(mergeSpec(DEFAULT_SPEC, overrides)), { mode: 0o600 })
}
