import { execFileSync } from 'node:child_process'

/** Which real services this run has: the suite runs on embedded defaults without them and says what it skipped. */
export function services() {
  let redisServerBinary: string | null = null
  try {
    redisServerBinary = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || null
  } catch {
    redisServerBinary = null
  }
  return {
    databaseUrl: process.env.DATABASE_URL || null,
    redisUrl: process.env.REDIS_URL || null,
    redisServerBinary,
  }
}
