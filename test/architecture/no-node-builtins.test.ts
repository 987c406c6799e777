// Shared code runs on Node and on Workers, so it may only use Web-standard APIs
// (DESIGN.md "One flow, four rooms"). Only the platform adapters may import Node
// built-ins; src/runtime/workers/ adapters only what nodejs_compat gives them. This reads the
// imports of every file under src/ and also checks what the built worker bundle holds.

import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildWorker } from '../support/worker'

const SRC = resolve('src')
const SOURCE_FILE = /\.(?:[cm]?ts|[cm]?js)$/

/** Files that know their platform (paths relative to the repository, `/`-separated). */
function isPlatformAdapter(file: string): boolean {
  return (
    file.startsWith('src/runtime/') ||
    file.startsWith('src/cli/') ||
    file === 'src/db/connect-node.ts' ||
    file === 'src/cache/redis.ts' ||
    file === 'src/limits/redis.ts'
  )
}

/** Workers adapters: run in workerd, where nodejs_compat provides AsyncLocalStorage. */
function isWorkerAdapter(file: string): boolean {
  return file.startsWith('src/runtime/workers/')
}
const WORKER_ALLOWED = new Set(['node:async_hooks'])

const BUILTINS = new Set(builtinModules)
/** `node:*`, or a bare built-in name (`fs`, `fs/promises`, `crypto`, …). */
function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || BUILTINS.has(specifier) || BUILTINS.has(specifier.split('/')[0]!)
}

interface Import {
  specifier: string
  /** `import type` / `export type`: erased, never loaded. */
  typeOnly: boolean
}

/** Every module a source text loads: imports, re-exports, side-effect imports, import() and require(). */
function importsOf(file: string, source: string): Import[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, false)
  const out: Import[] = []
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly = ts.isImportDeclaration(node) ? node.importClause?.isTypeOnly === true : node.isTypeOnly
      out.push({ specifier: node.moduleSpecifier.text, typeOnly })
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      out.push({ specifier: node.arguments[0].text, typeOnly: false })
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return out
}

/** What is wrong with one file's imports, as readable lines (empty when nothing is). */
function violations(file: string, source: string): string[] {
  const out: string[] = []
  for (const { specifier: spec, typeOnly } of importsOf(file, source)) {
    if (typeOnly) continue
    if (isNodeBuiltin(spec)) {
      if (isWorkerAdapter(file)) {
        if (!WORKER_ALLOWED.has(spec)) out.push(`${file} imports '${spec}': worker adapters may only use ${[...WORKER_ALLOWED].join(', ')} (nodejs_compat)`)
      } else if (!isPlatformAdapter(file)) {
        out.push(`${file} imports the Node built-in '${spec}': shared code uses Web-standard APIs only; move it behind a runtime adapter`)
      }
      continue
    }
    // Shared code reaching into a Node adapter would smuggle its Node imports in.
    if (spec.startsWith('.') && !isPlatformAdapter(file)) {
      const target = relative('.', resolve(dirname(file), spec))
        .split('\\')
        .join('/')
      const adapter = [target, `${target}.ts`, `${target}/index.ts`].find((c) => isPlatformAdapter(c) && !isWorkerAdapter(c))
      if (adapter) out.push(`${file} imports the platform adapter '${spec}': shared code may not depend on a runtime`)
    }
  }
  return out
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : SOURCE_FILE.test(e.name) ? [join(dir, e.name)] : [],
  )
}

const files = sourceFiles(SRC).map((abs) => ({ file: relative('.', abs).split('\\').join('/'), source: readFileSync(abs, 'utf8') }))

describe('imports under src/', () => {
  it('finds the source tree (and the adapters the rules name)', () => {
    const names = files.map((f) => f.file)
    expect(names).toContain('src/app.ts')
    expect(names).toContain('src/runtime/workers/main.ts')
    expect(names).toContain('src/db/connect-node.ts')
    expect(names).toContain('src/cache/redis.ts')
    expect(names).toContain('src/limits/redis.ts')
    expect(names).toContain('src/cli/main.ts')
  })

  it('shared code imports no Node built-in, and worker adapters only node:async_hooks', () => {
    const found = files.flatMap(({ file, source }) => violations(file, source))
    expect(found, found.join('\n')).toEqual([])
  })

  it('the check catches a Node import added to shared code, in every spelling', () => {
    const headers = files.find((f) => f.file === 'src/gateway/headers.ts')!
    for (const line of [
      "import { readFileSync } from 'node:fs'",
      "import { createHash } from 'crypto'",
      "import * as path from 'path'",
      "export { promisify } from 'util'",
      "import 'node:async_hooks'",
      "const { readFile } = await import('fs/promises')",
      "const zlib = require('zlib')",
    ]) {
      expect(violations(headers.file, `${line}\n${headers.source}`), line).toHaveLength(1)
    }
    // …and shared code that imports a Node-only adapter.
    expect(violations('src/gateway/headers.ts', "import { createNodeProxy } from '../runtime/node/proxy'\n")).toHaveLength(1)
    expect(violations('src/app.ts', "import { openDatabase } from './db/connect-node'\n")).toHaveLength(1)
    expect(violations('src/app.ts', "import { createRedisLimiter } from './limits/redis'\n")).toHaveLength(1)
    // Types are erased: naming an adapter's type loads nothing.
    expect(violations('src/app.ts', "import type { NodeProxy } from './runtime/node/proxy'\n")).toEqual([])
    // Adapters may; worker adapters only what nodejs_compat gives them.
    expect(violations('src/runtime/node/proxy.ts', "import http from 'node:http'\n")).toEqual([])
    expect(violations('src/cli/io.ts', "import { stdin } from 'node:process'\n")).toEqual([])
    expect(violations('src/runtime/workers/ws.ts', "import { AsyncLocalStorage } from 'node:async_hooks'\n")).toEqual([])
    expect(violations('src/runtime/workers/ws.ts', "import { readFileSync } from 'node:fs'\n")).toHaveLength(1)
    expect(violations('src/runtime/workers/main.ts', "import { Buffer } from 'buffer'\n")).toHaveLength(1)
  })
})

describe('the built worker bundle', () => {
  const outdir = join(tmpdir(), `zenzefi-worker-check-${process.pid}`)
  let bundle = ''
  beforeAll(() => {
    // Its own output directory, so it never races the parity suite's build of dist/worker.
    bundle = readFileSync(buildWorker(outdir), 'utf8')
  })
  afterAll(() => rmSync(outdir, { recursive: true, force: true }))

  /** Modules the bundle leaves to the runtime: esbuild's top-level imports, plus import()/require() calls. */
  const externalImports = () => {
    const found = new Set<string>()
    for (const m of bundle.matchAll(/^(?:import|export)\b[^;"']*?["']([^"']+)["'];?$/gm)) found.add(m[1]!)
    for (const m of bundle.matchAll(/\b(?:import|require)\(\s*["']([^"']+)["']\s*\)/g)) found.add(m[1]!)
    return found
  }

  it('does not contain html-rewriter-wasm (Workers use the built-in HTMLRewriter)', () => {
    expect(bundle).not.toContain('html-rewriter-wasm')
  })

  it('imports no node:fs (nor fs, child_process, worker_threads, http, net or tls)', () => {
    const imported = [...externalImports()]
    // The adapter's own import, seen: the scan works.
    expect(imported).toContain('node:async_hooks')
    const forbidden = imported.filter((m) => /^(?:node:)?(?:fs|fs\/promises|child_process|worker_threads|http|https|net|tls|zlib)$/.test(m))
    expect(forbidden, `bundle imports ${forbidden.join(', ')}`).toEqual([])
    expect(bundle).not.toMatch(/["']node:fs(?:\/promises)?["']/)
  })

  it('leaves out the Node-only parts: PGlite, node-redis, the worker-thread password pool', () => {
    expect(bundle).not.toMatch(/\/\/ node_modules\/@electric-sql\/pglite\//)
    expect(bundle).not.toMatch(/\/\/ node_modules\/@redis\//)
    expect(bundle).not.toMatch(/\/\/ src\/runtime\/node\//)
    expect(bundle).not.toContain('password-worker')
  })
})
