// The lab rescue system's "shell": sshd's ForceCommand runs this (through <lab>/ssh/<node>/rescue.sh) for
// every SSH session, with the operator's command in SSH_ORIGINAL_COMMAND. It simulates a Debian rescue
// system for one node (see parse.ts for what it understands) and never touches this machine's disks.
//   node --import tsx lab/rescue/shell.ts --node NAME --lab-dir DIR
import { runRescueCommand } from './run.ts'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const node = arg('--node')
const dir = arg('--lab-dir')
if (!node || !dir) {
  process.stderr.write('usage: lab/rescue/shell.ts --node NAME --lab-dir DIR (run by the lab sshd ForceCommand)\n')
  process.exit(2)
}
process.env.TALOS_LAB_DIR = dir

let code: number
try {
  code = await runRescueCommand(node, process.env.SSH_ORIGINAL_COMMAND ?? '', {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  })
} catch (e) {
  process.stderr.write(`lab rescue (${node}): ${(e as Error).message}\n`)
  code = 1
}
process.exitCode = code
// stdin may still be open (a client that never closes it); don't wait for it
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
