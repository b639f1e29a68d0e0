// The notes routes, written against the drizzle handle anypg gives (the same code for every backend).
import { desc, eq, lt, sql } from 'drizzle-orm';
import type { NotesDb } from './db.js';
import { HttpError, json, noContent } from './http.js';
import { type Note, notes } from './schema.js';
import { createNote, idParam, listQuery, REQUEST_BYTES_MAX, updateNote } from './validation.js';

export interface NoteJson {
  id: number;
  title: string;
  body: string;
  createdAt: string;
  updatedAt: string;
}

function toJson(n: Note): NoteJson {
  return {
    id: n.id,
    title: n.title,
    body: n.body,
    createdAt: n.createdAt.toISOString(),
    updatedAt: n.updatedAt.toISOString(),
  };
}

const notFound = () => new HttpError(404, 'NOT_FOUND', 'No note with this id.');

/**
 * The database, asked for on first use: a request that fails validation never touches it (so it
 * costs no connection), and the answer can name the path that was used.
 */
export type DbFor = () => NotesDb;

export interface NotePage {
  items: NoteJson[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

/**
 * GET /notes?limit=&cursor=: newest first, by id. Ids only grow, so pages never overlap or skip a
 * note while notes are added (keyset pagination; an OFFSET would shift under inserts and deletes).
 */
export async function listNotes(db: DbFor, url: URL): Promise<Response> {
  const q = listQuery.parse({
    limit: url.searchParams.get('limit') ?? undefined,
    cursor: url.searchParams.get('cursor') ?? undefined,
  });
  // One row more than asked tells whether another page exists without a count(*).
  const rows = await db()
    .select()
    .from(notes)
    .where(q.cursor === undefined ? undefined : lt(notes.id, q.cursor))
    .orderBy(desc(notes.id))
    .limit(q.limit + 1);
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  return json(200, {
    items: page.map(toJson),
    nextCursor: rows.length > q.limit && last ? String(last.id) : null,
  } satisfies NotePage);
}

export async function getNote(db: DbFor, rawId: string): Promise<Response> {
  const id = idParam.parse(rawId);
  const [row] = await db().select().from(notes).where(eq(notes.id, id));
  if (!row) throw notFound();
  return json(200, toJson(row));
}

export async function createNoteRoute(db: DbFor, request: Request): Promise<Response> {
  const input = createNote.parse(await readJson(request));
  const [row] = await db().insert(notes).values(input).returning();
  if (!row) throw new Error('INSERT ... RETURNING returned no row');
  return json(201, toJson(row), { location: `/notes/${row.id}` });
}

export async function updateNoteRoute(db: DbFor, rawId: string, request: Request): Promise<Response> {
  const id = idParam.parse(rawId);
  const input = updateNote.parse(await readJson(request));
  const [row] = await db()
    .update(notes)
    // The database's clock, as for created_at: servers' clocks drift.
    .set({ ...input, updatedAt: sql`now()` })
    .where(eq(notes.id, id))
    .returning();
  if (!row) throw notFound();
  return json(200, toJson(row));
}

export async function deleteNoteRoute(db: DbFor, rawId: string): Promise<Response> {
  const id = idParam.parse(rawId);
  const deleted = await db().delete(notes).where(eq(notes.id, id)).returning({ id: notes.id });
  if (deleted.length === 0) throw notFound();
  return noContent();
}

/** The request body as JSON: 415 unless it says JSON, 413 past the limit, 400 when empty or not JSON. */
async function readJson(request: Request): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as JSON with content-type: application/json.');
  }
  // Refuse a declared oversize body before reading it; count the bytes read for the rest.
  if (Number(request.headers.get('content-length') ?? '0') > REQUEST_BYTES_MAX) throw tooLarge();
  const bytes = await request.arrayBuffer();
  if (bytes.byteLength > REQUEST_BYTES_MAX) throw tooLarge();
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === '') throw new HttpError(400, 'BAD_REQUEST', 'The body is empty: send a JSON object.');
  try {
    return JSON.parse(text);
  } catch {
    // The parser's message quotes the input; it is not needed to fix a syntax error.
    throw new HttpError(400, 'BAD_REQUEST', 'The body is not valid JSON.');
  }
}

const tooLarge = () => new HttpError(413, 'PAYLOAD_TOO_LARGE', `The body must be at most ${REQUEST_BYTES_MAX} bytes.`);
