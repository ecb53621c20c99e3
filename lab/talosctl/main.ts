// Lab talosctl: the talosctl v1.10.3 command line (cobra-style parsing, errors and exit codes) over the lab
// state. Command modules are imported lazily so a call stays fast.
import type { GlobalArgs } from './common.ts'
// a command-line usage error: talosctl prints the usage after it
import { UsageError } from '../../lib/runner/flags.ts'
import * as io from './io.ts'

export type FlagType = 'bool' | 'string' | 'strings' | 'duration' | 'int'
export interface FlagSpec {
  name: string
  short?: string
  type: FlagType
  default?: string | boolean | string[] | number
  help: string
  hidden?: boolean
}
import type { Flags, RunContext } from './context.ts'
export type { Flags, RunContext }
type Loader = () => Promise<(ctx: RunContext) => Promise<void>>
interface Cmd {
  name: string
  aliases?: string[]
  use: string
  short: string
  flags?: FlagSpec[]
  args?: [number, number] // min, max (Infinity)
  run?: Loader
  sub?: Cmd[]
}

const mod =
  (load: () => Promise<Record<string, any>>, fn: string): Loader =>
  async () =>
    (await load())[fn]

const insecure: FlagSpec = { name: 'insecure', short: 'i', type: 'bool', help: 'use Talos maintenance mode API' }
const modeFlag: FlagSpec = { name: 'mode', short: 'm', type: 'string', default: 'auto', help: 'apply config mode' }

const COMMANDS: Cmd[] = [
  {
    name: 'version',
    use: 'version',
    short: 'Prints the version',
    args: [0, 0],
    run: mod(() => import('./info.ts'), 'version'),
    flags: [
      { name: 'short', type: 'bool', help: 'Print the short version' },
      { name: 'client', type: 'bool', help: 'Print client version only' },
      insecure,
      { name: 'json', type: 'bool', help: '', hidden: true },
    ],
  },
  {
    name: 'get',
    aliases: ['g'],
    use: 'get <type> [<id>]',
    short: "Get a specific resource or list of resources (use 'talosctl get rd' to see all available resource types).",
    args: [1, 2],
    run: mod(() => import('./get.ts'), 'get'),
    flags: [
      {
        name: 'namespace',
        type: 'string',
        default: '',
        help: 'resource namespace (default is to use default namespace per resource)',
      },
      {
        name: 'output',
        short: 'o',
        type: 'string',
        default: 'table',
        help: 'output mode (json, table, yaml, jsonpath)',
      },
      { name: 'watch', short: 'w', type: 'bool', help: 'watch resource changes' },
      { ...insecure, help: 'get resources using the insecure (encrypted with no auth) maintenance service' },
    ],
  },
  {
    name: 'etcd',
    use: 'etcd',
    short: 'Manage etcd',
    sub: [
      {
        name: 'status',
        use: 'status',
        short: 'Get the status of etcd cluster member',
        args: [0, 0],
        run: mod(() => import('./etcd.ts'), 'status'),
      },
      {
        name: 'members',
        use: 'members',
        short: 'Get the list of etcd cluster members',
        args: [0, 0],
        run: mod(() => import('./etcd.ts'), 'members'),
      },
      {
        name: 'leave',
        use: 'leave',
        short: 'Tell nodes to leave etcd cluster',
        args: [0, 0],
        run: mod(() => import('./etcd.ts'), 'leave'),
      },
      {
        name: 'forfeit-leadership',
        use: 'forfeit-leadership',
        short: 'Tell node to forfeit etcd cluster leadership',
        args: [0, 0],
        run: mod(() => import('./etcd.ts'), 'forfeitLeadership'),
      },
      {
        name: 'remove-member',
        use: 'remove-member <member ID>',
        short: 'Remove the node from etcd cluster',
        args: [1, 1],
        run: mod(() => import('./etcd.ts'), 'removeMember'),
      },
      {
        name: 'snapshot',
        use: 'snapshot <path>',
        short: 'Stream snapshot of the etcd node to the path.',
        args: [1, 1],
        run: mod(() => import('./etcd-snapshot.ts'), 'snapshot'),
      },
      {
        name: 'alarm',
        use: 'alarm',
        short: 'Manage etcd alarms',
        sub: [
          {
            name: 'list',
            use: 'list',
            short: 'List the etcd alarms for the node.',
            args: [0, 0],
            run: mod(() => import('./etcd.ts'), 'alarmList'),
          },
          {
            name: 'disarm',
            use: 'disarm',
            short: 'Disarm the etcd alarms for the node.',
            args: [0, 0],
            run: mod(() => import('./etcd.ts'), 'alarmDisarm'),
          },
        ],
      },
    ],
  },
  {
    name: 'service',
    aliases: ['services'],
    use: 'service [<id> [start|stop|restart|status]]',
    short: 'Retrieve the state of a service (or all services), control service state',
    args: [0, 2],
    run: mod(() => import('./service.ts'), 'service'),
  },
  {
    name: 'health',
    use: 'health',
    short: 'Check cluster health',
    args: [0, 0],
    run: mod(() => import('./health.ts'), 'health'),
    flags: [
      { name: 'init-node', type: 'string', default: '', help: 'specify IPs of init node' },
      { name: 'control-plane-nodes', type: 'strings', default: [], help: 'specify IPs of control plane nodes' },
      { name: 'worker-nodes', type: 'strings', default: [], help: 'specify IPs of worker nodes' },
      { name: 'wait-timeout', type: 'duration', default: '20m0s', help: 'timeout to wait for the cluster to be ready' },
      { name: 'k8s-endpoint', type: 'string', default: '', help: 'use endpoint instead of kubeconfig default' },
      { name: 'server', type: 'bool', default: true, help: 'run server-side check' },
      { name: 'run-e2e', type: 'bool', help: 'run Kubernetes e2e test' },
    ],
  },
  {
    name: 'read',
    aliases: ['cat'],
    use: 'read <path>',
    short: 'Read a file on the machine',
    args: [1, 1],
    run: mod(() => import('./files.ts'), 'read'),
  },
  {
    name: 'list',
    aliases: ['ls'],
    use: 'list [path]',
    short: 'Retrieve a directory listing',
    args: [0, 1],
    run: mod(() => import('./files.ts'), 'list'),
    flags: [
      { name: 'long', short: 'l', type: 'bool', help: 'display additional file details' },
      { name: 'recurse', short: 'r', type: 'bool', help: 'recurse into subdirectories' },
      { name: 'depth', short: 'd', type: 'int', default: 1, help: 'maximum recursion depth' },
      { name: 'humanize', short: 'H', type: 'bool', help: 'humanize size and time in the output' },
      { name: 'type', short: 't', type: 'strings', default: [], help: 'filter by specified types' },
    ],
  },
  {
    name: 'dmesg',
    use: 'dmesg',
    short: 'Retrieve kernel logs',
    args: [0, 0],
    run: mod(() => import('./files.ts'), 'dmesg'),
    flags: [
      { name: 'follow', short: 'f', type: 'bool', help: 'specify if the kernel log should be streamed' },
      {
        name: 'tail',
        type: 'bool',
        help: 'specify if only new messages should be sent (makes sense only when combined with --follow)',
      },
    ],
  },
  {
    name: 'apply-config',
    aliases: ['apply'],
    use: 'apply-config',
    short: 'Apply a new configuration to a node',
    args: [0, 1],
    run: mod(() => import('./apply.ts'), 'applyConfig'),
    flags: [
      { name: 'file', short: 'f', type: 'string', default: '', help: 'the filename of the updated configuration' },
      { ...insecure, help: 'apply the config using the insecure (encrypted with no auth) maintenance service' },
      { name: 'dry-run', type: 'bool', help: 'check how the config change will be applied in dry-run mode' },
      {
        name: 'cert-fingerprint',
        type: 'strings',
        default: [],
        help: 'list of server certificate fingeprints to accept (defaults to no check)',
      },
      {
        name: 'config-patch',
        short: 'p',
        type: 'strings',
        default: [],
        help: 'the list of config patches to apply to the local config file before sending it to the node',
      },
      {
        name: 'timeout',
        type: 'duration',
        default: '1m0s',
        help: 'the config will be rolled back after specified timeout (if try mode is selected)',
      },
      modeFlag,
    ],
  },
  {
    name: 'patch',
    use: 'patch <type> [<id>]',
    short: 'Update field(s) of a resource using a JSON patch.',
    args: [1, 2],
    run: mod(() => import('./apply.ts'), 'patch'),
    flags: [
      {
        name: 'patch',
        short: 'p',
        type: 'strings',
        default: [],
        help: 'the patch to be applied to the resource file, use @file to read a patch from file.',
      },
      {
        name: 'patch-file',
        type: 'string',
        default: '',
        help: 'a file containing a patch to be applied to the resource.',
      },
      {
        name: 'dry-run',
        type: 'bool',
        help: 'print the change summary and patch preview without applying the changes',
      },
      {
        name: 'timeout',
        type: 'duration',
        default: '1m0s',
        help: 'the config will be rolled back after specified timeout (if try mode is selected)',
      },
      modeFlag,
    ],
  },
  {
    name: 'bootstrap',
    use: 'bootstrap',
    short: 'Bootstrap the etcd cluster on the specified node.',
    args: [0, 0],
    run: mod(() => import('./cluster.ts'), 'bootstrap'),
    flags: [
      { name: 'recover-from', type: 'string', default: '', help: 'recover etcd cluster from the snapshot' },
      {
        name: 'recover-skip-hash-check',
        type: 'bool',
        help: 'skip integrity check when recovering etcd (use when recovering from data directory copy)',
      },
    ],
  },
  {
    name: 'kubeconfig',
    use: 'kubeconfig [local-path]',
    short: 'Download the admin kubeconfig from the node',
    args: [0, 1],
    run: mod(() => import('./cluster.ts'), 'kubeconfig'),
    flags: [
      {
        name: 'force',
        short: 'f',
        type: 'bool',
        help: 'Force overwrite of kubeconfig if already present, force overwrite on kubeconfig merge',
      },
      { name: 'merge', short: 'm', type: 'bool', default: true, help: 'Merge with existing kubeconfig' },
      { name: 'force-context-name', type: 'string', default: '', help: 'Force context name for kubeconfig merge' },
    ],
  },
  {
    name: 'reboot',
    use: 'reboot',
    short: 'Reboot a node',
    args: [0, 0],
    run: mod(() => import('./power.ts'), 'reboot'),
    flags: [
      {
        name: 'mode',
        short: 'm',
        type: 'string',
        default: 'default',
        help: 'select the reboot mode: "default", "powercycle" (skips kexec), "force" (skips graceful teardown)',
      },
      {
        name: 'wait',
        type: 'bool',
        default: true,
        help: 'wait for the operation to complete, tracking its progress. always set to true when --debug is set',
      },
      {
        name: 'debug',
        type: 'bool',
        help: 'debug operation from kernel logs. --wait is set to true when this flag is set',
      },
      {
        name: 'timeout',
        type: 'duration',
        default: '30m0s',
        help: 'time to wait for the operation is complete if --debug or --wait is set',
      },
    ],
  },
  {
    name: 'shutdown',
    use: 'shutdown',
    short: 'Shutdown a node',
    args: [0, 0],
    run: mod(() => import('./power.ts'), 'shutdown'),
    flags: [
      { name: 'force', type: 'bool', help: 'if true, force a node to shutdown without a cordon/drain' },
      {
        name: 'wait',
        type: 'bool',
        default: true,
        help: 'wait for the operation to complete, tracking its progress. always set to true when --debug is set',
      },
      {
        name: 'debug',
        type: 'bool',
        help: 'debug operation from kernel logs. --wait is set to true when this flag is set',
      },
      {
        name: 'timeout',
        type: 'duration',
        default: '30m0s',
        help: 'time to wait for the operation is complete if --debug or --wait is set',
      },
    ],
  },
  {
    name: 'reset',
    use: 'reset',
    short: 'Reset a node',
    args: [0, 0],
    run: mod(() => import('./power.ts'), 'reset'),
    flags: [
      {
        name: 'graceful',
        type: 'bool',
        default: true,
        help: 'if true, attempt to cordon/drain node and leave etcd (if applicable)',
      },
      { name: 'reboot', type: 'bool', help: 'if true, reboot the node after resetting instead of shutting down' },
      {
        name: 'system-labels-to-wipe',
        type: 'strings',
        default: [],
        help: 'if set, just wipe selected system disk partitions by label but keep other partitions intact',
      },
      {
        name: 'wait',
        type: 'bool',
        default: true,
        help: 'wait for the operation to complete, tracking its progress. always set to true when --debug is set',
      },
      {
        name: 'debug',
        type: 'bool',
        help: 'debug operation from kernel logs. --wait is set to true when this flag is set',
      },
    ],
  },
  {
    name: 'logs',
    use: 'logs <service name>',
    short: 'Retrieve logs for a service',
    args: [1, 1],
    run: mod(() => import('./service.ts'), 'logs'),
    flags: [
      { name: 'kubernetes', short: 'k', type: 'bool', help: 'use the k8s.io containerd namespace' },
      {
        name: 'tail',
        type: 'int',
        default: -1,
        help: 'lines of log file to display (default is to show from the beginning)',
      },
      { name: 'follow', short: 'f', type: 'bool', help: 'specify if the logs should be streamed' },
    ],
  },
  {
    name: 'upgrade',
    use: 'upgrade',
    short: 'Upgrade Talos on the target node',
    args: [0, 0],
    run: mod(() => import('./power.ts'), 'upgrade'),
    flags: [
      {
        name: 'image',
        short: 'i',
        type: 'string',
        default: '',
        help: 'the container image to use for performing the install',
      },
      { name: 'preserve', short: 'p', type: 'bool', help: 'preserve data' },
      { name: 'stage', short: 's', type: 'bool', help: 'stage the upgrade to perform it after a reboot' },
      {
        name: 'force',
        short: 'f',
        type: 'bool',
        help: 'force the upgrade (skip checks on etcd health and members, might lead to data loss)',
      },
      {
        name: 'insecure',
        type: 'bool',
        help: 'upgrade using the insecure (encrypted with no auth) maintenance service',
      },
      {
        name: 'wait',
        type: 'bool',
        default: true,
        help: 'wait for the operation to complete, tracking its progress. always set to true when --debug is set',
      },
      {
        name: 'debug',
        type: 'bool',
        help: 'debug operation from kernel logs. --wait is set to true when this flag is set',
      },
      {
        name: 'timeout',
        type: 'duration',
        default: '30m0s',
        help: 'time to wait for the operation is complete if --debug or --wait is set',
      },
      {
        name: 'reboot-mode',
        short: 'm',
        type: 'string',
        default: 'default',
        help: 'select the reboot mode during upgrade. Mode "powercycle" bypasses kexec. Valid values are: ["default" "powercycle"].',
      },
    ],
  },
  {
    name: 'rollback',
    use: 'rollback',
    short: 'Rollback a node to the previous installation',
    args: [0, 0],
    run: mod(() => import('./rollback.ts'), 'rollback'),
    flags: [],
  },
  {
    name: 'upgrade-k8s',
    use: 'upgrade-k8s',
    short: 'Upgrade Kubernetes control plane in the Talos cluster.',
    args: [0, 0],
    run: mod(() => import('./upgrade-k8s.ts'), 'upgradeK8s'),
    flags: [
      { name: 'from', type: 'string', default: '', help: 'the Kubernetes control plane version to upgrade from' },
      { name: 'to', type: 'string', default: '1.33.1', help: 'the Kubernetes control plane version to upgrade to' },
      { name: 'endpoint', type: 'string', default: '', help: 'the cluster control plane endpoint' },
      { name: 'dry-run', type: 'bool', help: 'skip the actual upgrade and show the upgrade plan instead' },
      { name: 'pre-pull-images', type: 'bool', default: true, help: 'pre-pull images before upgrade' },
      { name: 'upgrade-kubelet', type: 'bool', default: true, help: 'upgrade kubelet service' },
      {
        name: 'with-examples',
        type: 'bool',
        default: true,
        help: 'patch all machine configs with the commented examples',
      },
      {
        name: 'with-docs',
        type: 'bool',
        default: true,
        help: 'patch all machine configs adding the documentation for each field',
      },
    ],
  },
  {
    name: 'config',
    use: 'config',
    short: 'Manage the client configuration file (talosconfig)',
    flags: [],
    sub: [
      {
        name: 'endpoint',
        aliases: ['endpoints'],
        use: 'endpoint <endpoint>...',
        short: 'Set the endpoint(s) for the current context',
        args: [1, 100],
        run: mod(() => import('./config.ts'), 'endpoint'),
      },
      {
        name: 'node',
        aliases: ['nodes'],
        use: 'node <endpoint>...',
        short: 'Set the node(s) for the current context',
        args: [1, 100],
        run: mod(() => import('./config.ts'), 'node'),
      },
    ],
  },
  {
    name: 'gen',
    use: 'gen',
    short: 'Generate CAs, certificates, and private keys',
    flags: [],
    sub: [
      {
        name: 'secrets',
        use: 'secrets',
        short: 'Generates a secrets bundle file which can later be used to generate a config',
        args: [0, 0],
        run: mod(() => import('./gen.ts'), 'genSecrets'),
        flags: [
          { name: 'output-file', short: 'o', type: 'string', default: 'secrets.yaml', help: 'path of the output file' },
          {
            name: 'talos-version',
            type: 'string',
            default: '',
            help: 'the desired Talos version to generate secrets bundle for (backwards compatibility, e.g. v0.8)',
          },
          {
            name: 'from-controlplane-config',
            type: 'string',
            default: '',
            help: 'use the provided controlplane Talos machine configuration as input',
          },
          {
            name: 'from-kubernetes-pki',
            short: 'p',
            type: 'string',
            default: '',
            help: 'use a Kubernetes PKI directory (e.g. /etc/kubernetes/pki) as input',
          },
          {
            name: 'kubernetes-bootstrap-token',
            short: 't',
            type: 'string',
            default: '',
            help: 'use the provided bootstrap token as input',
          },
        ],
      },
      {
        name: 'config',
        use: 'config <cluster name> <cluster endpoint>',
        short: 'Generates a set of configuration files for Talos cluster',
        args: [2, 2],
        run: mod(() => import('./gen.ts'), 'genConfig'),
        flags: [
          {
            name: 'with-secrets',
            type: 'string',
            default: '',
            help: "use a secrets file generated using 'gen secrets'",
          },
          {
            name: 'output-types',
            short: 't',
            type: 'strings',
            default: ['controlplane', 'worker', 'talosconfig'],
            help: 'types of outputs to be generated. valid types are: ["controlplane" "worker" "talosconfig"]',
          },
          {
            name: 'output',
            short: 'o',
            type: 'string',
            default: '',
            help: 'destination to output generated files. when multiple output types are specified, it must be a directory. for a single output type, it must either be a file path, or "-" for stdout',
          },
          { name: 'install-disk', type: 'string', default: '/dev/sda', help: 'the disk to install to' },
          {
            name: 'install-image',
            type: 'string',
            default: 'ghcr.io/siderolabs/installer:v1.10.3',
            help: 'the image used to perform an installation',
          },
          { name: 'kubernetes-version', type: 'string', default: '1.33.1', help: 'desired kubernetes version to run' },
          {
            name: 'talos-version',
            type: 'string',
            default: '',
            help: 'the desired Talos version to generate config for (backwards compatibility, e.g. v0.8)',
          },
          {
            name: 'config-patch',
            type: 'strings',
            default: [],
            help: 'patch generated machineconfigs (applied to all node types), use @file to read a patch from file',
          },
          {
            name: 'with-docs',
            type: 'bool',
            default: true,
            help: 'renders all machine configs adding the documentation for each field',
          },
          {
            name: 'with-examples',
            type: 'bool',
            default: true,
            help: 'renders all machine configs with the commented examples',
          },
          {
            name: 'additional-sans',
            type: 'strings',
            default: [],
            help: 'additional Subject-Alt-Names for the APIServer certificate',
          },
        ],
      },
    ],
  },
]

const GLOBAL_FLAGS: FlagSpec[] = [
  {
    name: 'talosconfig',
    type: 'string',
    default: '',
    help: "The path to the Talos configuration file. Defaults to 'TALOSCONFIG' env variable if set, otherwise '$HOME/.talos/config' and '/var/run/secrets/talos.dev/config' in order.",
  },
  { name: 'context', type: 'string', default: '', help: 'Context to be used in command' },
  { name: 'nodes', short: 'n', type: 'strings', default: [], help: 'target the specified nodes' },
  {
    name: 'endpoints',
    short: 'e',
    type: 'strings',
    default: [],
    help: 'override default endpoints in Talos configuration',
  },
  { name: 'cluster', type: 'string', default: '', help: 'Cluster to connect to if a proxy endpoint is used.' },
]
const HELP: FlagSpec = { name: 'help', short: 'h', type: 'bool', help: 'help for' }
const GEN_FORCE: FlagSpec = { name: 'force', type: 'bool', help: 'will overwrite existing files' }

function flagLines(flags: FlagSpec[]): string {
  const rows = flags
    .filter((f) => !f.hidden)
    .map((f) => {
      const left = `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.type === 'bool' ? '' : f.type === 'strings' ? ' strings' : f.type === 'duration' ? ' duration' : f.type === 'int' ? ' int' : ' string'}`
      return [left, f.help]
    })
  const w = Math.max(...rows.map((r) => r[0].length))
  return rows.map(([l, h]) => `  ${l.padEnd(w)}   ${h}`).join('\n')
}

function usage(path: string[], cmd: Cmd | undefined, ownFlags: FlagSpec[], inherited: FlagSpec[]): string {
  const name = path.join(' ')
  const lines = ['Usage:']
  if (cmd?.run || !cmd) lines.push(`  ${['talosctl', ...path.slice(1, -1), cmd?.use ?? ''].join(' ').trim()} [flags]`)
  if (cmd?.sub) lines.push(`  ${name} [command]`)
  if (cmd?.aliases?.length) lines.push('', 'Aliases:', `  ${[cmd.name, ...cmd.aliases].join(', ')}`)
  if (cmd?.sub) {
    lines.push('', 'Available Commands:')
    const w = Math.max(...cmd.sub.map((s) => s.name.length))
    for (const s of cmd.sub) lines.push(`  ${s.name.padEnd(w)}   ${s.short}`)
  }
  lines.push('', 'Flags:', flagLines([...ownFlags, { ...HELP, help: `help for ${cmd?.name ?? 'talosctl'}` }]))
  if (inherited.length) lines.push('', 'Global Flags:', flagLines(inherited))
  if (cmd?.sub) lines.push('', `Use "${name} [command] --help" for more information about a command.`)
  return lines.join('\n') + '\n'
}

function parseDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g
  let total = 0
  let m: RegExpExecArray | null
  let consumed = 0
  const mult: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 }
  while ((m = re.exec(s))) {
    total += Number(m[1]) * mult[m[2]]
    consumed += m[0].length
  }
  if (s === '0') return 0
  if (!consumed || consumed !== s.length) throw new Error(`time: invalid duration "${s}"`)
  return total
}

interface Parsed {
  positionals: string[]
  flags: Flags
}

function parseArgs(argv: string[], specs: FlagSpec[], stopAtFirstPositional: boolean): Parsed & { rest: string[] } {
  const flags: Flags = {}
  const positionals: string[] = []
  for (const f of specs)
    flags[f.name] = Array.isArray(f.default)
      ? [...f.default]
      : (f.default ?? (f.type === 'bool' ? false : f.type === 'strings' ? [] : ''))
  const setFlag = (f: FlagSpec, v: string, display: string) => {
    switch (f.type) {
      case 'bool':
        if (!['true', 'false', '1', '0', 't', 'f', 'TRUE', 'FALSE', 'True', 'False'].includes(v))
          throw new UsageError(
            `invalid argument "${v}" for "${display}" flag: strconv.ParseBool: parsing "${v}": invalid syntax`,
          )
        flags[f.name] = ['true', '1', 't', 'TRUE', 'True'].includes(v)
        break
      case 'strings':
        if (!flags.__set?.[f.name]) flags[f.name] = []
        flags[f.name].push(...(v === '' ? [] : v.split(',')))
        break
      case 'duration':
        try {
          flags[f.name] = parseDuration(v)
        } catch (e) {
          throw new UsageError(`invalid argument "${v}" for "${display}" flag: ${(e as Error).message}`)
        }
        break
      case 'int':
        if (!/^-?\d+$/.test(v))
          throw new UsageError(
            `invalid argument "${v}" for "${display}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`,
          )
        flags[f.name] = Number(v)
        break
      default:
        flags[f.name] = v
    }
    flags.__set = { ...(flags.__set ?? {}), [f.name]: true }
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=')
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2)
      const f = specs.find((s) => s.name === name)
      if (!f) {
        if (stopAtFirstPositional) return { positionals, flags, rest: argv.slice(i) }
        throw new UsageError(`unknown flag: --${name}`)
      }
      if (eq >= 0) setFlag(f, a.slice(eq + 1), `--${name}`)
      else if (f.type === 'bool') setFlag(f, 'true', `--${name}`)
      else {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`)
        setFlag(f, argv[++i], `--${name}`)
      }
      continue
    }
    if (a.startsWith('-') && a.length > 1) {
      let j = 1
      while (j < a.length) {
        const c = a[j]
        const f = specs.find((s) => s.short === c)
        if (!f) {
          if (stopAtFirstPositional) return { positionals, flags, rest: argv.slice(i) }
          throw new UsageError(`unknown shorthand flag: '${c}' in ${a}`)
        }
        if (f.type === 'bool') {
          if (a[j + 1] === '=') {
            setFlag(f, a.slice(j + 2), `-${c}, --${f.name}`)
            break
          }
          setFlag(f, 'true', `-${c}, --${f.name}`)
          j++
          continue
        }
        let v = a.slice(j + 1)
        if (v.startsWith('=')) v = v.slice(1)
        else if (v === '') {
          if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: '${c}' in -${c}`)
          v = argv[++i]
        }
        setFlag(f, v, `-${c}, --${f.name}`)
        break
      }
      continue
    }
    if (stopAtFirstPositional) return { positionals, flags, rest: argv.slice(i) }
    positionals.push(a)
  }
  return { positionals, flags, rest: [] }
}

function argsError(cmd: Cmd, n: number, path: string[]): string | undefined {
  const [min, max] = cmd.args ?? [0, Infinity]
  if (min === 0 && max === 0 && n > 0) return `unknown command "${'%ARG%'}" for "${path.join(' ')}"`
  if (min === max && n !== min) return `accepts ${min} arg(s), received ${n}`
  if (max === Infinity && n < min) return `requires at least ${min} arg(s), only received ${n}`
  if (min === 0 && n > max) return `accepts at most ${max} arg(s), received ${n}`
  if (n < min || n > max) return `accepts between ${min} and ${max} arg(s), received ${n}`
  return undefined
}

/** Load every command's module now: a long-running daemon must not depend on its bundle's chunks staying on disk. */
export async function preloadCommands(cmds: Cmd[] = COMMANDS): Promise<void> {
  for (const c of cmds) {
    if (c.run) await c.run()
    if (c.sub) await preloadCommands(c.sub)
  }
}

export async function main(argv: string[]): Promise<number> {
  // find the command path: words before the first flag-looking word that name subcommands; global flags may come first
  const words: string[] = []
  const rest: string[] = []
  let cmds: Cmd[] | undefined = COMMANDS
  let cmd: Cmd | undefined
  const path = ['talosctl']
  const flagArgs: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a.startsWith('-')) {
      flagArgs.push(a)
      // value of a known global/command flag that takes an argument
      const name = a.startsWith('--') ? a.slice(2) : a.slice(1)
      const all = [...GLOBAL_FLAGS, ...(cmd?.flags ?? [])]
      const f = a.startsWith('--')
        ? all.find((s) => s.name === name)
        : a.length === 2
          ? all.find((s) => s.short === name)
          : undefined
      if (f && f.type !== 'bool' && !a.includes('=') && i + 1 < argv.length) flagArgs.push(argv[++i])
      continue
    }
    const next: Cmd | undefined = cmds?.find((c) => c.name === a || c.aliases?.includes(a))
    if (next && rest.length === 0) {
      cmd = next
      words.push(a)
      path.push(next.name)
      cmds = next.sub
      continue
    }
    if (!cmd) {
      io.err(`unknown command "${a}" for "talosctl"\n`)
      io.err(
        '\n' +
          usage(['talosctl'], { name: 'talosctl', use: 'talosctl', short: '', sub: COMMANDS }, [], GLOBAL_FLAGS) +
          '\n',
      )
      return 1
    }
    rest.push(a)
    flagArgs.push(a)
  }
  if (!cmd) {
    io.out(
      usage(
        ['talosctl'],
        {
          name: 'talosctl',
          use: 'talosctl',
          short: 'A CLI for out-of-band management of Kubernetes nodes created by Talos',
          sub: COMMANDS,
        },
        [],
        GLOBAL_FLAGS,
      ),
    )
    return 0
  }
  const own = [...(cmd.flags ?? []), ...(path[1] === 'gen' ? [GEN_FORCE] : [])]
  const specs = [...own, ...GLOBAL_FLAGS, HELP]
  let parsed: Parsed
  try {
    parsed = parseArgs(flagArgs, specs, false)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    io.err(e.message + '\n\n' + usage(path, cmd, own, GLOBAL_FLAGS) + '\n')
    return 1
  }
  if (parsed.flags.help) {
    io.out((cmd.short ? cmd.short + '\n\n' : '') + usage(path, cmd, own, GLOBAL_FLAGS))
    return 0
  }
  if (!cmd.run) {
    if (parsed.positionals.length) {
      io.err(
        `unknown command "${parsed.positionals[0]}" for "${path.join(' ')}"\n\n` +
          usage(path, cmd, own, GLOBAL_FLAGS) +
          '\n',
      )
      return 1
    }
    io.out((cmd.short ? cmd.short + '\n\n' : '') + usage(path, cmd, own, GLOBAL_FLAGS))
    return 0
  }
  const argErr = argsError(cmd, parsed.positionals.length, path)
  if (argErr) {
    io.err(argErr.replace('%ARG%', parsed.positionals[0] ?? '') + '\n\n' + usage(path, cmd, own, GLOBAL_FLAGS) + '\n')
    return 1
  }
  const global: GlobalArgs = {
    talosconfig: parsed.flags.talosconfig || undefined,
    context: parsed.flags.context || undefined,
    nodes: parsed.flags.nodes,
    endpoints: parsed.flags.endpoints,
    cluster: parsed.flags.cluster || undefined,
  }
  const run = await cmd.run()
  try {
    await run({ args: parsed.positionals, flags: parsed.flags, global, path: path.join(' ') })
    return 0
  } catch (e) {
    const msg = (e as Error).message
    io.err(msg + '\n')
    if (e instanceof UsageError || /arg\(s\)|flag|command/.test(msg))
      io.err('\n' + usage(path, cmd, own, GLOBAL_FLAGS) + '\n')
    if (io.env('LAB_TALOSCTL_DEBUG')) io.err(`${(e as Error).stack}\n`)
    return 1
  }
}
