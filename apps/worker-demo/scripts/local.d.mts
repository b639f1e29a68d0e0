export interface WorkerDemoNeon {
  /** `http://127.0.0.1:PORT/sql` */
  fetchEndpoint: string;
  /** `127.0.0.1:PORT/v2` */
  wsProxy?: string;
}

export interface StartWorkerDemoOptions {
  /** What Hyperdrive and the neon-http path log into: postgresql://user:password@host:port/database. */
  databaseUrl: string;
  /** A local Neon endpoint (startNeonEndpoint(...).neonConfig); without it only the Hyperdrive path works. */
  neon?: WorkerDemoNeon;
  /** Default: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default path for requests without ?backend=: 'hyperdrive', 'neon-http' or '' (anypg detects: Hyperdrive). */
  backend?: '' | 'hyperdrive' | 'neon-http';
  /** Run the traced entry (src/traced.ts): OpenTelemetry on, each answer's anypg spans in `x-anypg-trace`. Default false. */
  tracing?: boolean;
}

export interface WorkerDemo {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  close(): Promise<void>;
}

export function applyMigrations(databaseUrl: string): Promise<void>;
export function startWorkerDemo(options: StartWorkerDemoOptions): Promise<WorkerDemo>;
/** Rejects with a clear message when something listens on host:port already. */
export function assertPortFree(port: number, host?: string): Promise<void>;
