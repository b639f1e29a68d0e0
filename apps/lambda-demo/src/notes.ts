// The queries behind the routes: plain drizzle on whatever database handle anypg built (a pg pool
// of one connection in a warm Lambda container, or the RDS Data API). Each route is one statement,
// so none holds a transaction (or an RDS Proxy pin) across a round trip.

import type { AnypgDatabase } from 'anypg';
import { desc, eq, lt, sql } from 'drizzle-orm';
import { type Note, notes, type schema } from './schema.js';
import type { CreateNote, ListQuery, UpdateNote } from './validate.js';

/** The handle createDb({ schema }) returns: a drizzle PostgreSQL database. */
export type Db = AnypgDatabase<typeof schema>;

/** A note as the API returns it. */
export interface NoteJson {
  id: number;
  title: string;
  body: string;
  createdAt: string;
  updatedAt: string;
}

export interface NotePage {
  items: NoteJson[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

export function toJson(note: Note): NoteJson {
  return {
    id: note.id,
    title: note.title,
    body: note.body,
    createdAt: note.createdAt.toISOString(),
    updatedAt: note.updatedAt.toISOString(),
  };
}

/**
 * Newest first, by id: ids are unique and only grow, so pages never overlap or skip a note even
 * while notes are added (keyset pagination; an OFFSET would shift under inserts and deletes).
 */
export async function listNotes(db: Db, { limit, cursor }: ListQuery): Promise<NotePage> {
  // One row more than asked tells whether another page exists, without a count(*).
  const rows = await db
    .select()
    .from(notes)
    .where(cursor === undefined ? undefined : lt(notes.id, cursor))
    .orderBy(desc(notes.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { items: page.map(toJson), nextCursor: rows.length > limit && last ? String(last.id) : null };
}

export async function getNote(db: Db, id: number): Promise<Note | undefined> {
  const [row] = await db.select().from(notes).where(eq(notes.id, id));
  return row;
}

export async function createNote(db: Db, input: CreateNote): Promise<Note> {
  const [row] = await db.insert(notes).values({ title: input.title, body: input.body }).returning();
  if (!row) throw new Error('INSERT ... RETURNING returned no row');
  return row;
}

export async function updateNote(db: Db, id: number, patch: UpdateNote): Promise<Note | undefined> {
  const [row] = await db
    .update(notes)
    .set({
      ...(patch.title !== undefined && { title: patch.title }),
      ...(patch.body !== undefined && { body: patch.body }),
      // The database's clock, as for created_at: app servers' clocks drift.
      updatedAt: sql`now()`,
    })
    .where(eq(notes.id, id))
    .returning();
  return row;
}

/** True when a note was deleted. */
export async function deleteNote(db: Db, id: number): Promise<boolean> {
  const rows = await db.delete(notes).where(eq(notes.id, id)).returning({ id: notes.id });
  return rows.length > 0;
}
