import { execFileSync } from 'node:child_process'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { stdoutLogger } from '../../../src/runtime/node/stdout-log'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('stdout log', () => {
  let writes: string[] = []
  afterEach(() => {
    vi.restoreAllMocks()
    writes = []
  })
  const capture = () =>
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk))
      return true
    })

  it('writes a burst of access lines in one write, within a few tens of ms', async () => {
    capture()
    const log = stdoutLogger('info')
    for (let i = 0; i < 200; i++) log.info('proxy', { status: 200, i })
    await new Promise((r) => setImmediate(r))
    expect(writes).toHaveLength(0)
    await sleep(60)
    expect(writes).toHaveLength(1)
    const lines = writes[0]!.trimEnd().split('\n')
    expect(lines).toHaveLength(200)
    expect(JSON.parse(lines[199]!)).toMatchObject({ level: 'info', msg: 'proxy', i: 199 })
  })

  it('a warning goes out at the end of its turn, with the lines held before it, in order', async () => {
    capture()
    const log = stdoutLogger('info')
    log.info('first')
    log.warn('trouble')
    await new Promise((r) => setImmediate(r))
    expect(writes).toHaveLength(1)
    expect(
      writes[0]!
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).msg),
    ).toEqual(['first', 'trouble'])
  })

  it('keeps lines whole and in order past the hold size, whatever their characters', async () => {
    capture()
    const log = stdoutLogger('info')
    const long = 'ü€😀'.repeat(9000) // longer than the whole hold buffer once encoded
    const sent = Array.from({ length: 400 }, (_, i) => (i === 150 ? long : `zeile ${i} — ${'é'.repeat(i % 7)}`))
    for (const msg of sent) log.info(msg)
    await sleep(60)
    const lines = writes.join('').trimEnd().split('\n')
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(sent)
    expect(writes.length).toBeGreaterThan(1)
  })

  it('a line held when the process exits is still written', () => {
    const script = `
      import { stdoutLogger } from './src/runtime/node/stdout-log.ts'
      const log = stdoutLogger('info')
      log.info('last words', { n: 1 })
      process.exit(0)
    `
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(JSON.parse(out.trim())).toMatchObject({ msg: 'last words', n: 1 })
  })
})
