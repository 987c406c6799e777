// Files the server reads from the project itself (package.json, drizzle/, the bcrypt
// worker), found from the project's root rather than from this module's own place,
// so the same code runs from src/ under tsx and from the bundle in dist/.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let root: string | null = null

export function projectRoot(): string {
  if (root) return root
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const file = join(dir, 'package.json')
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'zenzefi-backend') return (root = dir)
    const up = dirname(dir)
    if (up === dir) throw new Error('zenzefi-backend: package.json not found above the server module')
    dir = up
  }
}

export const fromRoot = (...parts: string[]) => join(projectRoot(), ...parts)
