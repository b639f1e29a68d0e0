// Turning the database secret into a URL (src/database-url.ts): the forms Secrets Manager holds,
// passwords with URL-special characters, the proxy host override, and errors without the secret.
import { describe, expect, it } from 'vitest';
import { resolveDatabaseUrl, SecretError, urlFromSecret } from '../src/database-url.js';

const PASSWORD = 'p@ss:w/rd?#%&= ü';

describe('urlFromSecret', () => {
  it('takes a URL as it is', () => {
    expect(urlFromSecret('postgresql://app:pw@proxy.example:5432/notes?sslmode=verify-full')).toBe(
      'postgresql://app:pw@proxy.example:5432/notes?sslmode=verify-full',
    );
  });

  it('builds the URL from RDS JSON credentials, encoding the password', () => {
    const url = urlFromSecret(
      JSON.stringify({
        engine: 'postgres',
        username: 'app',
        password: PASSWORD,
        host: 'db.internal',
        port: 5432,
        dbname: 'notes',
      }),
    );
    const parsed = new URL(url);
    expect(parsed.protocol).toBe('postgresql:');
    expect(decodeURIComponent(parsed.username)).toBe('app');
    expect(decodeURIComponent(parsed.password)).toBe(PASSWORD);
    expect(parsed.hostname).toBe('db.internal');
    expect(parsed.port).toBe('5432');
    expect(parsed.pathname).toBe('/notes');
  });

  it('replaces the host with DATABASE_HOST (the RDS Proxy endpoint)', () => {
    const json = JSON.stringify({ username: 'app', password: 'pw', host: 'instance.internal', port: 5432 });
    expect(new URL(urlFromSecret(json, 'notes.proxy.example')).hostname).toBe('notes.proxy.example');
    expect(new URL(urlFromSecret('postgresql://app:pw@instance.internal/notes', 'proxy.example')).hostname).toBe(
      'proxy.example',
    );
    expect(new URL(urlFromSecret(json)).pathname).toBe('/postgres'); // no dbname: the default database
  });

  it('refuses other shapes without quoting the secret', () => {
    for (const secret of [`not json ${PASSWORD}`, JSON.stringify({ user: 'app', pass: PASSWORD })]) {
      const err = (() => {
        try {
          urlFromSecret(secret);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err).toBeInstanceOf(SecretError);
      expect(err!.message).not.toContain(PASSWORD);
    }
  });
});

describe('resolveDatabaseUrl', () => {
  const never = (() => {
    throw new Error('fetch must not be called');
  }) as unknown as typeof fetch;

  it('leaves DATABASE_URL and the Data API settings to anypg', async () => {
    expect(await resolveDatabaseUrl({ DATABASE_URL: 'postgresql://x@h/d' }, never)).toBeUndefined();
    expect(
      await resolveDatabaseUrl({ ANYPG_DATA_API_RESOURCE_ARN: 'arn:r', ANYPG_DATA_API_SECRET_ARN: 'arn:s' }, never),
    ).toBeUndefined();
  });

  it('says what to configure when nothing is', async () => {
    await expect(resolveDatabaseUrl({}, never)).rejects.toThrow(/DATABASE_SECRET_ARN.*DATABASE_URL.*ANYPG_DATA_API/);
    await expect(resolveDatabaseUrl({ DATABASE_SECRET_ARN: 'arn:s' }, never)).rejects.toThrow(/AWS_SESSION_TOKEN/);
  });

  it('gives up after a few attempts when the extension is not there, naming the layer', async () => {
    let calls = 0;
    const refused = (async () => {
      calls++;
      throw new TypeError('fetch failed');
    }) as unknown as typeof fetch;
    await expect(resolveDatabaseUrl({ DATABASE_SECRET_ARN: 'arn:s', AWS_SESSION_TOKEN: 't' }, refused)).rejects.toThrow(
      /AWS-Parameters-and-Secrets-Lambda-Extension layer/,
    );
    expect(calls).toBe(5);
  });
});
