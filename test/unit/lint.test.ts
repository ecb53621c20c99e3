import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  DEFAULT_SCHEMA_PATH,
  formatFindings,
  hasErrors,
  lintMachineConfig,
  RULES,
  SchemaMissingError,
  type Finding,
  type LintOptions,
} from '../../config/lint.ts'

const SCHEMA = fileURLToPath(new URL('../../templates/talos-v1.10.3/config.schema.json', import.meta.url))
const SEED = fileURLToPath(new URL('../fixtures/talos/seed-example-worker.yaml', import.meta.url))
const FIXTURES = new URL('../fixtures/configs/', import.meta.url)
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8')

const lint = (text: string, opts: LintOptions = {}) =>
  lintMachineConfig(text, 'w.yaml', { schemaPath: SCHEMA, ...opts })
const rules = (fs: Finding[]) => fs.map((f) => f.rule)
const only = (fs: Finding[], rule: string) => fs.filter((f) => f.rule === rule)

test('seed-example-worker.yaml: one finding per mistake, each on its own line', () => {
  const text = readFileSync(SEED, 'utf8')
  const fs = lintMachineConfig(text, 'seed-example-worker.yaml', { schemaPath: SCHEMA })
  assert.ok(hasErrors(fs))
  const at = (rule: string) => only(fs, rule).map((f) => [f.line, f.field])
  const lineOf = (needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1
  assert.deepEqual(at('files-outside-var'), [[lineOf('path: /etc/default/grub.d'), 'machine.files[0].path']])
  assert.deepEqual(at('grub-config'), [[lineOf('path: /etc/default/grub.d'), 'machine.files[0].path']])
  assert.deepEqual(at('file-mode-field'), [[lineOf('mode: 0644'), 'machine.files[0].mode']])
  assert.deepEqual(at('sysctl-not-string'), [
    [lineOf('vm.max_map_count'), 'machine.sysctls.vm.max_map_count'],
    [lineOf('vm.dirty_ratio'), 'machine.sysctls.vm.dirty_ratio'],
    [lineOf('net.core.rmem_max'), 'machine.sysctls.net.core.rmem_max'],
  ])
  assert.deepEqual(at('kernel-module-string'), [
    [lineOf('- tcp_bbr'), 'machine.kernel.modules[0]'],
    [lineOf('- sch_fq'), 'machine.kernel.modules[1]'],
  ])
  assert.deepEqual(at('static-cpu-without-reservation'), [
    [lineOf('cpu-manager-policy: static'), 'machine.kubelet.extraArgs.cpu-manager-policy'],
  ])
  assert.equal(only(fs, 'static-cpu-without-reservation')[0].severity, 'error')
  // the GRUB finding hands over the arguments it would have set
  assert.match(
    only(fs, 'grub-config')[0].fix,
    /default_hugepagesz=1G hugepagesz=1G hugepages=100 iommu=pt intel_iommu=on/,
  )
  // the schema's complaints about the same fields are folded into the rules' findings, not repeated
  assert.deepEqual(only(fs, 'schema'), [])
  // `mode: 0644` is octal to Talos: the fix says 0o644, not 420 or 1204
  assert.match(only(fs, 'file-mode-field')[0].fix, /permissions: 0o644/)
  // the bare net.ipv4.tcp_congestion_control: bbr is a string and fine
  assert.ok(!fs.some((f) => f.field === 'machine.sysctls.net.ipv4.tcp_congestion_control'))
})

test('formatFindings: file:line:col: severity[rule]: field: message (fix: ...)', () => {
  const fs = lintMachineConfig(readFileSync(SEED, 'utf8'), 'seed-example-worker.yaml', { schemaPath: SCHEMA })
  const lines = formatFindings(fs).split('\n')
  assert.equal(lines.length, fs.length)
  assert.ok(
    lines.includes(
      'seed-example-worker.yaml:20:5: warning[sysctl-not-string]: machine.sysctls.vm.max_map_count: sysctl value 1048576 is a number: Talos reads it as the string "1048576", but the official JSON schema (and editors using it) reject it (fix: quote it: vm.max_map_count: "1048576")',
    ),
    lines.join('\n'),
  )
  for (const l of lines)
    assert.match(l, /^seed-example-worker\.yaml:\d+:\d+: (error|warning)\[[a-z-]+\]: [^:]+: .+ \(fix: .+\)$/)
})

test('the hand-written good worker fixture lints clean', () => {
  assert.deepEqual(lint(fixture('good-validator-worker.yaml'), { bootloader: 'grub', expectHugepages: true }), [])
})

test('without the schema file the linter refuses instead of doing half its job', () => {
  assert.throws(
    () =>
      lintMachineConfig(fixture('good-validator-worker.yaml'), 'g.yaml', { schemaPath: '/nonexistent/schema.json' }),
    (e: unknown) => e instanceof SchemaMissingError && /\/nonexistent\/schema\.json does not exist/.test(e.message),
  )
})

test('by default the linter validates against the schema shipped in the repo', () => {
  assert.equal(
    DEFAULT_SCHEMA_PATH,
    fileURLToPath(new URL('../../templates/talos-v1.10.3/config.schema.json', import.meta.url)),
  )
  const fs = lintMachineConfig('version: v1alpha1\nmachine:\n  type: worker\n  kublet: {}\n', 'w.yaml')
  assert.deepEqual(
    fs.map((f) => [f.rule, f.field]),
    [['schema', 'machine.kublet']],
  )
})

test('schema rule: unknown fields and wrong types are reported where no rule explains them', () => {
  const fs = lint(
    'version: v1alpha1\nmachine:\n  type: worker\n  instal:\n    disk: /dev/sda\n  kubelet:\n    image: 5\n',
  )
  assert.deepEqual(
    fs.map((f) => [f.rule, f.line, f.column, f.field, f.message]),
    [
      ['schema', 4, 3, 'machine.instal', 'unknown field "instal"'],
      ['schema', 7, 5, 'machine.kubelet.image', 'must be string'],
    ],
  )
  assert.deepEqual(lint('version: v1alpha1\nmachine:\n  type: worker\n'), [])
})

test('yaml syntax errors are findings with a position', () => {
  const fs = lint('machine:\n  type: worker\n  type: controlplane\n')
  assert.deepEqual(
    fs.map((f) => [f.rule, f.line, f.column]),
    [['yaml-syntax', 3, 3]],
  )
  assert.match(fs[0].message, /unique/)
})

// Each rule: a config that trips it and the corrected config that does not.
const EMPTY = '{"policyName":"Static","machineState":{},"checksum":3940083781}'
const MM =
  '  kubelet:\n    extraConfig:\n      memoryManagerPolicy: Static\n      reservedMemory:\n        - numaNode: 0\n          limits: {memory: 1Gi}\n'

const W = (body: string) => `version: v1alpha1\nmachine:\n  type: worker\n${body}`
const EMPTY_CPU = '{"policyName":"static","defaultCpuSet":"","checksum":3083571066}'
const cpuFile = (content = EMPTY_CPU, op = 'create') =>
  `  files:\n    - path: /var/lib/kubelet/cpu_manager_state\n      op: ${op}\n      permissions: 0o600\n      content: '${content}'\n`
const cases: {
  rule: string
  bad: string
  good: string
  opts?: LintOptions
  line: number
  field: string
  severity?: 'error' | 'warning'
}[] = [
  {
    rule: 'files-outside-var',
    bad: W('  files:\n    - content: x\n      path: /etc/foo.conf\n      permissions: 0o644\n      op: create\n'),
    good: W('  files:\n    - content: x\n      path: /var/etc/foo.conf\n      permissions: 0o644\n      op: create\n'),
    line: 6,
    field: 'machine.files[0].path',
  },
  {
    rule: 'grub-config',
    bad: W(
      '  files:\n    - content: GRUB_TIMEOUT=1\n      path: /etc/default/grub\n      permissions: 0o644\n      op: overwrite\n',
    ),
    good: W(
      '  files:\n    - content: timeout=1\n      path: /var/lib/boot.conf\n      permissions: 0o644\n      op: create\n',
    ),
    line: 6,
    field: 'machine.files[0].path',
  },
  {
    rule: 'file-mode-field',
    bad: W('  files:\n    - content: x\n      path: /var/x\n      op: create\n      mode: 0600\n'),
    good: W('  files:\n    - content: x\n      path: /var/x\n      op: create\n      permissions: 0o600\n'),
    line: 8,
    field: 'machine.files[0].mode',
  },
  {
    rule: 'file-op',
    bad: W('  files:\n    - content: x\n      path: /var/x\n      permissions: 0o600\n      op: replace\n'),
    good: W('  files:\n    - content: x\n      path: /var/x\n      permissions: 0o600\n      op: create\n'),
    line: 8,
    field: 'machine.files[0].op',
  },
  {
    rule: 'kernel-module-string',
    bad: W('  kernel:\n    modules:\n      - name: sch_fq\n      - tcp_bbr\n'),
    good: W('  kernel:\n    modules:\n      - name: sch_fq\n      - name: tcp_bbr\n'),
    line: 7,
    field: 'machine.kernel.modules[1]',
  },
  {
    rule: 'sysctl-not-string',
    bad: W('  sysctls:\n    vm.swappiness: 0\n'),
    good: W('  sysctls:\n    vm.swappiness: "0"\n'),
    line: 5,
    field: 'machine.sysctls.vm.swappiness',
    severity: 'warning',
  },
  {
    rule: 'static-cpu-without-reservation',
    bad: W(
      '  kubelet:\n    extraConfig:\n      cpuManagerPolicy: static\n      systemReserved:\n        memory: 2Gi\n',
    ),
    good: W(
      '  kubelet:\n    extraConfig:\n      cpuManagerPolicy: static\n      systemReserved:\n        memory: 2Gi\n        cpu: 500m\n' +
        cpuFile(),
    ),
    line: 6,
    field: 'machine.kubelet.extraConfig.cpuManagerPolicy',
  },
  {
    rule: 'cpu-reservation-overridden',
    bad: W(
      '  kubelet:\n    extraConfig:\n      cpuManagerPolicy: static\n      reservedSystemCPUs: "0,1"\n      kubeReserved:\n        memory: 1Gi\n        cpu: 500m\n',
    ),
    good: W(
      '  kubelet:\n    extraConfig:\n      cpuManagerPolicy: static\n      reservedSystemCPUs: "0,1"\n      kubeReserved:\n        memory: 1Gi\n' +
        cpuFile(),
    ),
    line: 10,
    field: 'machine.kubelet.extraConfig.kubeReserved.cpu',
  },
  {
    rule: 'extra-kernel-args-systemd-boot',
    bad: W('  install:\n    disk: /dev/sda\n    extraKernelArgs:\n      - iommu=pt\n'),
    good: W('  install:\n    disk: /dev/sda\n    extraKernelArgs:\n      - iommu=pt\n'),
    opts: { bootloader: 'systemd-boot' },
    line: 6,
    field: 'machine.install.extraKernelArgs',
    severity: 'warning',
  },
  {
    rule: 'installer-image-unverifiable',
    bad: W('  install:\n    disk: /dev/sda\n    image: ghcr.io/our-org/installer:custom-solana-v1.10.3\n'),
    good: W(
      '  install:\n    disk: /dev/sda\n    image: factory.talos.dev/metal-installer/38b80ca34773658a8c0e12f567aa33baeb080c78e96ca0636a0b5f3dac6879bc:v1.10.3\n',
    ),
    opts: { schematicKernelArgs: ['hugepagesz=1G', 'hugepages=0:4,1:4'] },
    line: 6,
    field: 'machine.install.image',
    severity: 'warning',
  },
  {
    rule: 'hugepages-without-kernel-arg',
    bad: W('  install:\n    disk: /dev/sda\n    extraKernelArgs:\n      - iommu=pt\n'),
    good: W('  install:\n    disk: /dev/sda\n    extraKernelArgs:\n      - hugepagesz=1G\n      - hugepages=0:4,1:4\n'),
    opts: { expectHugepages: true },
    line: 6,
    field: 'machine.install.extraKernelArgs',
  },
  {
    rule: 'eviction-exceeds-reserved',
    bad: W(
      '  kubelet:\n    extraArgs:\n      system-reserved: memory=1Gi\n      kube-reserved: cpu=1,memory=1Gi\n      eviction-hard: memory.available<3Gi\n',
    ),
    good: W(
      '  kubelet:\n    extraArgs:\n      system-reserved: memory=1Gi\n      kube-reserved: cpu=1,memory=1Gi\n      eviction-hard: memory.available<2Gi\n',
    ),
    line: 8,
    field: 'machine.kubelet.extraArgs.eviction-hard',
    severity: 'warning',
  },
  {
    rule: 'topology-without-static-cpu',
    bad: W('  kubelet:\n    extraConfig:\n      topologyManagerPolicy: single-numa-node\n'),
    good: W(
      '  kubelet:\n    extraConfig:\n      topologyManagerPolicy: single-numa-node\n      cpuManagerPolicy: static\n      reservedSystemCPUs: "0"\n' +
        cpuFile(),
    ),
    line: 6,
    field: 'machine.kubelet.extraConfig.topologyManagerPolicy',
    severity: 'warning',
  },
  {
    rule: 'kernel-args-need-upgrade',
    bad: W('  install:\n    disk: /dev/sda\n    extraKernelArgs:\n      - iommu=pt\n'),
    good: W('  install:\n    disk: /dev/sda\n    extraKernelArgs:\n      - iommu=pt\n'),
    opts: { context: 'apply' },
    line: 6,
    field: 'machine.install.extraKernelArgs',
    severity: 'warning',
  },
  {
    rule: 'install-disk-not-dev',
    bad: W('  install:\n    disk: nvme0n1\n'),
    good: W('  install:\n    disk: /dev/nvme0n1\n'),
    line: 5,
    field: 'machine.install.disk',
  },
  {
    rule: 'install-disk-partition',
    bad: W('  install:\n    disk: /dev/nvme0n1p1\n'),
    good: W('  install:\n    disk: /dev/nvme0n1\n'),
    line: 5,
    field: 'machine.install.disk',
  },
  {
    rule: 'sysctl-value',
    bad: W('  sysctls:\n    vm.swappiness: "zero"\n    net.core.default_qdisc: fq\n'),
    good: W('  sysctls:\n    vm.swappiness: "0"\n    net.core.default_qdisc: fq\n'),
    line: 5,
    field: 'machine.sysctls.vm.swappiness',
  },
  {
    rule: 'memory-manager-checkpoint',
    bad: W(
      `${MM}  files:\n    - path: /var/lib/kubelet/memory_manager_state\n      op: overwrite\n      permissions: 0o600\n      content: '${EMPTY}'\n`,
    ),
    good: W(
      `${MM}  files:\n    - path: /var/lib/kubelet/memory_manager_state\n      op: create\n      permissions: 0o600\n      content: '${EMPTY}'\n`,
    ),
    line: 12,
    field: 'machine.files[0].op',
  },
  {
    rule: 'cpu-manager-checkpoint',
    bad: W(
      '  kubelet:\n    extraConfig:\n      cpuManagerPolicy: static\n      reservedSystemCPUs: "0"\n' +
        cpuFile(EMPTY_CPU, 'overwrite'),
    ),
    good: W(
      '  kubelet:\n    extraConfig:\n      cpuManagerPolicy: static\n      reservedSystemCPUs: "0"\n' + cpuFile(),
    ),
    line: 10,
    field: 'machine.files[0].op',
  },
]

test('every rule has a positive and a negative case below', () => {
  assert.deepEqual(new Set(cases.map((c) => c.rule)), new Set(RULES.map((r) => r.id)))
})

for (const c of cases) {
  test(`rule ${c.rule}: flags the mistake at its line`, () => {
    const fs = lint(c.bad, c.opts)
    const hits = only(fs, c.rule)
    assert.equal(hits.length, 1, formatFindings(fs))
    assert.equal(hits[0].line, c.line, formatFindings(fs))
    assert.equal(hits[0].field, c.field)
    assert.equal(hits[0].severity, c.severity ?? 'error')
    assert.ok(hits[0].fix.length > 0)
  })
  test(`rule ${c.rule}: the corrected config passes`, () => {
    // same options except the one that makes the case a mistake for context-dependent rules
    const opts =
      c.rule === 'extra-kernel-args-systemd-boot'
        ? { bootloader: 'grub' as const }
        : c.rule === 'kernel-args-need-upgrade'
          ? { context: 'install' as const }
          : c.opts
    const fs = lint(c.good, opts)
    assert.deepEqual(rules(fs), [], formatFindings(fs))
  })
}

test('memory-manager-checkpoint: Static without the boot-time reset is a warning; another content or policy is an error', () => {
  const at = (text: string) =>
    only(lint(W(text)), 'memory-manager-checkpoint').map((f) => [f.severity, f.field, f.line])
  assert.deepEqual(at(MM), [['warning', 'machine.kubelet.extraConfig.memoryManagerPolicy', 6]])
  const file = (content: string) =>
    `  files:\n    - path: /var/lib/kubelet/memory_manager_state\n      op: create\n      permissions: 0o600\n      content: '${content}'\n`
  // one digit off: kubelet's checksum check refuses it at every boot
  assert.deepEqual(at(MM + file(EMPTY.replace('3940083781', '3940083782'))), [
    ['error', 'machine.files[0].content', 14],
  ])
  assert.match(
    only(lint(W(MM + file(EMPTY.replace('81}', '82}')))), 'memory-manager-checkpoint')[0]!.message,
    /checkpoint is corrupted/,
  )
  // the file without the Static policy: kubelet refuses a checkpoint of another policy
  const none = only(lint(W(file(EMPTY))), 'memory-manager-checkpoint')
  assert.deepEqual(
    none.map((f) => [f.severity, f.field]),
    [['error', 'machine.files[0].path']],
  )
  assert.match(none[0]!.message, /policy is None/)
  assert.deepEqual(at('  kubelet:\n    extraConfig:\n      cpuManagerPolicy: none\n'), [])
})

test('cpu-manager-checkpoint: static without the boot-time reset is a warning; another content is an error; another policy a warning', () => {
  const S = '  kubelet:\n    extraConfig:\n      cpuManagerPolicy: static\n      reservedSystemCPUs: "0,16"\n'
  const at = (text: string) => only(lint(W(text)), 'cpu-manager-checkpoint').map((f) => [f.severity, f.field, f.line])
  const missing = only(lint(W(S)), 'cpu-manager-checkpoint')
  assert.deepEqual(
    missing.map((f) => [f.severity, f.field, f.line]),
    [['warning', 'machine.kubelet.extraConfig.cpuManagerPolicy', 6]],
  )
  assert.match(missing[0]!.message, /current set of available CPUs … doesn't match with CPUs in state/)
  assert.match(
    missing[0]!.fix,
    /cpu_manager_state, op: create, permissions: 0o600, content: '\{"policyName":"static","defaultCpuSet":"","checksum":3083571066\}'/,
  )
  // the flag form counts as the policy too
  assert.deepEqual(at('  kubelet:\n    extraArgs:\n      cpu-manager-policy: static\n      reserved-cpus: "0"\n'), [
    ['warning', 'machine.kubelet', 4],
  ])
  // one digit off: "checkpoint is corrupted" at every boot
  assert.deepEqual(at(S + cpuFile(EMPTY_CPU.replace('066}', '067}'))), [['error', 'machine.files[0].content', 12]])
  // a checkpoint with CPUs is no reset: it is compared with the machine
  assert.deepEqual(at(S + cpuFile(EMPTY_CPU.replace('""', '"0-31"'))), [['error', 'machine.files[0].content', 12]])
  // policy none: Talos removes a "static" checkpoint before kubelet starts, so the entry resets nothing
  assert.deepEqual(at(S.replace('static', 'none').replace('      reservedSystemCPUs: "0,16"\n', '') + cpuFile()), [
    ['warning', 'machine.files[0].path', 8],
  ])
  assert.deepEqual(at('  kubelet:\n    extraConfig:\n      cpuManagerPolicy: none\n'), [])
})

test('static CPU manager with no explicit reservations at all is a warning (Talos default 50m)', () => {
  const fs = lint(W('  kubelet:\n    extraArgs:\n      cpu-manager-policy: static\n' + cpuFile()))
  assert.deepEqual(
    fs.map((f) => [f.rule, f.severity]),
    [['static-cpu-without-reservation', 'warning']],
  )
  // reserved-cpus flag counts as a reservation
  assert.deepEqual(
    lint(
      W(
        '  kubelet:\n    extraArgs:\n      cpu-manager-policy: static\n      system-reserved: memory=1Gi\n      reserved-cpus: "0-1"\n' +
          cpuFile(),
      ),
    ),
    [],
  )
})

test('cpu-reservation-overridden: systemReserved and kubeReserved cpu, as config or flags, only next to reserved CPUs', () => {
  const K = (body: string) => W(`  kubelet:\n${body}`)
  const both = only(
    lint(
      K(
        '    extraConfig:\n      reservedSystemCPUs: "0,1,64,65"\n      systemReserved:\n        cpu: 2000m\n        memory: 4Gi\n      kubeReserved:\n        cpu: "1"\n',
      ),
    ),
    'cpu-reservation-overridden',
  )
  assert.deepEqual(
    both.map((f) => [f.line, f.field, f.severity]),
    [
      [8, 'machine.kubelet.extraConfig.systemReserved.cpu', 'error'],
      [11, 'machine.kubelet.extraConfig.kubeReserved.cpu', 'error'],
    ],
  )
  // the message says what kubelet does with it, and the fix says what to do instead
  assert.match(
    both[0]!.message,
    /systemReserved cpu is ignored: with reservedSystemCPUs "0,1,64,65" kubelet sets systemReserved cpu to the number of CPUs listed there and deletes kubeReserved cpu \(kubernetes v1\.33 cmd\/kubelet\/app\/server\.go\)/,
  )
  assert.match(both[0]!.fix, /remove cpu from systemReserved .*list more in reservedSystemCPUs/)
  // flags: --reserved-cpus with --kube-reserved cpu=...; the flag map is where it is written
  const flags = lint(K('    extraArgs:\n      reserved-cpus: "0-1"\n      kube-reserved: cpu=1,memory=1Gi\n'))
  assert.deepEqual(
    only(flags, 'cpu-reservation-overridden').map((f) => [f.line, f.field]),
    [[7, 'machine.kubelet.extraArgs.kube-reserved']],
  )
  // a flag replaces the config map (flags win in kubelet): its cpu-less value is what counts
  const flagWins = K(
    '    extraArgs:\n      system-reserved: memory=1Gi\n    extraConfig:\n      reservedSystemCPUs: "0"\n      systemReserved:\n        cpu: 500m\n',
  )
  assert.deepEqual(only(lint(flagWins), 'cpu-reservation-overridden'), [])
  // no reserved CPUs (or an empty list): the cpu reservations are live, nothing to say
  const live = '    extraConfig:\n      systemReserved:\n        cpu: 500m\n      kubeReserved:\n        cpu: 500m\n'
  assert.deepEqual(only(lint(K(live)), 'cpu-reservation-overridden'), [])
  assert.deepEqual(only(lint(K(`${live}      reservedSystemCPUs: ""\n`)), 'cpu-reservation-overridden'), [])
})

test('hugepages wanted through kubelet config or a hugetlbfs mount also need the kernel arg', () => {
  const viaKubelet = W('  kubelet:\n    extraConfig:\n      systemReserved:\n        hugepages-1Gi: 1Gi\n')
  assert.deepEqual(rules(lint(viaKubelet)), ['hugepages-without-kernel-arg'])
  const viaMount = W(
    '  kubelet:\n    extraMounts:\n      - destination: /dev/hugepages\n        type: hugetlbfs\n        source: none\n        options: [rw]\n',
  )
  assert.deepEqual(rules(lint(viaMount)), ['hugepages-without-kernel-arg'])
})

test('files outside /var with append/overwrite are a warning, not an error; the CRI drop-in is allowed', () => {
  const fs = lint(
    W('  files:\n    - content: x\n      path: /etc/hosts.extra\n      permissions: 0o644\n      op: append\n'),
  )
  assert.deepEqual(
    fs.map((f) => [f.rule, f.severity]),
    [['files-outside-var', 'warning']],
  )
  assert.deepEqual(
    lint(
      W(
        '  files:\n    - content: x\n      path: /etc/cri/conf.d/20-customization.part\n      permissions: 0o644\n      op: create\n',
      ),
    ),
    [],
  )
})

test('only the v1alpha1 document is linted by the rules; other documents go through the schema', () => {
  const text =
    W('  sysctls:\n    a.b: "1"\n') +
    '---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: data\nprovisioning:\n  diskSelector:\n    match: "!system_disk"\n  minSize: 1GiB\nmode: 0750\n'
  const fs = lint(text)
  assert.deepEqual(
    fs.map((f) => [f.rule, f.line, f.field]),
    [['schema', 14, 'mode']],
  )
})

test('numeric sysctls are a warning (Talos decodes a scalar into its string field); a list is an error; no schema error repeats either', () => {
  const fs = lint(W('  sysctls:\n    vm.swappiness: 0\n    kernel.panic: true\n    net.core.somaxconn: [1, 2]\n'))
  assert.deepEqual(
    fs.map((f) => [f.rule, f.field, f.severity]),
    [
      ['sysctl-not-string', 'machine.sysctls.vm.swappiness', 'warning'],
      ['sysctl-not-string', 'machine.sysctls.kernel.panic', 'warning'],
      ['sysctl-not-string', 'machine.sysctls.net.core.somaxconn', 'error'],
    ],
  )
  assert.equal(hasErrors(lint(W('  sysctls:\n    vm.swappiness: 0\n'))), false)
})

test('kernel-args-need-upgrade suggests no flag talosctl v1.10 hides (--preserve is MarkHidden in upgrade.go)', () => {
  const [f] = only(
    lint(W('  install:\n    disk: /dev/sda\n    extraKernelArgs:\n      - iommu=pt\n'), { context: 'apply' }),
    'kernel-args-need-upgrade',
  )
  assert.match(f.fix, /talosctl -n <node> upgrade --image /)
  assert.doesNotMatch(f.fix, /--preserve|--stage/)
})
