// `talosctl get extensions`: the ExtensionStatus resources of the node's installed image. An Image Factory image
// carries one "virtual" extension named "schematic" whose version is the schematic ID
// (website/content/v1.10/learn-more/image-factory.md at v1.10.3, "Find Schematic ID from Talos Installation"); the
// type, alias and print columns are pkg/machinery/resources/runtime/extension_status.go at v1.10.3, the spec is
// extensions.Layer (pkg/machinery/extensions/config.go: image, metadata{name, version, author, description, compatibility}).
import type { LabNode } from '../state.ts'
import type { ResourceDef } from './resource-types.ts'

/** The schematic ID of an Image Factory installer reference (<host>/<variant>installer/<id>:<tag>). */
export function schematicOfImage(image: string | undefined): string | undefined {
  return image ? /\/([0-9a-f]{64}):[^:/]+(@sha256:[0-9a-f]{64})?$/.exec(image)?.[1] : undefined
}

export const extensionStatusDef: ResourceDef = {
  type: 'ExtensionStatuses.runtime.talos.dev',
  displayType: 'ExtensionStatus',
  namespace: 'runtime',
  aliases: ['extensions'],
  maintenance: false,
  columns: [
    ['Name', (s) => s.metadata.name],
    ['Version', (s) => s.metadata.version],
  ],
  list: (n: LabNode) => {
    const id = schematicOfImage(n.installedImage)
    if (!id) return []
    const metadata = {
      name: 'schematic',
      version: id,
      author: 'Image Factory',
      description: 'This extension is used to identify the schematic used to build the image.',
      compatibility: { talos: { version: '' } },
    }
    return [{ id: '0', version: 1, owner: 'runtime.ExtensionStatusController', spec: { image: '', metadata } }]
  },
}
