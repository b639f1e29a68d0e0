// The IAM token provider, with the real @aws-sdk/rds-signer (it signs locally: no network) and
// static dummy credentials. The clock is injected, so refresh-ahead is proven by counting signer
// calls, never by waiting.
import { spawn } from 'node:child_process';
import { inspect } from 'node:util';
import { Signer } from '@aws-sdk/rds-signer';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { createIamTokenProvider, type IamTokenOptions, type SignerConfig } from '../src/backends/pg-pooler/iam.js';
import { ConfigurationError, ConnectionError } from '../src/errors.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET };
const MIN = 60_000;

/** The real signer, counted, and made to fail on demand (a credential provider that throws). */
function countingSigner() {
  const state = { calls: 0, fail: false, configs: [] as SignerConfig[] };
  const factory = (config: SignerConfig) => {
    state.configs.push(config);
    const real = new Signer({
      ...config,
      credentials: async () => {
        if (state.fail)
          throw Object.assign(new Error('Could not load credentials from any providers'), {
            name: 'CredentialsProviderError',
          });
        return CREDENTIALS;
      },
    });
    return {
      async getAuthToken() {
        state.calls++;
        return real.getAuthToken();
      },
    };
  };
  return { state, factory };
}

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

const base: IamTokenOptions = { host: 'db.example.com', port: 5432, user: 'app', region: 'us-east-1' };
const flush = () => new Promise((r) => setImmediate(r));

describe('createIamTokenProvider', () => {
  it('returns a presigned connect URL for host:port and the user (real signer, static credentials)', async () => {
    const provider = createIamTokenProvider({ ...base, credentials: CREDENTIALS });
    const token = await provider.getToken();
    expect(token.startsWith('db.example.com:5432/?')).toBe(true);
    const q = new URL(`https://${token}`).searchParams;
    expect(q.get('Action')).toBe('connect');
    expect(q.get('DBUser')).toBe('app');
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Expires')).toBe('900');
    expect(q.get('X-Amz-Credential')).toMatch(/^AKIDEXAMPLE\/\d{8}\/us-east-1\/rds-db\/aws4_request$/);
    expect(q.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(token).not.toContain(SECRET);
    // The token is not a property of the provider: logging it shows nothing.
    expect(inspect(provider, { depth: 5, showHidden: true })).not.toContain('X-Amz-Signature');
    expect(JSON.stringify(provider)).not.toContain('X-Amz');
  });

  it('takes the region from an RDS Proxy host name', async () => {
    const { state, factory } = countingSigner();
    const host = 'app-proxy.proxy-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com';
    const token = await createIamTokenProvider({ host, port: 5432, user: 'app', signerFactory: factory }).getToken();
    expect(state.configs[0]!.region).toBe('eu-west-1');
    expect(new URL(`https://${token}`).searchParams.get('X-Amz-Credential')).toContain('/eu-west-1/rds-db/');
  });

  it('caches the token and signs a new one only refreshBeforeMs before the 15 minutes run out', async () => {
    const c = clock();
    const { state, factory } = countingSigner();
    const provider = createIamTokenProvider({ ...base, now: c.now, signerFactory: factory });
    const first = await provider.getToken();
    expect(state.calls).toBe(1);
    for (const minutes of [1, 5, 9, 9.99]) {
      c.t = 1_000_000 + minutes * MIN;
      expect(await provider.getToken()).toBe(first);
    }
    expect(state.calls).toBe(1);
    // Inside the last 5 minutes: the old token is still handed out, a new one is signed ahead.
    c.t = 1_000_000 + 10.5 * MIN;
    expect(await provider.getToken()).toBe(first);
    await flush();
    expect(state.calls).toBe(2);
    // The new token's own 15 minutes start at its signing: no more signing until 10.5 + 10 minutes.
    c.t = 1_000_000 + 20 * MIN;
    await provider.getToken();
    expect(state.calls).toBe(2);
    c.t = 1_000_000 + 21 * MIN;
    await provider.getToken();
    await flush();
    expect(state.calls).toBe(3);
  });

  it('shares one signing among concurrent callers, at the start and when refreshing ahead', async () => {
    const c = clock();
    const { state, factory } = countingSigner();
    const provider = createIamTokenProvider({ ...base, now: c.now, signerFactory: factory });
    const tokens = await Promise.all(Array.from({ length: 20 }, () => provider.getToken()));
    expect(new Set(tokens).size).toBe(1);
    expect(state.calls).toBe(1);
    c.t += 11 * MIN;
    await Promise.all(Array.from({ length: 20 }, () => provider.getToken()));
    await flush();
    expect(state.calls).toBe(2);
    // Expired: every caller waits for the same single signing.
    c.t += 16 * MIN;
    const fresh = await Promise.all(Array.from({ length: 20 }, () => provider.getToken()));
    expect(new Set(fresh).size).toBe(1);
    expect(state.calls).toBe(3);
  });

  it('keeps serving the old token when a refresh fails, and retries after retryAfterMs', async () => {
    const c = clock();
    const { state, factory } = countingSigner();
    const provider = createIamTokenProvider({ ...base, now: c.now, signerFactory: factory, retryAfterMs: 20_000 });
    const first = await provider.getToken();
    state.fail = true;
    c.t += 11 * MIN;
    expect(await provider.getToken()).toBe(first);
    await flush();
    expect(state.calls).toBe(2); // tried, failed
    c.t += 10_000;
    expect(await provider.getToken()).toBe(first);
    await flush();
    expect(state.calls).toBe(2); // not before retryAfterMs
    c.t += 15_000;
    expect(await provider.getToken()).toBe(first);
    await flush();
    expect(state.calls).toBe(3); // retried, failed again
    // Nearly expired, signing still failing: the old token is still better than no connection.
    c.t = 1_000_000 + 15 * MIN - 5_000;
    expect(await provider.getToken()).toBe(first);
    // Once it has expired, the failure surfaces.
    c.t = 1_000_000 + 15 * MIN + 1;
    await expect(provider.getToken()).rejects.toBeInstanceOf(ConnectionError);
    state.fail = false;
    c.t += 60_000;
    const next = await provider.getToken();
    expect(next.startsWith('db.example.com:5432/?Action=connect')).toBe(true);
  });

  it('wraps signing failures: says what to check, keeps the cause, never shows secrets', async () => {
    const { state, factory } = countingSigner();
    state.fail = true;
    const provider = createIamTokenProvider({ ...base, signerFactory: factory });
    const err = (await provider.getToken().catch((e: unknown) => e)) as ConnectionError;
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('CONNECTION_FAILED');
    expect(err.message).toMatch(/IAM auth token for app@db\.example\.com:5432/);
    expect(err.message).toMatch(/credentials/);
    expect((err.cause as Error).name).toBe('CredentialsProviderError');
    expect(err.message).not.toContain(SECRET);
    // Not stuck: the next call signs again.
    state.fail = false;
    await provider.getToken();
    expect(state.calls).toBe(2);
  });

  it('says to set a region when there is none (real signer, no AWS_REGION, no config file)', async () => {
    const saved = {
      region: process.env.AWS_REGION,
      def: process.env.AWS_DEFAULT_REGION,
      file: process.env.AWS_CONFIG_FILE,
    };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    process.env.AWS_CONFIG_FILE = '/nonexistent/anypg-test-aws-config';
    try {
      const { region: _, ...noRegion } = base;
      const err = (await createIamTokenProvider({ ...noRegion, credentials: CREDENTIALS })
        .getToken()
        .catch((e: unknown) => e)) as ConnectionError;
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err.message).toMatch(/no AWS region.*iam: \{ region \}.*AWS_REGION/);
      expect(err.retryable).toBe(false);
    } finally {
      for (const [k, v] of [
        ['AWS_REGION', saved.region],
        ['AWS_DEFAULT_REGION', saved.def],
        ['AWS_CONFIG_FILE', saved.file],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('validates its options', () => {
    expect(() => createIamTokenProvider({ ...base, refreshBeforeMs: 15 * MIN })).toThrow(ConfigurationError);
    expect(() => createIamTokenProvider({ ...base, lifetimeMs: 16 * MIN })).toThrow(/15 minutes/);
    expect(() => createIamTokenProvider({ ...base, port: 0 })).toThrow(ConfigurationError);
    expect(() => createIamTokenProvider({ ...base, host: '' })).toThrow(ConfigurationError);
  });

  it('works as pg’s password function: one signing for several connections (real PostgreSQL)', async () => {
    // A role whose password is the token stands in for RDS checking the token.
    const { state, factory } = countingSigner();
    const role = `anypg_iam_${process.pid}`;
    const url = new URL(inject('databaseUrl'));
    const provider = createIamTokenProvider({
      host: url.hostname,
      port: Number(url.port),
      user: role,
      region: 'us-east-1',
      signerFactory: factory,
    });
    const token = await provider.getToken();
    const admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
    await admin.query(`create role ${role} login password '${token.replaceAll("'", "''")}'`);
    let asked = 0;
    try {
      for (let i = 0; i < 3; i++) {
        const c = new pg.Client({
          host: url.hostname,
          port: Number(url.port),
          user: role,
          database: url.pathname.slice(1),
          password: () => {
            asked++;
            return provider.getToken();
          },
        });
        await c.connect();
        expect((await c.query('select current_user as u')).rows[0].u).toBe(role);
        await c.end();
      }
    } finally {
      await admin.query(`drop role if exists ${role}`);
      await admin.end();
    }
    expect(asked).toBe(3);
    expect(state.calls).toBe(1);
  });

  it('does not import @aws-sdk/rds-signer until the first getToken() (fresh Node process)', async () => {
    // A resolve hook counts imports of the package; the same hook lets Node run our .ts sources.
    const hooks = `
      import { registerHooks } from 'node:module';
      globalThis.__signerImports = 0;
      registerHooks({
        resolve(specifier, context, next) {
          if (specifier === '@aws-sdk/rds-signer') globalThis.__signerImports++;
          try { return next(specifier, context); } catch (err) {
            if (specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);
            throw err;
          }
        },
      });`;
    const iamUrl = new URL('../src/backends/pg-pooler/iam.ts', import.meta.url).href;
    const script = `
      const { createIamTokenProvider } = await import(${JSON.stringify(iamUrl)});
      const afterImport = globalThis.__signerImports;
      const p = createIamTokenProvider({ host: 'db.example.com', port: 5432, user: 'app', region: 'us-east-1',
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' } });
      const afterCreate = globalThis.__signerImports;
      const token = await p.getToken();
      await p.getToken();
      console.log(JSON.stringify({ afterImport, afterCreate, after: globalThis.__signerImports, ok: token.includes('Action=connect') }));`;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--experimental-transform-types',
          '--no-warnings',
          '--import',
          `data:text/javascript,${encodeURIComponent(hooks)}`,
          '--input-type=module',
          '-e',
          script,
        ],
        { cwd: new URL('..', import.meta.url), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.once('exit', (code) =>
        code === 0 ? resolve(stdout) : reject(new Error(`child failed (${code}): ${stderr}`)),
      );
    });
    expect(JSON.parse(out)).toEqual({ afterImport: 0, afterCreate: 0, after: 1, ok: true });
  });
});
