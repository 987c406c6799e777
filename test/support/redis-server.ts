import { type ChildProcess, spawn } from 'node:child_process'
import { connect, createServer } from 'node:net'

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

/** A real redis-server of the test's own, so a test can stop, pause and restart it without touching the shared one. */
export async function startRedisServer(binary: string) {
  const port = await freePort()
  let proc: ChildProcess | null = null
  const start = async () => {
    proc = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    // Ready when it accepts a PING.
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1')
        s.once('connect', () => {
          s.write('PING\r\n')
          s.once('data', (d: Buffer) => {
            s.destroy()
            resolve(d.toString().startsWith('+PONG'))
          })
        })
        s.once('error', () => resolve(false))
      })
      if (ok) return
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error('redis-server did not start')
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    async kill() {
      const p = proc
      if (!p || p.exitCode !== null || p.signalCode !== null) return
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve())
        p.kill('SIGKILL')
      })
    },
    pause: () => proc?.kill('SIGSTOP'),
    resume: () => proc?.kill('SIGCONT'),
    restart: start,
  }
}
