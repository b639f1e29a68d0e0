// A Cloudflare Worker serving the notes API on anypg (the same API as apps/lambda-demo):
//
//   GET    /notes?limit=20&cursor=ID   newest first; `nextCursor` fetches the next page
//   GET    /notes/:id
//   POST   /notes        {"title": "...", "body"?: "..."}
//   PATCH  /notes/:id    {"title"?: "...", "body"?: "..."}
//   DELETE /notes/:id
//   GET    /health       which path anypg chose and why, and one round trip to the database
//
// Two database paths: Hyperdrive (the HYPERDRIVE binding, pg over it) and neon-http (DATABASE_URL,
// SQL over HTTPS). The binding wins when both are configured; `?backend=hyperdrive|neon-http` on
// any request, or the BACKEND var, picks one explicitly. Every answer that used the database names
// the path in an `x-anypg-backend` header; every answer carries `x-request-id`.
import { dbFor, type Env, type NotesDb } from './db.js';
import { HttpError, json, toErrorResponse } from './http.js';
import { createNoteRoute, type DbFor, deleteNoteRoute, getNote, listNotes, updateNoteRoute } from './notes.js';
import { backendName, type DemoBackend } from './validation.js';

type Route = (db: DbFor) => Promise<Response>;

export default {
  // ctx is unused (nothing to close: see db.ts); kept so that wrappers (src/traced.ts) pass it on.
  async fetch(request: Request, env: Env, _ctx?: { waitUntil(promise: Promise<unknown>): void }): Promise<Response> {
    // Cloudflare's ray id names the request in Cloudflare's own logs too; locally there is none.
    const requestId = request.headers.get('cf-ray') ?? crypto.randomUUID();
    let used: NotesDb | undefined;
    let response: Response;
    try {
      const url = new URL(request.url);
      const route = match(request, url);
      const backend = chooseBackend(url, env);
      // The db lives at module scope (db.ts); anypg gives this request its own connection at the
      // first query and closes it once the request is done with it. Nothing to close here.
      response = await route(() => (used = dbFor(backend)));
    } catch (err) {
      response = toErrorResponse(err, requestId);
    }
    if (used) response.headers.set('x-anypg-backend', used.$backend.backend);
    response.headers.set('x-request-id', requestId);
    return response;
  },
};

function match(request: Request, url: URL): Route {
  const method = request.method.toUpperCase();
  const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
  if (path === '/notes') {
    if (method === 'GET') return (db) => listNotes(db, url);
    if (method === 'POST') return (db) => createNoteRoute(db, request);
    throw methodNotAllowed(method, 'GET, POST');
  }
  const one = /^\/notes\/([^/]+)$/.exec(path);
  if (one) {
    const id = safeDecode(one[1] ?? '');
    if (method === 'GET') return (db) => getNote(db, id);
    if (method === 'PATCH') return (db) => updateNoteRoute(db, id, request);
    if (method === 'DELETE') return (db) => deleteNoteRoute(db, id);
    throw methodNotAllowed(method, 'GET, PATCH, DELETE');
  }
  if (path === '/health') {
    if (method !== 'GET') throw methodNotAllowed(method, 'GET');
    return async (db) => {
      const ping = await db().$ping();
      const { backend, reason, runtime } = db().$backend;
      const body = { ok: ping.ok, backend, reason, runtime, ...(ping.error && { error: ping.error }) };
      return json(ping.ok ? 200 : 503, body);
    };
  }
  throw new HttpError(404, 'ROUTE_NOT_FOUND', `No route for ${method} ${path.slice(0, 200)}.`);
}

function chooseBackend(url: URL, env: Env): DemoBackend | undefined {
  const asked = url.searchParams.get('backend');
  if (asked !== null) return backendName.parse(asked); // the client's mistake: a 400
  if (!env.BACKEND) return undefined;
  const configured = backendName.safeParse(env.BACKEND);
  // The operator's mistake: a 500, with the reason in the log.
  if (!configured.success) throw new Error('The BACKEND var must be hyperdrive, neon-http or empty.');
  return configured.data;
}

const methodNotAllowed = (method: string, allow: string) =>
  new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${allow}.`, { allow });

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a stray '%': validation reports the value as malformed
  }
}
