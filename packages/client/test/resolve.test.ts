// Backend resolution: explicit over implicit, and impossible choices refused at createDb.
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { isHyperdriveBinding, type ResolveInput, resolveBackend } from '../src/core/resolve.js';
import { createDb as createEdgeDb } from '../src/edge.js';
import { ConfigurationError, createDb } from '../src/node.js';
import { databaseUrl } from './support/db.js';

const ALL = ['pg', 'pg-pooler', 'neon-http', 'neon-ws', 'hyperdrive', 'data-api'] as const;
const base = (over: Partial<ResolveInput>): ResolveInput => ({
  explicit: undefined,
  env: {},
  runtime: { name: 'node', evidence: 'test' },
  host: 'db.internal',
  pooler: undefined,
  dataApi: false,
  neonEndpoint: false,
  available: ALL,
  hyperdriveBinding: undefined,
  ...over,
});
const binding = (url: string) => {
  const u = new URL(url);
  return {
    connectionString: url,
    host: u.hostname,
    port: Number(u.port),
    user: u.username,
    password: u.password,
    database: 'postgres',
  };
};

describe('resolveBackend', () => {
  it('says a local URL with neon.fetchEndpoint is a Neon-compatible endpoint, not a Neon database', () => {
    const workerd = { name: 'workerd', evidence: 'test' } as const;
    const local = resolveBackend(base({ runtime: workerd, host: '127.0.0.1', neonEndpoint: true }));
    expect(local.backend).toBe('neon-http');
    expect(local.reason).toContain('neon.fetchEndpoint names a Neon-compatible endpoint');
    expect(local.reason).not.toContain('Neon database');
    const neon = resolveBackend(base({ runtime: workerd, host: 'ep-x-123.us-east-2.aws.neon.tech' }));
    expect(neon.reason).toContain('the URL is a Neon database');
  });

  it('mentions the Data API variables in "No database URL" on Lambda only', () => {
    const lambda = () => createDb({ env: { AWS_LAMBDA_FUNCTION_NAME: 'fn' } });
    expect(lambda).toThrow(
      /No database URL.*ANYPG_DATA_API_RESOURCE_ARN, ANYPG_DATA_API_SECRET_ARN and ANYPG_DATA_API_DATABASE/,
    );
    expect(() => createDb({ env: {} })).toThrow(/No database URL/);
    expect(() => createDb({ env: {} })).not.toThrow(/DATA_API/);
  });

  it('takes the explicit option first, then ANYPG_BACKEND', () => {
    expect(resolveBackend(base({ explicit: 'neon-ws', env: { ANYPG_BACKEND: 'pg' } })).backend).toBe('neon-ws');
    const r = resolveBackend(base({ env: { ANYPG_BACKEND: 'neon-http' } }));
    expect(r).toEqual({ backend: 'neon-http', reason: 'ANYPG_BACKEND is neon-http' });
    expect(() => resolveBackend(base({ env: { ANYPG_BACKEND: 'mysql' } }))).toThrow(/ANYPG_BACKEND must be one of/);
  });

  it("tells workerd's Hyperdrive binding by its class, without reading a property (they throw at global scope)", () => {
    // The shape of workerd's binding at global scope: a Hyperdrive instance whose getters throw.
    // (The real one is exercised at a real global scope by test/workers-global-scope.test.ts.)
    class Hyperdrive {
      get [Symbol.toStringTag]() {
        return 'Hyperdrive';
      }
    }
    for (const key of ['connectionString', 'host', 'port']) {
      Object.defineProperty(Hyperdrive.prototype, key, {
        get() {
          throw new Error('Disallowed operation called within global scope.');
        },
      });
    }
    expect(isHyperdriveBinding(new Hyperdrive())).toBe(true);
    expect(
      resolveBackend(base({ runtime: { name: 'workerd', evidence: 'ua' }, env: { DB: new Hyperdrive() } })),
    ).toMatchObject({ backend: 'hyperdrive', binding: 'DB' });
    // A service binding (an RPC stub) answers `in` with true for any name: not a Hyperdrive binding.
    const stub = new Proxy({}, { has: () => true, get: (_, k) => (k === Symbol.toStringTag ? 'Fetcher' : () => {}) });
    expect(isHyperdriveBinding(stub)).toBe(false);
  });

  it('finds a Hyperdrive binding in env and names it', () => {
    const r = resolveBackend(
      base({
        runtime: { name: 'workerd', evidence: 'ua' },
        env: { DB: binding('postgresql://u:p@h.hyperdrive.local:5432/d') },
      }),
    );
    expect(r).toMatchObject({ backend: 'hyperdrive', binding: 'DB', reason: 'binding DB found in env' });
  });

  it('uses the Data API when its ARNs are configured', () => {
    expect(resolveBackend(base({ runtime: { name: 'aws-lambda', evidence: 'x' }, dataApi: true })).backend).toBe(
      'data-api',
    );
  });

  it('picks neon-http for a Neon host where there is no TCP, and pg where there is', () => {
    for (const runtime of ['edge-light', 'netlify', 'workerd'] as const) {
      expect(
        resolveBackend(base({ runtime: { name: runtime, evidence: 'x' }, host: 'ep-cool-1.us-east-2.aws.neon.tech' }))
          .backend,
      ).toBe('neon-http');
    }
    expect(resolveBackend(base({ host: 'ep-cool-1.us-east-2.aws.neon.tech' })).backend).toBe('pg');
    expect(resolveBackend(base({ runtime: { name: 'aws-lambda', evidence: 'x' } })).reason).toMatch(
      /one connection per container/,
    );
  });

  it('picks pg-pooler when the URL is a known pooler', () => {
    const r = resolveBackend(base({ pooler: { kind: 'rds-proxy', evidence: 'host has .proxy-' } }));
    expect(r.backend).toBe('pg-pooler');
    expect(r.reason).toMatch(/rds-proxy/);
  });

  it('refuses a TCP backend where there are no sockets, naming the alternatives', () => {
    const err = (() => {
      try {
        resolveBackend(base({ runtime: { name: 'edge-light', evidence: 'EdgeRuntime' }, explicit: 'pg' }));
      } catch (e) {
        return e as ConfigurationError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(err!.message).toMatch(/needs TCP sockets/);
    expect(err!.message).toMatch(/neon-http/);
    expect(() => resolveBackend(base({ runtime: { name: 'edge-light', evidence: 'x' }, host: 'db.internal' }))).toThrow(
      /cannot open TCP connections.*Neon.*Hyperdrive.*Data API/,
    );
  });

  it('refuses a backend that is not in the build', () => {
    expect(() => resolveBackend(base({ explicit: 'pg', available: ['neon-http', 'neon-ws', 'hyperdrive'] }))).toThrow(
      /not in this build/,
    );
  });
});

describe('createDb resolution end to end', () => {
  it('the edge build has no pg backend', () => {
    expect(() => createEdgeDb({ url: databaseUrl(), env: {}, backend: 'pg' })).toThrow(/not in this build/);
  });

  it('hyperdrive (here on Node, with pg loaded on demand) and its uncached twin for $fresh', async () => {
    const env = { HYPERDRIVE: binding(databaseUrl()), HYPERDRIVE_FRESH: binding(databaseUrl()) };
    const db = createDb({ env, hyperdrive: { uncachedBinding: 'HYPERDRIVE_FRESH' } });
    expect(db.$backend).toMatchObject({
      backend: 'hyperdrive',
      reason: 'binding HYPERDRIVE found in env',
      tls: 'hyperdrive',
    });
    expect(db.$fresh).not.toBe(db);
    expect(db.$fresh.$backend.reason).toMatch(/HYPERDRIVE_FRESH/);
    expect((await db.execute<{ n: number }>(sql`select 1 as n`)).rows).toEqual([{ n: 1 }]);
    expect((await db.$fresh.execute<{ n: number }>(sql`select 2 as n`)).rows).toEqual([{ n: 2 }]);
    await db.$close();
    const plain = createDb({ env: { HYPERDRIVE: binding(databaseUrl()) } });
    expect(plain.$fresh).toBe(plain);
  });

  it('a named Hyperdrive binding that is missing is a configuration error', () => {
    expect(() => createDb({ env: {}, hyperdrive: { binding: 'NOPE' } })).toThrow(/No Hyperdrive binding named NOPE/);
  });
});
