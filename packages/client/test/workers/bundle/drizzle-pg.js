// The baseline for the Hyperdrive figures: a Worker on drizzle's node-postgres driver and pg over a
// Hyperdrive binding, with no anypg.
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { notes } from './notes.js';

export default {
  async fetch(request, env, ctx) {
    const client = new pg.Client({ connectionString: env.HYPERDRIVE.connectionString });
    await client.connect();
    const db = drizzle(client, { schema: { notes } });
    const id = Number(new URL(request.url).searchParams.get('id'));
    try {
      return Response.json(await db.select().from(notes).where(eq(notes.id, id)));
    } finally {
      ctx.waitUntil(client.end());
    }
  },
};
