// Detached after `talosctl bootstrap`: the other control-plane nodes join etcd and every API server
// starts, the way Talos' controllers converge a node once etcd exists. Logs to .lab/converge.log.
import { convergeAll } from './node-services.ts'

const started = Date.now()
try {
  await convergeAll()
  console.log(`${new Date().toISOString()} converged in ${Date.now() - started} ms`)
} catch (e) {
  console.error(`${new Date().toISOString()} converge failed: ${(e as Error).stack}`)
  process.exit(1)
}
