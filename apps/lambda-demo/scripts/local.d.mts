// Types for scripts/local.mjs (a plain Node script, so that it runs without a build step).
import type { LocalLambda } from '@anypg/local';

export interface DataApiSettings {
  /** http://host:port of a Data API endpoint (e.g. startDataApiEndpoint().url). */
  endpoint: string;
  resourceArn: string;
  secretArn: string;
  /** Default: the database of databaseUrl. */
  database?: string;
}

export interface StartLambdaDemoOptions {
  /** PostgreSQL URL (also the upstream of the Data API endpoint started with `dataApi: true`). */
  databaseUrl: string;
  /** true: start a local Data API endpoint in front of databaseUrl; settings: use that endpoint. */
  dataApi?: boolean | DataApiSettings;
  /** Apply the migrations first. Default true. */
  migrate?: boolean;
  /** The gateway's port. Default: a free one. */
  port?: number;
  /** Also the application_name of the function's database connection. */
  functionName?: string;
  /** More environment for the function. */
  env?: Record<string, string>;
  /** The function's log lines (default: dropped). */
  onLog?: (line: string) => void;
}

export interface LambdaDemo {
  /** The gateway: `${url}/notes`. */
  url: string;
  backend: 'pg' | 'data-api';
  functionName: string;
  lambda: LocalLambda;
  /** Stops the gateway, the function's container and the Data API endpoint it started. */
  close(): Promise<void>;
}

export function startLambdaDemo(options: StartLambdaDemoOptions): Promise<LambdaDemo>;
