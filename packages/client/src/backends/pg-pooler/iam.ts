// IAM database authentication for RDS and RDS Proxy: a cached, refresh-ahead auth token.
//
// The token is a SigV4-presigned URL (host:port/?Action=connect&DBUser=...&X-Amz-...), signed
// locally from AWS credentials by @aws-sdk/rds-signer, valid for 15 minutes, and checked only when
// a connection logs in. Signing on every connect wastes the credential lookup and, in a burst of
// connects, repeats it N times; so one token is kept and a new one signed `refreshBeforeMs` before
// the old one expires, while the old one is still handed out. A failed refresh keeps the old token
// (retried later) as long as it is valid.
//
// @aws-sdk/rds-signer (and the AWS SDK under it, ~50-110 ms to import) is loaded with a dynamic
// import on the first getToken(), never when this module is imported. The token is never logged,
// never put in an error message, and not a property of the provider object.
import { AnypgError, ConfigurationError, ConnectionError } from '../../errors.js';
import { regionFromRdsHost } from './detect.js';

/** AWS credentials, or a function that resolves them (the SDK's credential providers are such functions). */
export type AwsCredentials =
  | { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }
  | (() => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }>);

/** What @aws-sdk/rds-signer's Signer constructor takes (the subset we pass). */
export interface SignerConfig {
  hostname: string;
  port: number;
  username: string;
  region?: string;
  credentials?: AwsCredentials;
}

export interface TokenSigner {
  getAuthToken(): Promise<string>;
}

export interface IamTokenOptions {
  /** The RDS instance, cluster or RDS Proxy endpoint host, exactly as connected to. */
  host: string;
  port: number;
  /** The database user (it needs `GRANT rds_iam TO user`). */
  user: string;
  /** Default: the region in an RDS host name, else the SDK's (AWS_REGION, the profile). */
  region?: string;
  /** Default: the SDK's default chain (environment, Lambda execution role, profile, instance role). */
  credentials?: AwsCredentials;
  /** Sign a new token this long before the current one expires. Default 5 min. */
  refreshBeforeMs?: number;
  /** How long a token is valid. Default (and most) 15 min, as RDS honours it. */
  lifetimeMs?: number;
  /** After a failed refresh while the old token is still valid, wait this long before trying again. Default 10 s. */
  retryAfterMs?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
  /** Builds the signer. Default: `new Signer(config)` from @aws-sdk/rds-signer, imported on first use. */
  signerFactory?: (config: SignerConfig) => TokenSigner | Promise<TokenSigner>;
}

export interface IamTokenProvider {
  /** A valid token: the cached one, or a new one. Pass it to pg as `password: () => provider.getToken()`. */
  getToken(): Promise<string>;
}

const MINUTE = 60_000;
const MAX_LIFETIME_MS = 15 * MINUTE;
/** A token with less than this left is not handed out while a refresh can still be waited for. */
const EXPIRY_MARGIN_MS = 30_000;

export function createIamTokenProvider(options: IamTokenOptions): IamTokenProvider {
  const { host, port, user } = options;
  if (typeof host !== 'string' || host === '')
    throw new ConfigurationError('iam', 'IAM authentication needs the database host.');
  if (typeof user !== 'string' || user === '')
    throw new ConfigurationError('iam', 'IAM authentication needs the database user.');
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigurationError('iam', 'IAM authentication needs the database port (1-65535).');
  }
  const lifetimeMs = options.lifetimeMs ?? MAX_LIFETIME_MS;
  const refreshBeforeMs = options.refreshBeforeMs ?? 5 * MINUTE;
  const retryAfterMs = options.retryAfterMs ?? 10_000;
  if (!Number.isInteger(lifetimeMs) || lifetimeMs <= EXPIRY_MARGIN_MS || lifetimeMs > MAX_LIFETIME_MS) {
    throw new ConfigurationError(
      'iam.lifetimeMs',
      `iam.lifetimeMs must be an integer from ${EXPIRY_MARGIN_MS + 1} to ${MAX_LIFETIME_MS} (RDS accepts a token for 15 minutes).`,
    );
  }
  if (!Number.isInteger(refreshBeforeMs) || refreshBeforeMs < 0 || refreshBeforeMs >= lifetimeMs) {
    throw new ConfigurationError(
      'iam.refreshBeforeMs',
      'iam.refreshBeforeMs must be an integer >= 0 and below the token lifetime.',
    );
  }
  if (!Number.isInteger(retryAfterMs) || retryAfterMs < 0) {
    throw new ConfigurationError('iam.retryAfterMs', 'iam.retryAfterMs must be an integer >= 0.');
  }
  const now = options.now ?? Date.now;
  const region = options.region ?? regionFromRdsHost(host);
  const config: SignerConfig = {
    hostname: host,
    port,
    username: user,
    ...(region !== undefined && { region }),
    ...(options.credentials !== undefined && { credentials: options.credentials }),
  };
  const factory = options.signerFactory ?? defaultSignerFactory;
  const target = `${user}@${host}:${port}`;

  let signer: Promise<TokenSigner> | undefined;
  let current: { token: string; expiresAt: number } | undefined;
  let inflight: Promise<string> | undefined;
  let retryAt = 0;

  const refresh = (): Promise<string> => {
    inflight ??= (async () => {
      const issuedAt = now();
      try {
        // Async even when the factory throws synchronously, so `inflight` is always set first.
        signer ??= (async () => factory(config))();
        const s = await signer.catch((err: unknown) => {
          signer = undefined; // a signer that failed to load may load next time
          throw err;
        });
        const token = await s.getAuthToken();
        if (typeof token !== 'string' || token === '') throw new Error('the signer returned no token');
        current = { token, expiresAt: issuedAt + lifetimeMs };
        return token;
      } catch (err) {
        retryAt = now() + retryAfterMs;
        throw err instanceof AnypgError ? err : signingError(err, target, config.region);
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };

  return {
    async getToken() {
      const t = now();
      if (current && t < current.expiresAt - refreshBeforeMs) return current.token;
      if (current && t < current.expiresAt - EXPIRY_MARGIN_MS) {
        // Still good: hand it out and sign the next one in the background (once, not after a
        // failure until retryAfterMs has passed).
        if (!inflight && t >= retryAt) refresh().catch(() => {});
        return current.token;
      }
      try {
        return await (inflight ?? refresh());
      } catch (err) {
        // Nearly expired but not yet: better than failing the connect.
        if (current && now() < current.expiresAt) return current.token;
        throw err;
      }
    },
  };
}

async function defaultSignerFactory(config: SignerConfig): Promise<TokenSigner> {
  type SignerClass = new (config: SignerConfig) => TokenSigner;
  let mod: { Signer?: SignerClass; default?: { Signer?: SignerClass } };
  try {
    mod = (await import('@aws-sdk/rds-signer')) as unknown as typeof mod;
  } catch (cause) {
    const code = (cause as { code?: string })?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new ConfigurationError(
        'iam',
        'IAM authentication needs the @aws-sdk/rds-signer package: install it next to anypg (npm install @aws-sdk/rds-signer).',
      );
    }
    throw new ConnectionError('Loading @aws-sdk/rds-signer for IAM authentication failed.', cause, false);
  }
  // A CommonJS package: Node exposes Signer as a named export; some bundlers only under default.
  const Signer = mod.Signer ?? mod.default?.Signer;
  if (!Signer) throw new ConfigurationError('iam', '@aws-sdk/rds-signer has no Signer export: install version 3.x.');
  return new Signer(config);
}

/**
 * The signer's error in our terms. Its message is not copied (a credential provider's message can
 * be long and environment-specific); its name is, and the error itself is the `cause`.
 */
function signingError(err: unknown, target: string, region: string | undefined): ConnectionError {
  const e = err as { name?: string; message?: string };
  const text = `${e?.name ?? ''} ${e?.message ?? ''}`;
  if (/region/i.test(text) && !region) {
    return new ConnectionError(
      `Signing the IAM auth token for ${target} failed: no AWS region. Pass iam: { region } or set AWS_REGION.`,
      err,
      false,
    );
  }
  if (/credential/i.test(text)) {
    return new ConnectionError(
      `Signing the IAM auth token for ${target} failed: no usable AWS credentials (${e?.name ?? 'error'}). Check the Lambda execution role or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE.`,
      err,
      true,
    );
  }
  return new ConnectionError(
    `Signing the IAM auth token for ${target} failed (${e?.name ?? 'error'}). Check the region${region ? ` (${region})` : ''}, the AWS credentials, and that their IAM policy allows rds-db:connect for this database user.`,
    err,
    true,
  );
}

/**
 * What to check when a login with an IAM token is refused (PostgreSQL answers 28000/28P01, e.g.
 * "PAM authentication failed for user"): the token was signed fine, the database said no.
 */
export function iamLoginHint(user: string): string {
  return `With IAM authentication: the database user needs GRANT rds_iam TO ${user}; the IAM policy must allow rds-db:connect on arn:aws:rds-db:<region>:<account>:dbuser:<resource id>/${user}; the token must be signed for the region and the exact host and port connected to; and the connection must use TLS.`;
}
