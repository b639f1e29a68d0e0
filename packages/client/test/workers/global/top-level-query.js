// The use module scope cannot serve: a query at global scope (a top-level await). workerd allows
// no I/O there; anypg must say so with a ConfigurationError, and the Worker does not start.

import { env } from 'cloudflare:workers';
import { createDb } from 'anypg';
import { sql } from 'drizzle-orm';
import pg from 'pg';

const db = createDb({ env, pg, applicationName: env.APP });
await db.execute(sql`select 1`);

export default {
  async fetch() {
    return new Response('unreachable');
  },
};
