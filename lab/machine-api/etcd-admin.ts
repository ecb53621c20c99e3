// machined's etcd administration on a lab control plane, on the machine's real etcd: forfeit leadership.
import type { LabNode } from '../state.ts'
import { ModelError } from './errors.ts'
import { controlPlaneOnly, localEtcd } from './etcd.ts'

/**
 * EtcdForfeitLeadership (v1.10.3 v1alpha1_server.go:1862, internal/pkg/etcd/etcd.go:220 ForfeitLeadership): with one
 * member it fails; a member that is not the leader answers with no member; the leader moves leadership to the first
 * other member of the member list and names it.
 */
export async function EtcdForfeitLeadership(n: LabNode): Promise<unknown> {
  controlPlaneOnly(n, 'etcd forfeit leadership')
  const c = await localEtcd(n)
  const st = await c.status()
  const members = await c.members()
  if (members.length === 1)
    throw new ModelError('Unknown', 'failed to forfeit leadership: cannot forfeit leadership, only one member')
  if (st.leader !== st.header.member_id) return { messages: [{}] }
  const target = members.find((m) => m.ID !== st.header.member_id)!
  await c.moveLeader(target.ID)
  return { messages: [{ member: target.name }] }
}
