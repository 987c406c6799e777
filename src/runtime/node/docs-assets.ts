// Node's source of the docs pages' packaged files (src/routes/docs-assets.ts, "#docs-assets" in
// package.json): read from the installed, exact-pinned npm packages. The Workers bundle carries
// the same files inlined instead (scripts/docs-assets.ts).
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** The text of `file` inside the installed package `pkg`. */
export function loadDocAsset(pkg: string, file: string): Promise<string> {
  return readFile(require.resolve(`${pkg}/${file}`), 'utf8')
}
