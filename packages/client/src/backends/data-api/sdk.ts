// `@aws-sdk/client-rds-data`, loaded on the first call (importing it costs 50-110 ms and anypg's
// Node entry must not pay that unless the Data API is used), and the client anypg builds with it.
//
// The client anypg builds:
//   - makes one attempt per call (maxAttempts 1): the SDK would otherwise send a statement again
//     after a reset connection or a 500, which can apply a write twice. anypg's transport retries
//     itself, only when the statement cannot have run or only reads;
//   - keeps connections alive in its own agents, and drops idle ones that are older than
//     pool.idleTimeoutMs by the wall clock before the next call: after a Lambda freeze, a
//     kept-alive socket the peer has closed would fail the next write with a reset whose outcome
//     nobody can know.
import type { DataApiOptions } from '../../config/options.js';
import { ConfigurationError } from '../../errors.js';
import { driverLoadError } from '../optional-driver.js';

export type RdsDataModule = typeof import('@aws-sdk/client-rds-data');

let loading: Promise<RdsDataModule> | undefined;

export function loadRdsData(): Promise<RdsDataModule> {
  loading ??= import('@aws-sdk/client-rds-data')
    // A bundler may turn the SDK's CommonJS build into a chunk whose only export is `default`.
    .then((mod) =>
      (mod as { RDSDataClient?: unknown }).RDSDataClient ? mod : (mod as unknown as { default: RdsDataModule }).default,
    )
    .catch((err: unknown) => {
      loading = undefined;
      throw driverLoadError('@aws-sdk/client-rds-data', 'data-api', err);
    });
  return loading;
}

/** What the transport needs of an RDSDataClient (the user's own, or one anypg built). */
export interface DataApiClient {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  destroy?(): void;
}

export interface ClientSettings {
  region: string | undefined;
  endpoint: string | undefined;
  credentials: unknown;
  /** Most sockets open at once. */
  maxSockets: number;
  connectTimeoutMs: number;
  /** Idle sockets older than this are dropped before the next call. */
  idleTimeoutMs: number;
}

interface AgentLike {
  freeSockets: Record<string, { destroy(): void }[] | undefined>;
  destroy(): void;
}

/** The SDK client with anypg's settings, and the bookkeeping of its sockets. */
export class OwnedClient {
  readonly client: DataApiClient;
  readonly #agents: AgentLike[];
  readonly #idleTimeoutMs: number;
  #lastUsed = Date.now();
  #inFlight = 0;
  opened = 0;
  dropped = 0;

  private constructor(client: DataApiClient, agents: AgentLike[], idleTimeoutMs: number) {
    this.client = client;
    this.#agents = agents;
    this.#idleTimeoutMs = idleTimeoutMs;
  }

  static async create(sdk: RdsDataModule, s: ClientSettings): Promise<OwnedClient> {
    const [http, https] = await Promise.all([import('node:http'), import('node:https')]);
    let owned: OwnedClient | undefined;
    const count = <T>(socket: T): T => {
      if (owned) owned.opened++;
      return socket;
    };
    // Counting agents: createConnection is where a new TCP connection starts.
    class CountingHttpAgent extends http.Agent {
      override createConnection(...args: Parameters<InstanceType<typeof http.Agent>['createConnection']>) {
        return count(super.createConnection(...args));
      }
    }
    class CountingHttpsAgent extends https.Agent {
      override createConnection(...args: Parameters<InstanceType<typeof https.Agent>['createConnection']>) {
        return count(super.createConnection(...args));
      }
    }
    const agentOptions = { keepAlive: true, maxSockets: s.maxSockets };
    const httpAgent = new CountingHttpAgent(agentOptions);
    const httpsAgent = new CountingHttpsAgent(agentOptions);
    const client = new sdk.RDSDataClient({
      ...(s.region !== undefined && { region: s.region }),
      ...(s.endpoint !== undefined && { endpoint: s.endpoint }),
      ...(s.credentials !== undefined && { credentials: s.credentials as never }),
      maxAttempts: 1,
      requestHandler: { httpAgent, httpsAgent, connectionTimeout: s.connectTimeoutMs },
    });
    owned = new OwnedClient(
      client as unknown as DataApiClient,
      [httpAgent, httpsAgent] as unknown as AgentLike[],
      s.idleTimeoutMs,
    );
    return owned;
  }

  /** Call before sending: drops kept-alive sockets that sat idle too long (by the wall clock). */
  beforeCall(): void {
    if (this.#inFlight === 0 && Date.now() - this.#lastUsed > this.#idleTimeoutMs) {
      for (const agent of this.#agents) {
        for (const list of Object.values(agent.freeSockets)) {
          for (const socket of list ?? []) {
            socket.destroy();
            this.dropped++;
          }
        }
      }
    }
    this.#inFlight++;
  }

  afterCall(): void {
    this.#inFlight--;
    this.#lastUsed = Date.now();
  }

  destroy(): void {
    this.client.destroy?.();
    for (const agent of this.#agents) agent.destroy();
  }
}

/** Settings checked at createDb, so that a mistake fails there and not on the first query. */
export function checkDataApiOptions(o: DataApiOptions | undefined, env: Record<string, unknown>): void {
  if (!o || typeof o !== 'object') {
    throw new ConfigurationError(
      'dataApi',
      'The data-api backend needs dataApi: { resourceArn, secretArn, database } (or ANYPG_DATA_API_RESOURCE_ARN, ANYPG_DATA_API_SECRET_ARN and ANYPG_DATA_API_DATABASE in env).',
    );
  }
  for (const key of ['resourceArn', 'secretArn'] as const) {
    const v = o[key];
    if (typeof v !== 'string' || !v.startsWith('arn:')) {
      throw new ConfigurationError(`dataApi.${key}`, `dataApi.${key} must be an ARN (a string starting with arn:).`);
    }
  }
  for (const key of ['database', 'schema', 'region', 'endpoint'] as const) {
    if (o[key] !== undefined && (typeof o[key] !== 'string' || o[key] === '')) {
      throw new ConfigurationError(`dataApi.${key}`, `dataApi.${key} must be a non-empty string.`);
    }
  }
  if (o.client !== undefined) {
    if (typeof (o.client as DataApiClient | null)?.send !== 'function') {
      throw new ConfigurationError(
        'dataApi.client',
        'dataApi.client must be an RDSDataClient from @aws-sdk/client-rds-data.',
      );
    }
    return;
  }
  if (o.endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(o.endpoint);
    } catch {
      throw new ConfigurationError(
        'dataApi.endpoint',
        'dataApi.endpoint must be an http(s) URL such as http://127.0.0.1:8080.',
      );
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      throw new ConfigurationError(
        'dataApi.endpoint',
        'dataApi.endpoint must be an http(s) URL such as http://127.0.0.1:8080.',
      );
    }
  }
  if (o.region === undefined && typeof env.AWS_REGION !== 'string' && typeof env.AWS_DEFAULT_REGION !== 'string') {
    throw new ConfigurationError(
      'dataApi.region',
      'The Data API needs a region: pass dataApi.region, or set AWS_REGION (Lambda sets it).',
    );
  }
}
