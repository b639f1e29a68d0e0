// No secret in the process list: every process @anypg/local starts (guardians, PostgreSQL,
// initdb's successors, PgBouncer, Lambda containers) is read from /proc while it runs, and neither
// its command line (readable by every user) nor its environment (readable by its OS user) may hold
// a password, a DATABASE_URL with one, or an AWS key the caller had in its own environment. Only
// the function's process may see what the function was configured with, as on Lambda.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type LocalPgBouncer, type LocalPostgres, startLambda, startPgBouncer, startPostgres } from '../src/index.js';

const WARM = fileURLToPath(new URL('./fixtures/lambda/warm.mjs', import.meta.url));
const tag = Math.random().toString(36).slice(2, 10);
// What the caller has in its environment: none of it may reach a helper or a server.
const parentSecrets = {
  AWS_SECRET_ACCESS_KEY: `parent-aws-secret-${tag}`,
  AWS_SESSION_TOKEN: `parent-aws-token-${tag}`,
  DATABASE_URL: `postgresql://app:parent-db-pw-${tag}@db.example.test/app`,
};
const superuserPassword = `superuser-pw-${tag}`;
// What the function is configured with: only its own process may hold it.
const functionSecret = `postgresql://fn:function-db-pw-${tag}@127.0.0.1:5432/app`;

interface Proc {
  pid: number;
  cmdline: string;
  /** Undefined when it cannot be read (another OS user, and we are not root). */
  environ: string | undefined;
}

/** Every live descendant of this process, with its command line and environment. */
function descendants(): Proc[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const isOurs = (pid: number): boolean => {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p)) if (p === process.pid) return true;
    return false;
  };
  const read = (path: string) => {
    try {
      return readFileSync(path, 'latin1').replaceAll('\0', ' ');
    } catch {
      return undefined;
    }
  };
  return [...parentOf.keys()]
    .filter(isOurs)
    .map((pid) => ({ pid, cmdline: read(`/proc/${pid}/cmdline`) ?? '', environ: read(`/proc/${pid}/environ`) }))
    .filter((p) => p.cmdline !== '');
}

const secretsIn = (text: string | undefined, secrets: string[]) => secrets.filter((s) => text?.includes(s));

describe.skipIf(process.platform !== 'linux')('secrets in /proc of every child (Linux: needs /proc)', () => {
  const saved: Record<string, string | undefined> = {};
  let postgres: LocalPostgres;
  let bouncer: LocalPgBouncer;

  beforeAll(async () => {
    for (const [k, v] of Object.entries(parentSecrets)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    postgres = await startPostgres({ password: superuserPassword });
    bouncer = await startPgBouncer({ upstream: postgres.url });
  });

  afterAll(async () => {
    await bouncer?.close();
    await postgres?.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('PostgreSQL, PgBouncer and their guardians: no password, URL or caller secret in argv or environment', () => {
    const procs = descendants();
    // The guardians (node), the postmaster and its backends, PgBouncer.
    expect(procs.some((p) => p.cmdline.includes('postgres'))).toBe(true);
    expect(procs.some((p) => p.cmdline.includes('pgbouncer'))).toBe(true);
    expect(procs.filter((p) => p.cmdline.startsWith(process.execPath)).length).toBeGreaterThanOrEqual(2);
    const secrets = [...Object.values(parentSecrets), superuserPassword, encodeURIComponent(superuserPassword)];
    for (const p of procs) {
      expect({ pid: p.pid, leaked: secretsIn(p.cmdline, secrets) }).toEqual({ pid: p.pid, leaked: [] });
      expect({ pid: p.pid, leaked: secretsIn(p.environ, secrets) }).toEqual({ pid: p.pid, leaked: [] });
    }
    // Read as root (CI), the environments were really checked, not skipped.
    if (process.getuid?.() === 0) expect(procs.every((p) => p.environ !== undefined)).toBe(true);
  });

  it('a Lambda container: its guardian holds nothing; the function holds its configuration only', async () => {
    const lambda = await startLambda({
      handler: WARM,
      env: {
        DATABASE_URL: functionSecret,
        AWS_ACCESS_KEY_ID: `fn-key-${tag}`,
        AWS_SECRET_ACCESS_KEY: `fn-secret-${tag}`,
      },
    });
    try {
      const fn = lambda.pid!;
      const procs = descendants();
      const container = procs.find((p) => p.pid === fn);
      expect(container).toBeDefined();
      const configured = [functionSecret, `fn-secret-${tag}`];
      const everything = [...Object.values(parentSecrets), superuserPassword, ...configured];
      for (const p of procs) {
        expect({ pid: p.pid, leaked: secretsIn(p.cmdline, everything) }).toEqual({ pid: p.pid, leaked: [] });
        const forbidden = p.pid === fn ? Object.values(parentSecrets) : everything;
        expect({ pid: p.pid, leaked: secretsIn(p.environ, forbidden) }).toEqual({ pid: p.pid, leaked: [] });
      }
      // The function does get its configuration (the check above is not vacuous).
      if (container!.environ !== undefined) expect(container!.environ).toContain(functionSecret);
      const r = await lambda.invoke({ action: 'count' });
      expect(r.error).toBeUndefined();
    } finally {
      await lambda.close();
    }
  });

  it('still runs everything (the configuration reached each helper through stdin)', async () => {
    const pg = (await import('pg')).default;
    for (const u of [postgres.url, bouncer.url]) {
      const c = new pg.Client({ connectionString: u });
      await c.connect();
      expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      await c.end();
    }
    expect(inject('databaseUrl')).toMatch(/^postgres/);
  });
});
