// Connection strings as users really write them, thousands of them: passwords with every special
// character, raw and percent-encoded, very long ones, bad users, hosts, ports, sslmodes and unknown
// parameters. Each goes to createDb and, when accepted, is queried against a closed port or the
// real server with a wrong password. No rendering of anything a user could log may contain any
// piece of a password: the message, stack and cause chain of the error, JSON.stringify and
// util.inspect of the error and of the db, $backend, every query event and warning.
//
// Deterministic: a seeded generator, so a failure names a case that can be run again.
import { createServer } from 'node:net';
import { budget } from '@anypg/testkit';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { parseConnectionString } from '../src/config/connection-string.js';
import { type AnypgWarning, ConfigurationError, createDb, type QueryEvent } from '../src/node.js';
import { serverPort } from './support/db.js';
import { everyRendering } from './support/renderings.js';

/** mulberry32: small, fast, seeded. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIALS = [
  '@',
  '#',
  '%',
  '/',
  '?',
  ':',
  '&',
  '=',
  '+',
  ' ',
  "'",
  '"',
  '`',
  '\\',
  'é',
  '密',
  '🔑',
  '%zz',
  '%40',
  '\t',
  ';',
];
const USERS = ['app', '', 'us@er', 'u:x', 'ü', 'admin', '%41dmin'];
const SSLMODES = ['disable', 'require', 'verify-full', 'prefer', 'bogus', ''];

interface Case {
  id: number;
  url: string;
  /** The password's pieces: none of them may appear anywhere. */
  markers: string[];
  /** Whether a query may reach the real server (same host and port), with a wrong password. */
  realServer: boolean;
}

function generate(count: number, closedPort: number): Case[] {
  const next = rng(20261201);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const cases: Case[] = [];
  for (let id = 0; id < count; id++) {
    // A password of marker tokens (letters and digits only, so encoding cannot hide them)
    // separated by special characters; now and then very long.
    const markers: string[] = [];
    let password = '';
    const pieces = 1 + Math.floor(next() * 4);
    for (let p = 0; p < pieces; p++) {
      const marker = `Pw${id}k${p}Zq`;
      markers.push(marker);
      password += marker + (p < pieces - 1 || next() < 0.5 ? pick(SPECIALS) : '');
    }
    if (next() < 0.05) password = `${password}${'x'.repeat(2000 + Math.floor(next() * 3000))}`;
    const encoding = next();
    const writtenPassword =
      encoding < 0.45 ? password : encoding < 0.9 ? encodeURIComponent(password) : password.replace(/@/g, '%40');
    const user = pick(USERS);
    const writtenUser = next() < 0.5 ? user : encodeURIComponent(user);
    const hostRoll = next();
    const host =
      hostRoll < 0.85 ? '127.0.0.1' : pick(['', 'bad host', '[::1', 'h1,h2', 'localhost', '[::1]', 'db.example.com']);
    const portRoll = next();
    const real = portRoll < 0.05;
    const port =
      portRoll < 0.05
        ? String(serverPort())
        : portRoll < 0.9
          ? String(closedPort)
          : pick(['', 'abc', '99999', '0', '-1']);
    const params: string[] = [];
    if (next() < 0.5) params.push(`sslmode=${pick(SSLMODES)}`);
    if (next() < 0.2) params.push('application_name=fuzz');
    if (next() < 0.2) params.push('unknown_param=1');
    if (next() < 0.1) params.push('options=-c%20statement_timeout%3D1000');
    const auth = next() < 0.03 ? '' : `${writtenUser}:${writtenPassword}@`;
    const url = `postgresql://${auth}${host}${port ? `:${port}` : ''}/${pick(['appdb', '', 'd%20b'])}${params.length ? `?${params.join('&')}` : ''}`;
    cases.push({ id, url, markers, realServer: real && host === '127.0.0.1' && auth !== '' });
  }
  return cases;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** Runs one case; returns the renderings that must hold no marker. */
async function exercise(c: Case): Promise<{ outcome: string; renderings: string }> {
  const events: QueryEvent[] = [];
  const warnings: AnypgWarning[] = [];
  const seen: string[] = [];
  let db: ReturnType<typeof createDb> | undefined;
  try {
    db = createDb({
      url: c.url,
      env: {},
      pool: { connectTimeoutMs: 3_000 },
      circuitBreaker: false,
      onQuery: (e) => events.push(e),
      onWarning: (w) => warnings.push(w),
    });
  } catch (err) {
    seen.push(everyRendering(err));
    return { outcome: err instanceof ConfigurationError ? 'refused' : 'threw', renderings: seen.join('\n') };
  }
  let outcome = 'created';
  try {
    seen.push(everyRendering(db), JSON.stringify(db.$backend), everyRendering(db.$backend));
    // Only this machine's address is ever connected to: no DNS lookups, no TLS handshakes abroad.
    if (db.$backend.target.includes('@127.0.0.1:')) {
      const err = await db.execute(sql`select 1`).then(
        () => undefined,
        (e: unknown) => e,
      );
      outcome = err ? ((err as { code?: string }).code ?? 'error') : 'ok';
      if (err) seen.push(everyRendering(err));
      seen.push(everyRendering(db));
    }
    seen.push(JSON.stringify(events), JSON.stringify(warnings), everyRendering(warnings));
  } finally {
    await db.$close();
  }
  return { outcome, renderings: seen.join('\n') };
}

describe('connection strings, fuzzed', () => {
  it(
    '3,000 generated strings: refused clearly or failing cleanly, never showing a piece of the password',
    async () => {
      const cases = generate(3_000, await closedPort());
      const outcomes = new Map<string, number>();
      const leaks: string[] = [];
      // A few at a time: the machine may be busy, and each case is cheap.
      for (let i = 0; i < cases.length; i += 25) {
        const batch = cases.slice(i, i + 25);
        const results = await Promise.all(batch.map((c) => exercise(c)));
        results.forEach((r, k) => {
          const c = batch[k]!;
          outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
          const leaked = c.markers.filter((m) => r.renderings.includes(m));
          if (leaked.length) leaks.push(`case ${c.id} (${r.outcome}) showed ${leaked.join(', ')}`);
        });
      }
      console.log(`[fuzz] outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
      expect(leaks).toEqual([]);
      // The generator reached every path: refusals, connect failures, the real server's refusal.
      expect(outcomes.get('refused') ?? 0).toBeGreaterThan(100);
      expect(outcomes.get('CONNECTION_FAILED') ?? 0).toBeGreaterThan(1_000);
      expect(cases.filter((c) => c.realServer).length).toBeGreaterThan(20);
    },
    budget(120_000),
  ); // about 10 s on an idle machine, 3,000 connection attempts

  it('refuses the ambiguous URL of an unencoded "/" in the password, and echoes none of it', () => {
    for (const url of [
      'postgresql://admin:Xq2024/Summer7@db.example.com/app',
      'postgresql://admin:Xq2024?Summer7@db.example.com/app',
      'postgresql://admin:2024?Summer7@db.example.com/app',
      'postgresql://admin:Xq2024#Summer7@db.example.com/app',
    ]) {
      const err = (() => {
        try {
          parseConnectionString(url);
        } catch (e) {
          return e;
        }
      })();
      expect(err, url).toBeInstanceOf(ConfigurationError);
      expect((err as Error).message).toMatch(/percent-encode/i);
      for (const piece of ['2024', 'Summer7', 'db.example.com']) {
        expect(everyRendering(err), `${url} showed ${piece}`).not.toContain(piece);
      }
    }
    // The same passwords percent-encoded are fine.
    const ok = parseConnectionString(`postgresql://admin:${encodeURIComponent('2024/Summer')}@db.example.com/app`);
    expect(ok).toMatchObject({ host: 'db.example.com', port: 5432, database: 'app', password: '2024/Summer' });
    // And an '@' elsewhere must be encoded too, so nothing is guessed.
    expect(() => parseConnectionString('postgresql://u:p@h/db?application_name=a@b')).toThrow(/%40/);
    expect(parseConnectionString('postgresql://u:p@h/db?application_name=a%40b').params.application_name).toBe('a@b');
  });
});
