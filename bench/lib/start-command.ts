import { readFileSync } from 'node:fs'

/**
 * The node flags `npm start` runs the server with (package.json's start script, e.g.
 * `--max-semi-space-size=32 --enable-source-maps`): the benches run the server the same way.
 */
export function startFlags(): string[] {
  const start: string = JSON.parse(readFileSync('package.json', 'utf8')).scripts.start
  const m = /(?:^|&&\s*)node\s+((?:--\S+\s+)*)dist\/node\/main\.mjs\s*$/.exec(start)
  if (!m) throw new Error(`package.json's start script does not end in "node [flags] dist/node/main.mjs": ${start}`)
  return m[1]!.trim().split(/\s+/).filter(Boolean)
}
