// JSON schema (draft-07, ajv) for inventory/*.yaml: the structure, types and closed enums. Every object is
// closed (`additionalProperties: false`) so a typo such as `instalDisk:` is an error, not a silently ignored
// field. Rules ajv cannot express (counts, uniqueness, address formats, cross-field sums, hardware limits)
// live in config/inventory.ts. `x-message` replaces ajv's generic pattern message with one a human can act on.

import { nicSchema } from './nic.ts'

const str = { type: 'string', minLength: 1 }
const quantity = {
  type: 'string',
  pattern: '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$',
  'x-message': 'must be a Kubernetes quantity string such as 500Mi, 2Gi or 1000m',
}
const byteSize = {
  type: 'string',
  pattern: '^[0-9]+(\\.[0-9]+)?\\s*(B|kB|KB|KiB|MB|MiB|GB|GiB|TB|TiB|PB|PiB)?$',
  'x-message': 'must be a size such as 100GiB or 2TB',
}
const closed = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: 'object',
  additionalProperties: false,
  properties,
  required,
})
const stringMap = (valueSchema: unknown = { type: 'string' }) => ({ type: 'object', additionalProperties: valueSchema })

/** A huge-page pool: pages of one size per NUMA node (validator.hugepages is one or a list of them). */
const hugepagePool = closed(
  {
    size: { enum: ['1Gi', '2Mi'] },
    perNumaNode: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } },
  },
  ['size', 'perNumaNode'],
)

/** A node's BMC (IPMI over LAN, driven with ipmitool): the password is in a 0600 file, never in the inventory. */
const bmc = closed(
  {
    type: { enum: ['ipmi'] },
    address: str,
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    username: str,
    passwordFile: str,
    cipherSuite: { type: 'integer', minimum: 0, maximum: 17 },
  },
  ['type', 'address', 'username', 'passwordFile'],
)

const rescueProps = {
  host: str,
  port: { type: 'integer', minimum: 1, maximum: 65535 },
  user: str,
  keyFile: str,
  hostKeyFingerprint: {
    type: 'string',
    pattern: '^(SHA256:[A-Za-z0-9+/]{43}=?|file:.+)$',
    'x-message': 'must be SHA256:<43 base64 chars> (as ssh-keygen -lf prints) or file:PATH',
  },
  imageUrl: {
    type: 'string',
    pattern: '^(file://|https?://).+$',
    'x-message': 'must be a file://, https:// or http:// URL',
  },
}

export const inventorySchema = closed(
  {
    cluster: closed(
      {
        name: str,
        target: { enum: ['lab', 'production'] },
        endpoint: str,
        vip: str,
        talosVersion: {
          type: 'string',
          pattern: '^v[0-9]+\\.[0-9]+\\.[0-9]+$',
          'x-message': 'must be a Talos version such as v1.10.3',
        },
        kubernetesVersion: {
          type: 'string',
          pattern: '^v[0-9]+\\.[0-9]+\\.[0-9]+$',
          'x-message': 'must be a Kubernetes version such as v1.33.1',
        },
        /** The Image Factory 01 and 09 register schematics with and fetch images from (default https://factory.talos.dev). */
        imageFactory: {
          type: 'string',
          pattern: '^https?://[^/?#@]+(/[^?#]*)?$',
          'x-message': "must be the factory's base URL, such as https://factory.talos.dev",
        },
        /** Optional: an installer image of its own (a custom build); default: the factory's, for the node's schematic. */
        installerImage: str,
        outputDir: str,
        /** The nodes' subnet (CIDR): etcd advertisedSubnets and kubelet nodeIP.validSubnets. Default: each node's static address. */
        nodeSubnet: str,
        /** etcd --quota-backend-bytes; the etcd check compares the DB size against it. */
        etcdQuotaBytes: { type: 'integer', minimum: 1 },
        /** The etcd backup check warns when the newest snapshot in <outputDir>/backups is older (Go duration, default 24h). */
        etcdBackupMaxAge: {
          type: 'string',
          pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$',
          'x-message': 'must be a duration such as 24h, 12h or 90m',
        },
      },
      ['name', 'target', 'endpoint', 'talosVersion', 'kubernetesVersion', 'outputDir'],
    ),
    defaults: closed({ rescue: closed(rescueProps) }),
    nodes: {
      type: 'array',
      minItems: 1,
      items: closed(
        {
          name: str,
          address: str,
          role: { enum: ['controlplane', 'worker'] },
          profile: { enum: ['validator'] },
          installDisk: str,
          rescue: closed(rescueProps),
          bmc,
          lab: closed({ hardware: str }, ['hardware']),
          /** The one link Talos configures on this node (and puts the VIP on, for control planes). */
          network: closed(
            {
              link: closed({ mac: str, busPath: str, name: str }),
              /** Every other physical port of the machine: rendered with ignore: true (no DHCP, no address, no route). */
              otherLinks: { type: 'array', items: closed({ mac: str, busPath: str, name: str }) },
              /** static address in CIDR form; without it the link uses DHCP */
              address: str,
              gateway: str,
            },
            ['link'],
          ),
        },
        ['name', 'address', 'role', 'installDisk'],
      ),
    },
    validator: closed(
      {
        /** One pool { size, perNumaNode } or a list of pools, one per size (config/hugepages.ts). */
        hugepages: {
          ...hugepagePool,
          type: ['object', 'array'],
          items: hugepagePool,
          minItems: 1,
          maxItems: 2,
          'x-message': 'must be a pool { size, perNumaNode } or a list of pools, one per size',
        },
        cpuManagerPolicy: { enum: ['none', 'static'] },
        topologyManagerPolicy: { enum: ['none', 'best-effort', 'restricted', 'single-numa-node'] },
        topologyManagerScope: { enum: ['container', 'pod'] },
        reservedSystemCpus: {
          type: 'string',
          pattern: '^$|^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$',
          'x-message': 'must be a cpuset list such as "0,1" or "0-3,32-35"',
        },
        // cpufreq.default_governor= in the validator's schematic (config/render.ts cpuIsolationKernelArgs)
        cpuGovernor: { enum: ['performance', 'schedutil'] },
        systemReserved: {
          ...closed({
            cpu: quantity,
            memory: quantity,
            'ephemeral-storage': quantity,
            pid: { type: 'string', pattern: '^[0-9]+$' },
          }),
        },
        kubeReserved: {
          ...closed({
            cpu: quantity,
            memory: quantity,
            'ephemeral-storage': quantity,
            pid: { type: 'string', pattern: '^[0-9]+$' },
          }),
        },
        evictionHard: closed({
          'memory.available': {
            type: 'string',
            pattern: '^[0-9]+(\\.[0-9]+)?(%|k|Ki|M|Mi|G|Gi|T|Ti)?$',
            'x-message': 'must be a quantity (500Mi) or a percentage (5%)',
          },
          'nodefs.available': {
            type: 'string',
            pattern: '^[0-9]+(\\.[0-9]+)?(%|Ki|Mi|Gi|Ti)?$',
            'x-message': 'must be a quantity or a percentage',
          },
          'nodefs.inodesFree': {
            type: 'string',
            pattern: '^[0-9]+(\\.[0-9]+)?%?$',
            'x-message': 'must be a number or a percentage',
          },
          'imagefs.available': {
            type: 'string',
            pattern: '^[0-9]+(\\.[0-9]+)?(%|Ki|Mi|Gi|Ti)?$',
            'x-message': 'must be a quantity or a percentage',
          },
          'imagefs.inodesFree': {
            type: 'string',
            pattern: '^[0-9]+(\\.[0-9]+)?%?$',
            'x-message': 'must be a number or a percentage',
          },
          'pid.available': {
            type: 'string',
            pattern: '^[0-9]+(\\.[0-9]+)?%?$',
            'x-message': 'must be a number or a percentage',
          },
        }),
        reservedMemory: {
          type: 'array',
          items: closed({ numaNode: { type: 'integer', minimum: 0 }, memory: quantity }, ['numaNode', 'memory']),
        },
        /** The validator pod's requests (= limits, Guaranteed QoS): sized against one NUMA node; 07 uses them. */
        pod: closed(
          {
            cpus: { type: 'integer', minimum: 1 },
            memory: quantity,
            /** A quantity of the default (largest) page size, or one per size: { 1Gi: 16Gi, 2Mi: 512Mi }. */
            hugepages: {
              ...quantity,
              type: ['string', 'object'],
              additionalProperties: false,
              properties: { '1Gi': quantity, '2Mi': quantity },
              minProperties: 1,
              'x-message': 'must be a quantity such as 16Gi, or one per page size: { 1Gi: 16Gi, 2Mi: 512Mi }',
            },
          },
          ['cpus', 'memory', 'hugepages'],
        ),
        sysctls: stringMap({
          type: 'string',
          'x-message': 'sysctl values must be strings: quote the number (Talos machine.sysctls is a map of strings)',
        }),
        kernelModules: { type: 'array', items: str },
        kernelArgs: { type: 'array', items: str },
        /** fdctl's [net] provider: which of its sysctl checks apply (and which sysctls the validator renders). */
        netProvider: { enum: ['xdp', 'socket'] },
        /** Rendered as an inline manifest with PodSecurity level privileged (config/render.ts validatorNamespaceManifest). */
        namespace: {
          type: 'string',
          pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$',
          not: { enum: ['kube-system', 'kube-public', 'kube-node-lease', 'default'] },
          'x-message': 'must be a namespace name of your own (an RFC 1123 label such as solana), not a system one',
        },
        // the validator's own installer image: its schematic carries the kernel args above (lib/render.ts installerImageFor)
        installerImage: str,
        storage: {
          type: 'array',
          items: closed(
            {
              name: str,
              /** The volume's one disk (config/volume-disk.ts): exactly one of serial, wwid, size (a checked rule). */
              disk: closed({ serial: str, wwid: str, size: closed({ min: byteSize, max: byteSize }, ['min', 'max']) }),
              /** Refused with a migration message (config/inventory.ts checkVolumeDisk): kept here to say so. */
              diskSelector: str,
              minSize: byteSize,
              maxSize: byteSize,
              filesystem: { enum: ['xfs', 'ext4'] },
              mountPoint: str,
              /** The validator's directory in the volume, default <mountPoint>/data (config/inventory.ts dataDirProblem). */
              dataDir: str,
              owner: closed({ uid: { type: 'integer', minimum: 0 }, gid: { type: 'integer', minimum: 0 } }, [
                'uid',
                'gid',
              ]),
              mode: {
                type: 'string',
                pattern: '^0?[0-7]{3,4}$',
                'x-message': 'must be an octal mode string such as "0750" (quote it: YAML reads 0750 as a number)',
              },
            },
            ['name', 'filesystem', 'mountPoint', 'owner', 'mode'],
          ),
        },
        labels: stringMap({ type: 'string', 'x-message': 'label values must be strings: quote them' }),
        taints: {
          type: 'array',
          items: closed(
            {
              key: str,
              value: { type: 'string' },
              effect: { enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] },
            },
            ['key', 'effect'],
          ),
        },
        // the validator's link's channels, rings and offloads: an EthernetConfig document (config/nic.ts)
        nic: nicSchema,
        // 09-upgrade's restart window reads the validator's leader schedule here
        solana: closed(
          {
            rpcUrl: {
              type: 'string',
              pattern: '^https?://[^\\s]+$',
              'x-message': 'must be an http(s) URL of a Solana JSON-RPC endpoint',
            },
            identity: {
              type: 'string',
              pattern: '^[1-9A-HJ-NP-Za-km-z]{32,44}$',
              'x-message': "must be the validator's identity public key (base58)",
            },
          },
          ['rpcUrl', 'identity'],
        ),
      },
      ['hugepages'],
    ),
  },
  ['cluster', 'nodes'],
)
