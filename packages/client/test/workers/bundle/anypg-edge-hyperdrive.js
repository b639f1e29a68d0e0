// The same Worker on anypg's edge entry over Hyperdrive, pg passed in. The bench
// bundles it as a project without the Neon driver installed would (the driver left out).
import { createDb } from 'anypg';
import { eq } from 'drizzle-orm';
import pg from 'pg';
import { notes } from './notes.js';

export default {
  async fetch(request, env, ctx) {
    const db = createDb({ env, pg, schema: { notes } });
    const id = Number(new URL(request.url).searchParams.get('id'));
    try {
      return Response.json(await db.select().from(notes).where(eq(notes.id, id)));
    } finally {
      ctx.waitUntil(db.$close());
    }
  },
};
