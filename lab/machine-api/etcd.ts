// machined's etcd methods for a lab control plane, answered by the machine's real etcd (lab/etcd-client.ts).
// v1.10.3 internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go: EtcdStatus, EtcdMemberList,
// EtcdAlarmList, EtcdRemoveMemberByID; each starts with checkControlplane and a local client.
import type { EtcdClient } from '../etcd-client.ts'
import { etcdClient } from '../node-services.ts'
import { isAlive } from '../processes.ts'
import type { LabNode } from '../state.ts'
import { ModelError } from './errors.ts'

/** checkControlplane: workers answer Unimplemented "<api> is only available on control plane nodes". */
export function controlPlaneOnly(n: LabNode, api: string): void {
  if (n.role !== 'controlplane')
    throw new ModelError('Unimplemented', `${api} is only available on control plane nodes`)
}

/** etcd.NewLocalClient fails when the machine's etcd does not answer. */
export async function localEtcd(n: LabNode): Promise<EtcdClient> {
  const fail = () => new ModelError('Unknown', 'failed to create etcd client: context deadline exceeded')
  if (!isAlive(n.etcd.pid)) throw fail()
  const c = etcdClient(n, 2000)
  try {
    await c.status()
  } catch {
    throw fail()
  }
  return c
}

export async function EtcdStatus(n: LabNode): Promise<unknown> {
  controlPlaneOnly(n, 'etcd status')
  const st = await (await localEtcd(n)).status()
  return {
    messages: [
      {
        member_status: {
          member_id: st.header.member_id,
          protocol_version: st.version,
          db_size: st.dbSize,
          db_size_in_use: st.dbSizeInUse,
          leader: st.leader,
          raft_index: st.raftIndex,
          raft_term: st.raftTerm,
          raft_applied_index: st.raftAppliedIndex,
          errors: st.errors ?? [],
          is_learner: st.isLearner === true,
        },
      },
    ],
  }
}

/**
 * EtcdMemberList: talosctl etcd members sends QueryLocal (v1.10.3 cmd/talosctl/cmd/talos/etcd.go:211), so machined asks
 * the machine's own etcd (v1alpha1_server.go:1767-1768) with require-leader (line 1780). etcd refuses a learner every
 * RPC but Status and serializable Range (etcd v3.5.21 server/etcdserver/api/v3rpc/interceptor.go:52-54, util.go:140-149)
 * and a require-leader call without a leader (interceptor.go:64-68). Both are Unavailable statuses that clientv3 turns
 * into an rpctypes.EtcdError (client/v3 client.go:578-585, api/v3rpc/rpctypes/error.go:140,150), which carries no gRPC
 * status: machined's answer is Unknown with etcd's text.
 */
export async function EtcdMemberList(
  n: LabNode,
  req: { query_local?: boolean; queryLocal?: boolean } = {},
): Promise<unknown> {
  controlPlaneOnly(n, 'etcd member list')
  const c = await localEtcd(n)
  // without QueryLocal (talosctl health: pkg/cluster/check/etcd.go:41,102) machined's client has every control plane
  // as an endpoint and clientv3 retries an Unavailable answer on the next one; the lab still answers from this
  // machine's etcd, as before
  if (req.query_local === true || req.queryLocal === true) {
    const st = await c.status()
    if (st.isLearner === true) throw new ModelError('Unknown', 'etcdserver: rpc not supported for learner')
    if (!st.leader || st.leader === '0') throw new ModelError('Unknown', 'etcdserver: no leader')
  }
  const ms = await c.members()
  return {
    messages: [
      {
        // a member that never started has no name: the gateway leaves the field out (proto3 JSON), Talos sends ""
        legacy_members: ms.map((m) => m.name ?? ''),
        members: ms.map((m) => ({
          id: m.ID,
          hostname: m.name ?? '',
          peer_urls: m.peerURLs,
          client_urls: m.clientURLs ?? [],
          is_learner: m.isLearner === true,
        })),
      },
    ],
  }
}

export async function EtcdAlarmList(n: LabNode): Promise<unknown> {
  controlPlaneOnly(n, 'etcd alarm list')
  const list = await (await localEtcd(n)).alarms()
  return { messages: [{ member_alarms: list.map((a) => ({ member_id: a.memberID, alarm: a.alarm })) }] }
}

/** EtcdRemoveMemberByID: an unknown member is NotFound "member not found" (rpctypes.ErrMemberNotFound). */
export async function EtcdRemoveMemberByID(
  n: LabNode,
  req: { member_id?: string; memberId?: string },
): Promise<unknown> {
  controlPlaneOnly(n, 'etcd remove member')
  const id = BigInt(req.memberId ?? req.member_id ?? '0').toString()
  const c = await localEtcd(n)
  if (!(await c.members()).some((m) => m.ID === id)) throw new ModelError('NotFound', 'member not found')
  await c.removeMember(id)
  return { messages: [{}] }
}
