/** One resource as the machine model states it: Talos's ID, the controller that owns it, the spec in its YAML field names. */
export interface ModelResource {
  id: string
  owner: string
  spec: Record<string, unknown>
}
