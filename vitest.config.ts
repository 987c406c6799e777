import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // After each file: no issued token, cookie, JWT or password in any log line it wrote.
    setupFiles: ['test/support/log-scan.setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: two files at a time keeps bcrypt workers and databases from starving each other.
    maxWorkers: 2,
  },
})
