// Builds the data-api transport from createDb's options: the ARNs and database, the SDK client's
// settings (region, endpoint, credentials, or the user's own client), time limits and pool sizing.
import { isLocalHost } from '../../config/connection-string.js';
import { positiveInt, resolvePoolOptions } from '../../config/options.js';
import type { BackendContext } from '../../core/context.js';
import { dataApiDrizzle } from '../../drizzle/casting-dialect.js';
import { ConfigurationError } from '../../errors.js';
import { checkDataApiOptions, type DataApiClient } from './sdk.js';
import { DataApiTransport } from './transport.js';

/** The Data API stops a call after 45 s; anypg waits a little longer before it gives up itself. */
const DEFAULT_CALL_TIMEOUT_MS = 50_000;
/** The SDK's own default for concurrent sockets. */
const DEFAULT_MAX_SOCKETS = 50;

export function createDataApiTransport(ctx: BackendContext): DataApiTransport {
  const { options, env, runtime } = ctx;
  const o = options.dataApi;
  checkDataApiOptions(o, env);
  const d = o!;
  const resumeTimeoutMs = d.resumeTimeoutMs ?? 45_000;
  positiveInt('dataApi.resumeTimeoutMs', resumeTimeoutMs, 0);
  const callTimeoutMs = options.queryTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  positiveInt('queryTimeoutMs', callTimeoutMs, 0);
  const pool = resolvePoolOptions(options.pool, runtime.name, 1);
  const maxSockets = options.pool?.max ?? DEFAULT_MAX_SOCKETS;

  const endpoint = d.client === undefined ? d.endpoint : undefined;
  const plain = endpoint?.startsWith('http:') ?? false;
  if (plain) {
    const host = new URL(endpoint!).hostname.replace(/^\[|\]$/g, '');
    const ssl = options.ssl;
    if (!isLocalHost(host) && !(typeof ssl === 'object' && ssl.allowUnencryptedRemote)) {
      throw new ConfigurationError(
        'dataApi.endpoint',
        `dataApi.endpoint uses plain http to ${host}, which is not a local host: statements and results would travel unencrypted. Use https, or ssl: { allowUnencryptedRemote: true }.`,
      );
    }
  }
  const region =
    d.region ??
    (typeof env.AWS_REGION === 'string' ? env.AWS_REGION : undefined) ??
    (typeof env.AWS_DEFAULT_REGION === 'string' ? env.AWS_DEFAULT_REGION : undefined);

  const transport = new DataApiTransport({
    resourceArn: d.resourceArn,
    secretArn: d.secretArn,
    database: d.database,
    schema: d.schema,
    client: d.client as DataApiClient | undefined,
    settings: {
      region,
      endpoint,
      credentials: d.credentials,
      maxSockets,
      connectTimeoutMs: pool.connectTimeoutMs,
      idleTimeoutMs: pool.idleTimeoutMs,
    },
    resumeTimeoutMs,
    callTimeoutMs,
    events: ctx.events,
    info: {
      runtime: runtime.name,
      backend: 'data-api',
      reason: ctx.resolution.reason,
      // ARNs name the cluster and the secret; neither is a credential. The secret's ARN is left out anyway.
      target: `${d.resourceArn}${d.database ? `/${d.database}` : ''}${endpoint ? ` via ${endpoint}` : ''}`,
      tls: plain ? 'disable' : 'verify-full',
      pool: { max: maxSockets, min: 0, idleTimeoutMs: pool.idleTimeoutMs, maxLifetimeMs: 0 },
    },
  });
  // The Data API cannot infer parameter types: drizzle's statements for it need casts.
  transport.drizzle = dataApiDrizzle;
  return transport;
}
