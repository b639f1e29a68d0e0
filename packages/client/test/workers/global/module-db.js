// A Worker whose db is created at global scope, as issue 14's users write it, bundled and served
// by wrangler's dev server (test/workers-global-scope.test.ts): a real global scope, where workerd
// refuses I/O and the Hyperdrive binding's properties throw.

import { env } from 'cloudflare:workers';
import { createDb } from 'anypg';
import { sql } from 'drizzle-orm';
import pg from 'pg';

const db = createDb({ env, pg, applicationName: env.APP });

export default {
  async fetch() {
    const r = await db.execute(sql`select pg_backend_pid() as pid`);
    return Response.json({ pid: r.rows[0].pid, backend: db.$backend.backend, opened: db.$stats().opened });
  },
};
