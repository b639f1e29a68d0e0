// drizzle-kit reads this to generate SQL migrations from src/schema.ts. `drizzle-kit generate`
// needs no database: it compares the schema with the snapshots in migrations/meta.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/schema.ts',
  out: './migrations',
});
