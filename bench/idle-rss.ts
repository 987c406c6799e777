// npm run bench:idle-rss — what one server process holds in memory doing nothing: the gateway as
// `npm start` runs it (`node --enable-source-maps dist/node/main.mjs`, WORKERS=1), read from
// /proc/PID/status when it logs "listening" and again after BENCH_IDLE_SECONDS of idling: embedded
// PGlite on an empty DATA_DIR (the very first start, with initdb), PGlite again on that data directory
// (every later start), and, when both answer, PostgreSQL + Redis on a new database (the first start
// migrates it) and again (every later start). `npm run bench:proxy` runs it before bench/proxy.ts.
//
//   BENCH_IDLE_SECONDS  how long each gateway idles before the second reading (default 10)
//   DATABASE_URL        the PostgreSQL server that gets a throwaway database (default: the local server)
//   REDIS_URL           the Redis the gateway uses (default: the local server)
//
// Next to VmRSS it prints the process's own split (process.memoryUsage(), asked for with SIGUSR2 through
// a one-line --import preload that writes it to a file) and its thread count.

import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { freePort, removeTempDir, spawnTracked, stopChild, tempDir } from './lib/children'
import { printRunHeader } from './lib/machine'
import { runMain } from './lib/run-main'
import { DEFAULT_POSTGRES_URL, DEFAULT_REDIS_URL, redisReachable } from './lib/services'
import { startFlags } from './lib/start-command'
import { type Cell, fmt, printTable } from './lib/table'

const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS || 10)
const MB = 1024 * 1024

/** On SIGUSR2 the gateway writes its process.memoryUsage() to $BENCH_MEMORY_FILE (nothing else changes). */
const PRELOAD = `data:text/javascript,${encodeURIComponent(
  `import{writeFileSync}from'node:fs';process.on('SIGUSR2',()=>writeFileSync(process.env.BENCH_MEMORY_FILE,JSON.stringify(process.memoryUsage())))`,
)}`

interface Status {
  rssMb: number
  anonMb: number
  fileMb: number
  threads: number
}

function status(pid: number): Status {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)?.[1] ?? Number.NaN)
  return { rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024, fileMb: (kb('RssFile') + kb('RssShmem')) / 1024, threads: kb('Threads') }
}

type Usage = { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number }

async function memoryUsage(pid: number, file: string): Promise<Usage | null> {
  const before = existsSync(file) ? readFileSync(file, 'utf8') : ''
  process.kill(pid, 'SIGUSR2')
  for (let i = 0; i < 50; i++) {
    await sleep(20)
    const now = existsSync(file) ? readFileSync(file, 'utf8') : ''
    if (now && now !== before) return JSON.parse(now) as Usage
  }
  return null
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Reading {
  name: string
  wiring: string
  startSeconds: number
  atStart: Status
  idle: Status
  usage: Usage | null
}

/** Starts `node --enable-source-maps dist/node/main.mjs`, reads its memory at "listening" and after idling, stops it. */
async function measure(name: string, dir: string, dataDir: string, extraEnv: NodeJS.ProcessEnv): Promise<Reading> {
  const port = await freePort()
  const logFile = join(dir, `${name}.log`)
  const memoryFile = join(dir, `${name}.memory.json`)
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'development',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ZENZEFI_TARGET_URL: 'https://127.0.0.1:9',
    LOG_LEVEL: 'info',
    ACCOUNT_URL: 'off',
    WORKERS: '1',
    BENCH_MEMORY_FILE: memoryFile,
    ...extraEnv,
  }
  for (const key of ['DATABASE_URL', 'REDIS_URL']) if (!extraEnv[key]) delete env[key]
  const fd = openSync(logFile, 'a')
  const t0 = Date.now()
  const child = spawnTracked(process.execPath, [...startFlags(), '--import', PRELOAD, 'dist/node/main.mjs'], { env, stdoutFd: fd })
  closeSync(fd)
  try {
    const deadline = Date.now() + 180_000
    let listening: { database: string; cache: string } | null = null
    while (!listening) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${name}: gateway exited at start:\n${readFileSync(logFile, 'utf8').slice(-3000)}`)
      if (Date.now() > deadline) throw new Error(`${name}: not listening after 180 s`)
      const line = readFileSync(logFile, 'utf8')
        .split('\n')
        .find((l) => l.includes('"msg":"listening"'))
      if (line) listening = JSON.parse(line) as { database: string; cache: string }
      else await sleep(20)
    }
    const startSeconds = (Date.now() - t0) / 1000
    const atStart = status(child.pid!)
    await sleep(IDLE_SECONDS * 1000)
    const idle = status(child.pid!)
    const usage = await memoryUsage(child.pid!, memoryFile)
    return { name, wiring: `${listening.database} + ${listening.cache}`, startSeconds, atStart, idle, usage }
  } finally {
    await stopChild(child, 15_000)
  }
}

async function main() {
  const dir = tempDir('zenzefi-bench-idle-')
  try {
    execFileSync(process.execPath, ['scripts/build-node.mjs'], { stdio: 'inherit' })
    printRunHeader('Zenzefi idle RSS bench')
    console.log(`  gateway : node ${startFlags().join(' ')} dist/node/main.mjs (npm start), WORKERS=1, LOG_LEVEL=info; idle ${IDLE_SECONDS} s`)

    const readings: Reading[] = []
    const notes: string[] = []
    const dataDir = join(dir, 'data')
    mkdirSync(dataDir)
    readings.push(await measure('PGlite, first start (initdb)', dir, dataDir, {}))
    readings.push(await measure('PGlite, later start', dir, dataDir, {}))

    const serverUrl = process.env.DATABASE_URL || DEFAULT_POSTGRES_URL
    const redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL
    const name = `zenzefi_bench_${randomBytes(6).toString('hex')}`
    const admin = postgres(serverUrl, { max: 1, connect_timeout: 2, onnotice: () => {} })
    const created = await admin.unsafe(`create database ${name}`).then(
      () => true,
      (err: Error) => {
        notes.push(`PostgreSQL + Redis skipped: no PostgreSQL (${err.message})`)
        return false
      },
    )
    await admin.end({ timeout: 1 }).catch(() => {})
    if (created) {
      try {
        if (await redisReachable(redisUrl)) {
          const url = new URL(serverUrl)
          url.pathname = `/${name}`
          const pgDir = join(dir, 'pg-data')
          mkdirSync(pgDir)
          // The first start migrates the new database; the second is what every restart costs.
          readings.push(await measure('PostgreSQL + Redis, first start (migrations)', dir, pgDir, { DATABASE_URL: url.toString(), REDIS_URL: redisUrl }))
          readings.push(await measure('PostgreSQL + Redis', dir, pgDir, { DATABASE_URL: url.toString(), REDIS_URL: redisUrl }))
        } else notes.push(`PostgreSQL + Redis skipped: no Redis at ${redisUrl}`)
      } finally {
        const admin2 = postgres(serverUrl, { max: 1, onnotice: () => {} })
        await admin2.unsafe(`drop database if exists ${name} with (force)`)
        await admin2.end()
      }
    }

    const mb = (v: number | undefined) => (v === undefined ? null : fmt(v / MB, 0))
    const rows: Cell[][] = readings.map((r) => [
      r.name,
      r.wiring,
      fmt(r.startSeconds, 1),
      fmt(r.atStart.rssMb, 0),
      fmt(r.idle.rssMb, 0),
      `${fmt(r.idle.anonMb, 0)} / ${fmt(r.idle.fileMb, 0)}`,
      r.usage ? `${mb(r.usage.heapUsed)} / ${mb(r.usage.heapTotal)}` : null,
      mb(r.usage?.external),
      mb(r.usage?.arrayBuffers),
      r.idle.threads,
    ])
    printTable(
      'Idle RSS of one server process',
      [
        'case',
        'wiring',
        'start s',
        'RSS at listening MB',
        `RSS after ${IDLE_SECONDS} s MB`,
        'anon / file MB',
        'JS heap used / total MB',
        'external MB',
        'ArrayBuffers MB',
        'threads',
      ],
      rows,
      [
        'MB = 2^20 bytes. RSS: VmRSS from /proc/PID/status; anon / file: RssAnon and RssFile + RssShmem (the code and data files mapped in).',
        'JS heap, external and ArrayBuffers: process.memoryUsage() after the idle wait; external holds PGlite\u2019s WebAssembly memory (128 MB or more reserved, the pages it touched resident).',
        ...notes,
      ],
    )
    for (const r of readings) console.log(`  idle RSS ${fmt(r.idle.rssMb, 0)} MB after ${IDLE_SECONDS} s (${fmt(r.atStart.rssMb, 0)} MB at start): ${r.name}`)
  } finally {
    removeTempDir(dir)
  }
}

runMain(main)
