// The same Worker on anypg's lean entry (neon-http only).
import { createDb } from 'anypg/http';
import { eq } from 'drizzle-orm';
import { notes } from './notes.js';

export default {
  async fetch(request, env) {
    const db = createDb({ env, schema: { notes } });
    const id = Number(new URL(request.url).searchParams.get('id'));
    return Response.json(await db.select().from(notes).where(eq(notes.id, id)));
  },
};
