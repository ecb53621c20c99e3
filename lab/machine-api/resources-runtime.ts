// Runtime resources of a lab machine (pkg/machinery/resources/runtime and v1alpha1 at v1.10.3): its machine status,
// the system extensions of the image it runs, and its running services.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { EMPTY_SCHEMATIC_ID, parseSchematic } from '../../lib/talos/schematic.ts'
import { labDir, type LabNode } from '../state.ts'
import { nodeServices } from '../machine-services.ts'
import type { ModelResource } from './model-resource.ts'

/**
 * MachineStatuses.runtime.talos.dev, ID "machine" (runtime.MachineStatusID). controllers/runtime/machine_status.go:
 * only booting and running have readiness checks (getReadinessChecks; any other stage, maintenance among them, is
 * ready with none unmet). Of the checks (time, network, services, staticPods, nodeReady) the lab states
 * "services" from its services; its clock and network are always up and its static pods and node readiness are not
 * modelled, so those count as met.
 */
export async function machineStatus(n: LabNode): Promise<ModelResource[]> {
  const stage = ['maintenance', 'booting', 'running', 'rebooting', 'shutting down'].includes(n.stage)
    ? n.stage
    : 'unknown'
  const unmet: { name: string; reason: string }[] = []
  if (stage === 'booting' || stage === 'running') {
    const services = await serviceProblems(n)
    if (services) unmet.push({ name: 'services', reason: services })
  }
  return [
    {
      id: 'machine',
      owner: 'runtime.MachineStatusController',
      spec: { stage, status: { ready: unmet.length === 0, unmetConditions: unmet } },
    },
  ]
}

/** servicesCheck: each service not running, or running and known unhealthy, then each required one not running. */
async function serviceProblems(n: LabNode): Promise<string | undefined> {
  const services = await nodeServices(n)
  const required = ['apid', 'machined', 'kubelet', ...(n.role === 'controlplane' ? ['etcd', 'trustd'] : [])]
  const problems: string[] = []
  const running = new Set<string>()
  for (const s of services) {
    if (s.state !== 'Running') {
      problems.push(`${s.id} not running`)
      continue
    }
    running.add(s.id)
    if (s.health === 'Fail') problems.push(`${s.id} not healthy`)
  }
  for (const id of required) if (!running.has(id)) problems.push(`${id} not running`)
  return problems.length ? problems.join(', ') : undefined
}

/**
 * The schematic of the image the machine runs: the installer it was installed or upgraded with, for an Image Factory
 * reference (…/<schematic>:<tag>); before any install, the Image Factory disk image it booted (the lab records an
 * image without a schematic as the empty one, so that case shows none).
 */
function runningSchematic(n: LabNode): string | undefined {
  if (n.installedImage) return /\/([0-9a-f]{64})(?::[^:/]+)?(@sha256:[0-9a-f]{64})?$/.exec(n.installedImage)?.[1]
  return n.bootSchematic && n.bootSchematic !== EMPTY_SCHEMATIC_ID ? n.bootSchematic : undefined
}

/** The schematic as the factory stored it (lab/factory.ts keeps go-yaml's Marshal of it), for the extension's extraInfo. */
function schematicYaml(id: string): string | undefined {
  const f = join(labDir(), 'factory', 'schematics', `${id}.yaml`)
  return existsSync(f) ? readFileSync(f, 'utf8') : undefined
}

/**
 * ExtensionStatuses.runtime.talos.dev: one per layer of the image's extensions config, ID the layer's image name
 * without ".sqsh" (controllers/runtime/extension_status.go), which the imager names by the extension's index in the
 * build, "0", "1", … (pkg/imager/imager.go: extensions/<j>; pkg/imager/extensions compressExtensions). The Image
 * Factory appends a "virtual" extension last, named "schematic" with the schematic ID as its version
 * (siderolabs/image-factory v0.7.2 internal/artifacts/schematic.go schematicExtension, extraInfo the schematic YAML
 * for Talos >= 1.7). The lab does not know the manifests of official extensions, so it lists only the schematic,
 * at the index it has after them.
 */
export function extensionStatuses(n: LabNode): ModelResource[] {
  const id = runningSchematic(n)
  if (!id) return []
  const yaml = schematicYaml(id)
  const official = yaml ? (parseSchematic(yaml).customization.systemExtensions?.officialExtensions?.length ?? 0) : 0
  return [
    {
      id: String(official),
      owner: 'runtime.ExtensionStatusController',
      spec: {
        image: `${official}.sqsh`,
        metadata: {
          name: 'schematic',
          version: id,
          author: 'Image Factory',
          description: 'Virtual extension which specifies the schematic of the image built with Image Factory.',
          compatibility: { talos: { version: '>= 1.0.0' } },
          ...(yaml ? { extraInfo: yaml } : {}),
        },
      },
    },
  ]
}

/**
 * The Service resources of machined's ServiceController (v1.10.3 internal/app/machined/pkg/controllers/v1alpha1/
 * service.go:72-93): one per service while it runs, its health from the last check (healthy, or unknown before the
 * first); any other state destroys it. `talosctl upgrade-k8s` watches kubelet's to see it restart.
 */
export async function serviceResources(n: LabNode): Promise<ModelResource[]> {
  return (await nodeServices(n))
    .filter((s) => s.state === 'Running')
    .map((s) => ({
      id: s.id,
      owner: 'v1alpha1.ServiceController',
      spec: { running: true, healthy: s.health === 'OK', unknown: s.health === '?' },
    }))
}
