// Adds up vitest JSON reports into the one line CI reads.
import { existsSync, readFileSync } from 'node:fs'

let passed = 0
let failed = 0
let skipped = 0
const failures = []
for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) {
    console.log(`missing report ${file}: the run crashed`)
    failed += 1
    continue
  }
  const r = JSON.parse(readFileSync(file, 'utf8'))
  passed += r.numPassedTests
  failed += r.numFailedTests
  skipped += r.numPendingTests + (r.numTodoTests ?? 0)
  for (const f of r.testResults ?? []) {
    const where = `${file.replace(/^.*\//, '')}: ${f.name.replace(/^.*?\/test\//, 'test/')}`
    // A file that failed to load has no tests but still failed.
    if (f.status === 'failed' && f.assertionResults.length === 0) {
      failed += 1
      failures.push(`${where} (did not load) ${firstLine(f.message)}`)
    }
    for (const a of f.assertionResults) {
      if (a.status === 'failed') failures.push(`${where} > ${a.fullName}: ${firstLine(a.failureMessages?.[0])}`)
    }
  }
}
// The names come last but one, so the tail of a CI log says what failed.
for (const line of failures) console.log(`FAILED ${line}`)
if (passed === 0) failed += 1
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed === 0 ? 0 : 1)

function firstLine(text) {
  const line = String(text ?? '').split('\n', 1)[0]
  // Vitest's timeout error carries the stack of where the test was declared, message and all.
  if (line === 'Error: STACK_TRACE_ERROR') return 'timed out (the test or one of its hooks)'
  return line.slice(0, 300)
}
