// The first example: anypg on a local PostgreSQL, the way a Lambda handler uses it.
// Run from the repo root: node scripts/run.mjs demo
import { startPostgres } from '@anypg/local';
import { desc, sql } from 'drizzle-orm';
import { pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import { createDb } from '../dist/node.js';

const notes = pgTable('notes', {
  id: serial('id').primaryKey(),
  body: text('body').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

console.log('starting a local PostgreSQL (embedded, ephemeral)...');
const server = await startPostgres();
try {
  // What a Lambda container does at global scope: one pool of one connection, opened on first use.
  const db = createDb({ url: server.url, schema: { notes }, env: { AWS_LAMBDA_FUNCTION_NAME: 'notes-demo' } });
  console.log(`backend: ${db.$backend.backend} on ${db.$backend.runtime} — ${db.$backend.reason}`);
  await db.execute(
    sql`create table notes (id serial primary key, body text not null, created_at timestamptz not null default now())`,
  );

  const handler = async (event) => {
    if (event.body) await db.insert(notes).values({ body: event.body });
    return db.query.notes.findMany({ orderBy: desc(notes.id), limit: 3 });
  };

  const timings = [];
  for (let i = 1; i <= 200; i++) {
    const t = performance.now();
    await handler({ body: i % 2 ? `note ${i}` : undefined });
    timings.push(performance.now() - t);
  }
  timings.sort((a, b) => a - b);
  const latest = await handler({});
  console.table(latest.map((n) => ({ id: n.id, body: n.body, createdAt: n.createdAt.toISOString() })));
  const stats = db.$stats();
  console.table([
    {
      invocations: 200,
      'median ms': timings[100].toFixed(3),
      'p95 ms': timings[190].toFixed(3),
      'connections opened': stats.opened,
      retries: stats.retries,
    },
  ]);
  await db.$close();
  if (stats.opened !== 1) throw new Error(`expected one connection for 200 warm invocations, saw ${stats.opened}`);
} finally {
  await server.stop();
}
