// The baseline for the bundle figures: a Worker on drizzle's neon-http driver and neon(), with no anypg.
import { neon } from '@neondatabase/serverless';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/neon-http';
import { notes } from './notes.js';

export default {
  async fetch(request, env) {
    const db = drizzle(neon(env.DATABASE_URL), { schema: { notes } });
    const id = Number(new URL(request.url).searchParams.get('id'));
    return Response.json(await db.select().from(notes).where(eq(notes.id, id)));
  },
};
