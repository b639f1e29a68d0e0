// Secrets never leak, and TLS is on by default for anything that is not this machine.
import { inspect } from 'node:util';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { ConfigurationError, ConnectionError, createDb } from '../src/node.js';
import { databaseUrl } from './support/db.js';
import { everyRendering } from './support/renderings.js';

const PASSWORDS = [
  'p@ss',
  'p#ss',
  'p%ss',
  'p/ss',
  'p?ss',
  'p:ss',
  'pässwörd-密码-🔑',
  'a@b#c%d/e?f:g',
  '%zz-not-hex',
  'spaces in it',
];

describe('passwords never appear in errors or inspected objects', () => {
  for (const password of PASSWORDS) {
    for (const encoded of [false, true]) {
      it(`${JSON.stringify(password)} written ${encoded ? 'percent-encoded' : 'raw'} in the URL`, async () => {
        const pw = encoded ? encodeURIComponent(password) : password;
        // Port 1 on loopback: nothing listens, so a well-formed URL fails at connect time.
        const url = `postgresql://app_user:${pw}@127.0.0.1:1/appdb`;
        let db: ReturnType<typeof createDb> | undefined;
        let err: unknown;
        try {
          db = createDb({ url, env: {}, pool: { connectTimeoutMs: 2000 }, circuitBreaker: false });
        } catch (e) {
          err = e;
        }
        if (db) {
          expect(everyRendering(db)).not.toContain(password);
          expect(everyRendering(db.$backend)).not.toContain(password);
          err = await db.execute(sql`select 1`).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(ConnectionError);
          expect(everyRendering(db)).not.toContain(password);
          await db.$close();
        } else {
          expect(err).toBeInstanceOf(ConfigurationError);
          expect((err as ConfigurationError).option).toBe('url');
          expect((err as Error).message).toMatch(/encode/i);
        }
        const rendered = everyRendering(err);
        expect(rendered).not.toContain(password);
        if (encoded) expect(rendered).not.toContain(pw);
        // Encoded passwords are always valid URLs.
        if (encoded) expect(db).toBeDefined();
      });
    }
  }

  it('a wrong password fails to connect without echoing it, and is not retried as transient', async () => {
    const u = new URL(databaseUrl());
    u.password = 'definitely-wrong-pw';
    const db = createDb({ url: u.toString(), env: {}, circuitBreaker: false });
    const err = await db.execute(sql`select 1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/password authentication failed/);
    expect(everyRendering(err)).not.toContain('definitely-wrong-pw');
    await db.$close();
  });

  it('the live client, inspected after it connected, shows no password', async () => {
    const db = createDb({ url: databaseUrl(), env: {} });
    await db.execute(sql`select 1`);
    const pw = decodeURIComponent(new URL(databaseUrl()).password);
    expect(pw.length).toBeGreaterThan(0);
    expect(everyRendering(db)).not.toContain(`:${pw}@`);
    expect(inspect(db, { depth: 20 })).not.toMatch(/password: '/);
    await db.$close();
  });

  it('a missing or malformed URL names the option and what to do', () => {
    expect(() => createDb({ env: {} })).toThrow(/DATABASE_URL/);
    expect(() => createDb({ url: 'mysql://u:pw@h/db', env: {} })).toThrow(/postgresql:\/\//);
    const err = (() => {
      try {
        createDb({ env: { DATABASE_URL: 'postgres://u:secret#1@db.example.com/x' } });
      } catch (e) {
        return e;
      }
    })() as ConfigurationError;
    expect(err.option).toBe('DATABASE_URL');
    expect(err.message).toMatch(/%23/);
    expect(everyRendering(err)).not.toContain('secret');
    expect(() => createDb({ url: databaseUrl(), env: {}, pool: { max: 0 } })).toThrow(
      /pool.max must be an integer >= 1/,
    );
  });
});

describe('TLS', () => {
  it('is verify-full by default for a remote host', () => {
    const db = createDb({ url: 'postgresql://u:pw@db.example.com/app', env: {} });
    expect(db.$backend.tls).toBe('verify-full');
  });

  it('refuses plaintext to a remote host unless explicitly allowed', () => {
    for (const mode of ['disable', 'allow', 'prefer']) {
      expect(() => createDb({ url: `postgresql://u:pw@db.example.com/app?sslmode=${mode}`, env: {} })).toThrow(
        ConfigurationError,
      );
    }
    const db = createDb({
      url: 'postgresql://u:pw@db.example.com/app?sslmode=disable',
      env: {},
      ssl: { allowUnencryptedRemote: true },
    });
    expect(db.$backend.tls).toBe('disable');
  });

  it('honours libpq sslmode names and rejects unknown ones', () => {
    expect(createDb({ url: 'postgresql://u:pw@db.example.com/app?sslmode=require', env: {} }).$backend.tls).toBe(
      'require',
    );
    expect(createDb({ url: 'postgresql://u:pw@db.example.com/app?sslmode=verify-ca', env: {} }).$backend.tls).toBe(
      'verify-ca',
    );
    expect(() => createDb({ url: 'postgresql://u:pw@db.example.com/app?sslmode=bogus', env: {} })).toThrow(/sslmode/);
    expect(createDb({ url: 'postgresql://u:pw@localhost/app', env: {} }).$backend.tls).toBe('disable');
  });

  it('verify-full really verifies: a server without TLS fails the connection', async () => {
    // The local test server has no certificate: asking for verified TLS must fail, not fall back.
    const u = new URL(databaseUrl());
    u.searchParams.set('sslmode', 'verify-full');
    const db = createDb({ url: u.toString(), env: {}, circuitBreaker: false });
    const err = await db.execute(sql`select 1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/SSL|TLS/i);
    await db.$close();
  });
});
