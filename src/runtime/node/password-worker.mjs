// Runs bcryptjs off the main event loop. Plain JS so it loads the same under tsx, vitest and node.
import { parentPort } from 'node:worker_threads'
import bcrypt from 'bcryptjs'

parentPort.on('message', ({ id, op, password, hash, rounds }) => {
  try {
    const result = op === 'hash' ? bcrypt.hashSync(password, rounds) : bcrypt.compareSync(password, hash)
    parentPort.postMessage({ id, result })
  } catch (err) {
    parentPort.postMessage({ id, error: String(err?.message ?? err) })
  }
})
