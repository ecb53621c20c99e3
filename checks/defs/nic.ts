// solana.nic: the validator's link runs with the channels, rings and features validator.nic asks for (an
// EthernetConfig document, config/nic.ts), read back from Talos's EthernetStatus (lib/talos/ethernet-status.ts).
//
// When Talos cannot apply the document, nothing in the status says so: EthernetSpecController returns the ethtool
// error (v1.10.3 controllers/network/ethernet_spec.go:79-87: "error configuring <link>: error updating channels:
// ..."), the controller runtime logs it as "controller failed" and retries with backoff, and the status keeps the
// values the NIC has. So the check compares values, and names the likely cause from the status itself: a wanted
// count beyond the `*-max` the driver reports (the kernel refuses it: net/ethtool/channels.c, rings.c), or a
// "[fixed]" feature. The controller's own words are in `talosctl -n <node> logs controller-runtime`.
import { names, validatorNodes, type CheckNode } from '../engine/inventory.ts'
import { fail, nodeValue, pass, worded } from '../engine/results.ts'
import { defineCheck, type Result } from '../engine/types.ts'
import { CHANNEL_KEYS, RING_KEYS, nicLinkName, type NicTuning } from '../../config/nic.ts'
import { featureState, type EthernetStatus } from '../../lib/talos/ethernet-status.ts'

const ID = 'solana.nic'

export interface NicJudgement {
  ok: boolean
  /** One line per setting that differs, with its likely cause. */
  problems: string[]
  /** SEEN and WANTED fit the table's column: settings as asked out of settings asked for. */
  seen: string
  wanted: string
  /** The values read, in the document's words, for the message: "channels combined 2, rings rx 4096/tx 4096, 3/3 features". */
  detail: string
}

type Counts = Partial<Record<string, number>>
/** channels or rings, wanted or seen, as name → count (interfaces have no index signature to read them by key) */
const C = (o: object | undefined) => o as Counts | undefined

/** "combined 2, rx 4096/tx 4096": the counts of one group, in the document's key order. */
const words = (label: string, keys: readonly string[], c: Counts | undefined) => {
  const set = keys.filter((k) => c?.[k] !== undefined)
  return set.length ? `${label} ${set.map((k) => `${k} ${c![k]}`).join('/')}` : undefined
}

function countProblems(group: 'channels' | 'rings', want: Counts | undefined, have: Counts | undefined): string[] {
  return Object.entries(want ?? {}).flatMap(([k, w]) => {
    const h = have?.[k]
    if (h === w) return []
    const max = have?.[`${k}-max`]
    const why =
      max !== undefined && w! > max
        ? `: beyond ${k}-max ${max}, so the driver refused it`
        : h === undefined
          ? ': the driver reports no such setting'
          : ''
    return [`${group} ${k} is ${h ?? '(none)'}, want ${w}${why}`]
  })
}

function featureProblems(want: Record<string, boolean> | undefined, have: Record<string, string>): string[] {
  return Object.entries(want ?? {}).flatMap(([name, on]) => {
    const status = have[name]
    if (status === undefined) return [`feature ${name}: the driver has no such feature`]
    const s = featureState(status)
    if (s.on === on) return []
    return [
      `feature ${name} is ${status}, want ${on ? 'on' : 'off'}${s.fixed ? ': the driver does not let it change' : ''}`,
    ]
  })
}

/** validator.nic against the link's EthernetStatus: every asked-for value, nothing else. */
export function judgeNic(nic: NicTuning, status: EthernetStatus): NicJudgement {
  const problems = [
    ...countProblems('channels', C(nic.channels), C(status.channels)),
    ...countProblems('rings', C(nic.rings), C(status.rings)),
    ...featureProblems(nic.features, status.features),
  ]
  const wantFeatures = Object.entries(nic.features ?? {})
  const featuresRight = wantFeatures.filter(
    ([n, on]) => status.features[n] && featureState(status.features[n]!).on === on,
  )
  const shown = (c: Counts | undefined, keys: readonly string[], of: Counts | undefined) =>
    Object.fromEntries(keys.filter((k) => of?.[k] !== undefined).map((k) => [k, c?.[k] ?? '-'])) as Counts
  const join = (parts: (string | undefined)[]) => parts.filter(Boolean).join(', ')
  // one problem per setting that is not as asked
  const total = Object.keys(nic.channels ?? {}).length + Object.keys(nic.rings ?? {}).length + wantFeatures.length
  return {
    ok: problems.length === 0,
    problems,
    wanted: `${total} settings`,
    seen: `${total - problems.length}/${total} as asked`,
    detail: join([
      words('channels', CHANNEL_KEYS, shown(C(status.channels), CHANNEL_KEYS, C(nic.channels))),
      words('rings', RING_KEYS, shown(C(status.rings), RING_KEYS, C(nic.rings))),
      wantFeatures.length ? `${featuresRight.length}/${wantFeatures.length} features` : undefined,
    ]),
  }
}

/** The link validator.nic tunes on this node (config/nic.ts nicLinkName: the inventory lint made sure there is one). */
const linkOf = (nic: NicTuning, node: CheckNode) => nicLinkName(nic, node.network?.link)

export const solanaNic = defineCheck({
  id: ID,
  group: 'solana',
  title: "the validator's link has the channels, rings and features of validator.nic",
  targets: (inv) => (inv.validator?.nic ? names(validatorNodes(inv)) : []),
  needs: ['ethernetStatus'],
  evaluate: ({ ethernetStatus }, inv) => {
    const nic = inv.validator?.nic
    if (!nic) return []
    return validatorNodes(inv).flatMap((node): Result[] => {
      const v = nodeValue(ethernetStatus, node.name, ID, 'EthernetStatus')
      if ('fail' in v) return [v.fail]
      const link = linkOf(nic, node) ?? '(unnamed)'
      const target = `${node.name}/${link}`
      const status = v.value[link]
      const asked = worded(nic, judgeNic(nic, { features: {} }).wanted)
      if (!status)
        return [
          fail(
            ID,
            target,
            null,
            asked,
            `${node.name} has no EthernetStatus for ${link} (it has: ${Object.keys(v.value).join(', ') || 'none'}): is validator.nic.link the link's name?`,
          ),
        ]
      const j = judgeNic(nic, status)
      const seen = worded(status, j.seen)
      const wanted = worded(nic, j.wanted)
      return j.ok
        ? [pass(ID, target, seen, wanted, `${link}: ${j.detail}, as validator.nic asks`)]
        : [
            fail(
              ID,
              target,
              seen,
              wanted,
              `${node.name} ${link}: ${j.problems.join('; ')} (Talos logs why it could not apply the EthernetConfig: talosctl -n ${node.address} logs controller-runtime | grep EthernetSpecController)`,
            ),
          ]
    })
  },
})

export const nicChecks = [solanaNic]
