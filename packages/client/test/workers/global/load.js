// The load Worker of test/workers-global-scope.test.ts and bench/workers-module-scope.mjs, served by
// wrangler's dev server: the same request on a db created at global scope (from `env` of
// `cloudflare:workers`) and on a db created per request (closed in ctx.waitUntil), on Hyperdrive
// and on neon-http. The table (the TABLE var) is created from Node.
//
//   POST /<hyperdrive|neon-http>/<module|request>   { n }
//
// Each request runs a statement, a transaction (insert, read back) and a batch, and answers with
// the server sessions its statements ran on, so the bench can count connections per request.

import { env } from 'cloudflare:workers';
import { createDb } from 'anypg';
import { eq, sql } from 'drizzle-orm';
import { pgTable, serial, text } from 'drizzle-orm/pg-core';
import pg from 'pg';

const items = pgTable(env.TABLE, { id: serial('id').primaryKey(), name: text('name').notNull() });

const SESSION = sql`pg_backend_pid() || '@' || (select backend_start::text from pg_stat_activity where pid = pg_backend_pid())`;

function open(backend, app) {
  if (backend === 'hyperdrive') return createDb({ env, pg, applicationName: app });
  const url = new URL(env.NEON_URL);
  url.searchParams.set('application_name', app);
  return createDb({ env: {}, url: url.toString(), neon: env.NEON_CONFIG });
}

const moduleDbs = {
  hyperdrive: open('hyperdrive', `${env.APP}_module_hyperdrive`),
  'neon-http': open('neon-http', `${env.APP}_module_neon_http`),
};

async function work(db, n) {
  const sessions = [];
  const first = await db.execute(sql`select ${n}::int as n, ${SESSION} as session`);
  sessions.push(first.rows[0].session);
  const back = await db.transaction(async (tx) => {
    const [row] = await tx
      .insert(items)
      .values({ name: `bench-${n}` })
      .returning({ id: items.id });
    const [read] = await tx
      .select({ name: items.name, session: sql`${SESSION}` })
      .from(items)
      .where(eq(items.id, row.id));
    return read;
  });
  sessions.push(back.session);
  const [a, b] = await db.batch([db.execute(sql`select ${n}::int as n`), db.execute(sql`select ${n + 1}::int as n`)]);
  const ok = first.rows[0].n === n && back.name === `bench-${n}` && a.rows[0].n === n && b.rows[0].n === n + 1;
  return { ok, sessions };
}

export default {
  async fetch(request, _env, ctx) {
    const [, backend, scope] = new URL(request.url).pathname.split('/');
    const { n } = await request.json();
    const db =
      scope === 'module' ? moduleDbs[backend] : open(backend, `${env.APP}_request_${backend.replace('-', '_')}`);
    try {
      return Response.json(await work(db, n));
    } catch (err) {
      return Response.json({ ok: false, error: String(err?.message ?? err) }, { status: 500 });
    } finally {
      if (scope !== 'module') ctx.waitUntil(db.$close());
    }
  },
};
