// The Worker the workerd tests talk to: a small app written the two ways the README allows. By
// default each request creates its own db (createDb({ env, pg, schema })), runs what the request
// asks for, and closes the db with ctx.waitUntil(db.$close()) once the response is ready. With
// `scope: 'module'` in the body the request uses instead one of the dbs created below at module
// scope, from `env` of `cloudflare:workers`, shared by every request of the isolate.
//
//   POST /<backend>/<op>   body: { t: table prefix, app: application_name, scope?, ...arguments }
//   backend: hyperdrive (the HYPERDRIVE binding) | neon-http (the local Neon endpoint over fetch)
//
// Answers are JSON; values that JSON cannot carry (Date, bigint, bytes) are tagged so the tests
// can tell which JS type the backend produced.
import { env as moduleEnv } from 'cloudflare:workers';
import { eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { surfaceForeignWrites } from '../../src/backends/hyperdrive/foreign-socket.js';
import { type AnypgDatabase, AnypgError, createDb, DatabaseError, type NeonOptions } from '../../src/edge.js';
import { type ConformanceSchema, conformanceSchema } from '../conformance/schema.js';
import { conformanceOps } from './conformance-ops.js';
import { MODULE_APP } from './module-names.js';
import { makeSchema, type TestSchema } from './schema.js';
import { errorFields, tag } from './tagged.js';

export interface TestEnv {
  HYPERDRIVE: { connectionString: string; host: string; port: number };
  /** A second binding to the same database, standing in for one configured without caching. */
  HYPERDRIVE_UNCACHED: { connectionString: string; host: string; port: number };
  /** The same database through a proxy in Node that counts round trips (read them through ADMIN). */
  HYPERDRIVE_COUNTED: { connectionString: string; host: string; port: number };
  ADMIN: { fetch(input: string, init?: RequestInit): Promise<Response> };
  /** The test PostgreSQL's URL, reached through the Neon endpoint by neon-http. */
  NEON_URL: string;
  NEON_CONFIG: NeonOptions;
}

interface Ctx {
  waitUntil(promise: Promise<unknown>): void;
}

type Backend = 'hyperdrive' | 'neon-http';
type Db = AnypgDatabase<TestSchema>;
type Body = { t: string; app: string } & Record<string, unknown>;

// Every unhandled rejection this isolate sees. pg in workerd leaves one ("Stream was cancelled")
// for each closed client that has no 'error' listener; the tests expect none from anypg.
const rejections: string[] = [];
addEventListener('unhandledrejection', (event) => {
  const reason = (event as PromiseRejectionEvent).reason as { message?: unknown } | undefined;
  rejections.push(String(reason?.message ?? reason));
  event.preventDefault();
});

const schemas = new Map<string, TestSchema>();
const confSchemas = new Map<string, ConformanceSchema>();
function confSchemaFor(prefix: string): ConformanceSchema {
  let s = confSchemas.get(prefix);
  if (!s) {
    s = conformanceSchema(prefix);
    confSchemas.set(prefix, s);
  }
  return s;
}
function schemaFor(prefix: string): TestSchema {
  let s = schemas.get(prefix);
  if (!s) {
    s = makeSchema(prefix);
    schemas.set(prefix, s);
  }
  return s;
}

// The pattern users write first (issue 14): dbs created once, at module scope, from the module-scope
// env. Resolution must not touch the Hyperdrive binding here (workerd forbids reading its properties
// at global scope); every request that queries gets connections of its own.
const globalEnv = moduleEnv as unknown as TestEnv;
const moduleDbs: Record<Backend, AnypgDatabase<Record<string, never>>> = {
  hyperdrive: createDb({ env: globalEnv, pg, applicationName: MODULE_APP.hyperdrive }),
  'neon-http': createDb({ env: {}, url: neonUrl(globalEnv, MODULE_APP['neon-http']), neon: globalEnv.NEON_CONFIG }),
};

function neonUrl(env: TestEnv, app: string): string {
  const url = new URL(env.NEON_URL);
  url.searchParams.set('application_name', app);
  return url.toString();
}

function open<S extends Record<string, unknown> = TestSchema>(
  backend: Backend,
  env: TestEnv,
  body: Body,
  schema: S = schemaFor(body.t) as unknown as S,
): AnypgDatabase<S> {
  if (backend === 'hyperdrive') {
    const hyperdrive = body.uncached ? { binding: 'HYPERDRIVE', uncachedBinding: 'HYPERDRIVE_UNCACHED' } : undefined;
    return createDb({ env, pg, schema, applicationName: body.app, hyperdrive });
  }
  // No binding in this env: detection has to pick neon-http from the configured endpoint.
  return createDb({ env: {}, url: neonUrl(env, body.app), neon: env.NEON_CONFIG, schema });
}

type Op = (db: Db, s: TestSchema, body: Body) => Promise<unknown>;

/** The server session a statement runs on: its backend pid and start time (pids are reused). */
const SESSION = sql<string>`pg_backend_pid() || '@' || (select backend_start::text from pg_stat_activity where pid = pg_backend_pid())`;

const ops: Record<string, Op> = {
  async info(db) {
    const { batchRoundTrips, ...caps } = db.$capabilities;
    return { backend: db.$backend, capabilities: { ...caps, batchRoundTrips3: batchRoundTrips(3) } };
  },

  /** A write on the cached binding, read back through $fresh (the uncached one). */
  async fresh(db, s, body) {
    const name = String(body.name);
    await db.insert(s.authors).values({ name });
    const [row] = await db.$fresh.select({ name: s.authors.name }).from(s.authors).where(eq(s.authors.name, name));
    const pids = await Promise.all([
      db.execute(sql`select pg_backend_pid() as pid`),
      db.$fresh.execute(sql`select pg_backend_pid() as pid`),
    ]);
    return {
      row,
      backend: db.$backend,
      fresh: db.$fresh.$backend,
      pids: pids.map((r) => (r.rows[0] as { pid: number }).pid),
    };
  },

  async crud(db, s, body) {
    const name = String(body.name);
    const [inserted] = await db.insert(s.authors).values({ name }).returning();
    const [updated] = await db
      .update(s.authors)
      .set({ name: `${name}!` })
      .where(eq(s.authors.id, inserted!.id))
      .returning({ id: s.authors.id, name: s.authors.name });
    await db.insert(s.posts).values([
      { authorId: inserted!.id, title: 'first', score: '1.50' },
      { authorId: inserted!.id, title: 'second' },
    ]);
    const selected = await db
      .select({ title: s.posts.title, score: s.posts.score, at: s.posts.at })
      .from(s.posts)
      .where(eq(s.posts.authorId, inserted!.id))
      .orderBy(s.posts.id);
    const related = await db.query.authors.findFirst({
      where: eq(s.authors.id, inserted!.id),
      with: { posts: { columns: { title: true }, orderBy: (p, { asc }) => [asc(p.id)] } },
    });
    return { inserted, updated, selected, related };
  },

  async execute(db) {
    const r = await db.execute(
      sql`select 1::int8 as big, 2.5::numeric as num, 3::int4 as small, now()::timestamptz as ts, '{1,2}'::int[] as arr,
        '{"a":1}'::json as j, null::text as nothing, '\\x0102'::bytea as bytes, true as flag, 'é'::text as word`,
    );
    return { command: r.command, rowCount: r.rowCount, fields: r.fields, rows: r.rows };
  },

  async txCommit(db, s, body) {
    return db.transaction(async (tx) => {
      const [a] = await tx
        .insert(s.authors)
        .values({ name: String(body.name) })
        .returning({ id: s.authors.id });
      const [p] = await tx.insert(s.posts).values({ authorId: a!.id, title: 'in tx' }).returning({ id: s.posts.id });
      return { author: a!.id, post: p!.id };
    });
  },

  async txRollback(db, s, body) {
    let seen: number | undefined;
    try {
      await db.transaction(async (tx) => {
        const [a] = await tx
          .insert(s.authors)
          .values({ name: String(body.name) })
          .returning({ id: s.authors.id });
        seen = a!.id;
        throw new Error('changed my mind');
      });
    } catch (err) {
      return { seen, error: (err as Error).message };
    }
    return { seen, error: null };
  },

  async txSavepoint(db, s, body) {
    return db.transaction(async (tx) => {
      await tx.insert(s.authors).values({ name: `${String(body.name)}-outer` });
      const inner = await tx
        .transaction(async (sp) => {
          await sp.insert(s.authors).values({ name: `${String(body.name)}-inner` });
          throw new Error('undo the inner one');
        })
        .catch((err: Error) => err.message);
      return { inner };
    });
  },

  async batch(db, s, body) {
    const name = String(body.name);
    const [inserted, selected, updated] = await db.batch([
      db.insert(s.authors).values({ name }).returning({ id: s.authors.id, name: s.authors.name }),
      db.select({ name: s.authors.name }).from(s.authors).where(eq(s.authors.name, name)),
      db
        .update(s.authors)
        .set({ name: `${name}+` })
        .where(eq(s.authors.name, name))
        .returning({ name: s.authors.name }),
    ]);
    return { inserted, selected, updated };
  },

  async batchFails(db, s, body) {
    const name = String(body.name);
    try {
      // The second insert violates the unique constraint: the first must not survive either.
      await db.batch([db.insert(s.authors).values({ name: `${name}-first` }), db.insert(s.authors).values({ name })]);
      return { error: null };
    } catch (err) {
      return { error: describeError(err) };
    }
  },

  async unique(db, s, body) {
    const name = String(body.name);
    await db.insert(s.authors).values({ name });
    try {
      await db.insert(s.authors).values({ name });
      return { error: null };
    } catch (err) {
      return { error: describeError(err) };
    }
  },

  /**
   * A statement, a wait of `waitMs` on a timer (other I/O, as a request that calls an API between
   * two queries), a statement, then two statements at once: the sessions each ran on.
   */
  async pause(db, _s, body) {
    const session = async () =>
      ((await db.execute(sql`select ${SESSION} as session`)).rows[0] as { session: string }).session;
    const first = await session();
    await new Promise((resolve) => setTimeout(resolve, Number(body.waitMs)));
    const second = await session();
    const both = await Promise.all([session(), session()]);
    return { sessions: [first, second, ...both] };
  },

  /**
   * One request of the isolation runs: an echo, and every tenth request a transaction or a batch
   * (`every: 1` makes every request do both). `sessions` names the server sessions the request's
   * statements ran on (pid and start time), so a test can see that no session served two requests.
   */
  async load(db, s, body) {
    const n = Number(body.n);
    const every = Number(body.every ?? 10);
    const sessions: string[] = [];
    const r = await db.execute(sql`select ${n}::int as n, ${SESSION} as session`);
    const first = r.rows[0] as { n: number; session: string };
    const echoed = [first.n];
    sessions.push(first.session);
    if (n % every === 0) {
      const found = await db.transaction(async (tx) => {
        const [a] = await tx
          .insert(s.authors)
          .values({ name: `${body.app}-${n}` })
          .returning({ id: s.authors.id });
        const [back] = await tx
          .select({ name: s.authors.name, session: sql<string>`${SESSION}` })
          .from(s.authors)
          .where(eq(s.authors.id, a!.id));
        sessions.push(back!.session);
        return back?.name;
      });
      echoed.push(Number(found?.split('-').pop()));
    }
    if (n % every === (every === 1 ? 0 : 5)) {
      const [a, b] = await db.batch([
        db.execute(sql`select ${n}::int as n`),
        db.execute(sql`select ${n + 1}::int as n`),
      ]);
      echoed.push((a.rows[0] as { n: number }).n, (b.rows[0] as { n: number }).n);
    }
    return { n, echoed, sessions, opened: db.$stats().opened };
  },
};

// The control for module scope: what users write first without anypg, a pg Pool at module scope.
// Its connection belongs to the first request that used it; the query timeout bounds the hang.
let sharedPool: pg.Pool | undefined;
// The second line of defence: a module-scope pg Client whose socket reports a write refused by
// workerd (another request's socket), as anypg's hyperdrive driver does (foreign-socket.ts).
let foreignClient: pg.Client | undefined;

/** Round trips the counting proxy saw since the last read (reading resets it). */
async function roundTrips(env: TestEnv): Promise<number> {
  const res = await env.ADMIN.fetch('http://admin.test/round-trips', { method: 'POST' });
  return ((await res.json()) as { rows: [{ trips: number }] }).rows[0].trips;
}

/**
 * Requests that open no db, or their own. roundTrips: pg inside workerd on the counted binding,
 * one request: a batch of 5, a transaction of 3 dependent statements, 100 concurrent queries.
 */
const plain: Record<string, (env: TestEnv, body: Body) => Promise<unknown>> = {
  async roundTrips(env, body) {
    const s = schemaFor(String(body!.t));
    const db = createDb({
      env,
      pg,
      schema: s,
      applicationName: String(body!.app),
      hyperdrive: { binding: 'HYPERDRIVE_COUNTED' },
      // The request keeps its one connection across the counting calls to ADMIN between phases:
      // with the default (10 ms), a slow ADMIN answer on a busy machine would close it, and the
      // next phase would count a new login's round trips.
      pool: { idleTimeoutMs: 60_000 },
      ...(body!.pipeline !== undefined && { pipeline: Boolean(body!.pipeline) }),
    });
    try {
      const name = String(body!.name);
      await db.execute(sql`select 1`); // connect
      await roundTrips(env);
      await db.batch([
        db.insert(s.authors).values({ name: `${name}-1` }),
        db.insert(s.authors).values({ name: `${name}-2` }),
        db.insert(s.authors).values({ name: `${name}-3` }),
        db
          .select({ name: s.authors.name })
          .from(s.authors)
          .where(eq(s.authors.name, `${name}-1`)),
        db.execute(sql`select 5`),
      ]);
      const batch = await roundTrips(env);
      await db.transaction(async (tx) => {
        const [a] = await tx
          .insert(s.authors)
          .values({ name: `${name}-tx` })
          .returning({ id: s.authors.id });
        const [p] = await tx.insert(s.posts).values({ authorId: a!.id, title: 'k+1' }).returning({ id: s.posts.id });
        await tx.select().from(s.posts).where(eq(s.posts.id, p!.id));
      });
      const transaction = await roundTrips(env);
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => db.execute(sql`select ${i}::int as i`)));
      const concurrent = await roundTrips(env);
      return {
        batch,
        transaction,
        concurrent,
        answersInOrder: answers.every((r, i) => (r.rows[0] as { i: number }).i === i),
        batchRoundTrips: db.$capabilities.batchRoundTrips(5),
        opened: db.$stats().opened,
      };
    } finally {
      await db.$close();
    }
  },
  async sharedPg(env, body) {
    if (!sharedPool) {
      sharedPool = new pg.Pool({
        connectionString: env.HYPERDRIVE.connectionString,
        ssl: false,
        max: 1,
        query_timeout: Number(body.timeoutMs),
        application_name: 'anypg_wk_shared_pg',
      });
      sharedPool.on('error', () => {});
    }
    const started = Date.now();
    try {
      const r = await sharedPool.query('select 1 as one');
      return { rows: r.rows, ms: Date.now() - started };
    } catch (err) {
      return { error: String((err as Error).message), ms: Date.now() - started };
    }
  },
  async foreignPg(env) {
    const started = Date.now();
    try {
      if (!foreignClient) {
        foreignClient = new pg.Client({
          connectionString: env.HYPERDRIVE.connectionString,
          ssl: false,
          query_timeout: 10_000,
          application_name: 'anypg_wk_foreign_pg',
        });
        surfaceForeignWrites(foreignClient);
        foreignClient.on('error', () => {});
        await foreignClient.connect();
      }
      const r = await foreignClient.query('select 1 as one');
      return { rows: r.rows, ms: Date.now() - started };
    } catch (err) {
      return { error: describeError(err), ms: Date.now() - started };
    }
  },
  /** A module-scope db's counters (connections opened over the isolate's life, retries). */
  async moduleStats(_env, body) {
    return moduleDbs[body.backend as Backend].$stats();
  },
  /** The control for the abandoned-session count: a pg client never closed (workerd drops its socket). */
  async leakPg(env) {
    const client = new pg.Client({
      connectionString: env.HYPERDRIVE.connectionString,
      ssl: false,
      application_name: 'anypg_iso_leak_pg',
    });
    client.on('error', () => {});
    await client.connect();
    const r = await client.query('select 1 as one');
    return { rows: r.rows };
  },
  async rejections() {
    return { rejections };
  },
  /**
   * The control for the rejection count: pg used bare, without the 'error' listener anypg adds.
   * Its end() leaves workerd's "Stream was cancelled" unhandled; the count must see it.
   */
  async barePg(env) {
    const client = new pg.Client({ connectionString: env.HYPERDRIVE.connectionString, ssl: false });
    await client.connect();
    await client.query('select 1');
    await client.end();
    return { ended: true };
  },
};

export default {
  async fetch(request: Request, env: TestEnv, ctx: Ctx): Promise<Response> {
    const [, backend, op] = new URL(request.url).pathname.split('/');
    const bare = op && plain[op];
    if (bare)
      return Response.json(
        await bare(env, request.method === 'POST' ? ((await request.json()) as Body) : ({} as Body)),
      );
    if (backend !== 'hyperdrive' && backend !== 'neon-http') {
      return Response.json({ error: `no such backend: ${backend}` }, { status: 404 });
    }
    const run = op ? ops[op] : undefined;
    const conf = op ? conformanceOps[op] : undefined;
    if (!run && !conf) return Response.json({ error: `no such route: ${backend}/${op}` }, { status: 404 });
    const body = (await request.json()) as Body;
    const schema = conf ? confSchemaFor(body.t) : schemaFor(body.t);
    const shared = body.scope === 'module';
    const db = shared ? (moduleDbs[backend] as unknown as Db) : open(backend, env, body, schema);
    try {
      const result = conf
        ? await conf(db as AnypgDatabase<ConformanceSchema>, schema as ConformanceSchema, body, () =>
            open(backend, env, body, schema as ConformanceSchema),
          )
        : await run!(db as Db, schema as TestSchema, body);
      return Response.json(tag(result));
    } catch (err) {
      return Response.json({ error: describeError(err) }, { status: 500 });
    } finally {
      // body.leak: the control for the tests that count sessions closed without a goodbye. A
      // module-scope db is never closed: anypg closes each request's connections itself.
      if (!body.leak && !shared) ctx.waitUntil(db.$close());
    }
  },
};

function describeError(err: unknown) {
  const cause = (err as { cause?: { message?: unknown } } | undefined)?.cause;
  return {
    ...errorFields(err),
    isAnypgError: err instanceof AnypgError,
    isDatabaseError: err instanceof DatabaseError,
    cause: String(cause?.message ?? cause ?? ''),
  };
}
