// Admin CLI: `npm run cli -- <command>`; `npm run cli -- help` lists the commands.
// Everything but the process itself lives in src/admin (runCli is testable in-process).
import { runCli } from './run'

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  io: {
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
  },
})
// Database, cache and bcrypt workers are closed by now; exit without waiting on anything else.
process.exit(code)
