// The same Worker on anypg's main entry under edge conditions (neon-http, neon-ws, Hyperdrive).
import { createDb } from 'anypg';
import { eq } from 'drizzle-orm';
import { notes } from './notes.js';

export default {
  async fetch(request, env) {
    const db = createDb({ env, schema: { notes } });
    const id = Number(new URL(request.url).searchParams.get('id'));
    return Response.json(await db.select().from(notes).where(eq(notes.id, id)));
  },
};
