import { defineConfig } from 'drizzle-kit'

// Migrations are generated from src/db/schema.ts and committed under drizzle/;
// the same SQL runs on PostgreSQL and on the embedded PGlite default.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
})
