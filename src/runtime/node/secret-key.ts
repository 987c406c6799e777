import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Development convenience: a SECRET_KEY generated once and kept in DATA_DIR, so
 * JWTs and stored tokens survive restarts. Production must set SECRET_KEY.
 */
export async function developmentSecretKey(dataDir: string, warn: (msg: string) => void): Promise<string> {
  const file = join(dataDir, 'secret_key')
  try {
    const existing = (await readFile(file, 'utf8')).trim()
    if (existing) return existing
  } catch {
    // not there yet
  }
  await mkdir(dataDir, { recursive: true })
  const key = randomBytes(48).toString('base64url')
  await writeFile(file, `${key}\n`, { mode: 0o600 })
  warn(`SECRET_KEY is not set: generated one and stored it in ${file}. Set SECRET_KEY in production.`)
  return key
}
