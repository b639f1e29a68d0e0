// Query events and warnings for metrics, traces and logs.
//
// An event carries the statement text (as drizzle builds it, with $1 placeholders) and never the
// parameter values, the connection string or any credential.

export interface QueryEvent {
  backend: string;
  /** Statement text with placeholders; no parameter values. */
  sql: string;
  durationMs: number;
  /** The command tag's verb, when the statement succeeded. */
  command?: string | undefined;
  rowCount?: number | undefined;
  /** True when the statement was sent a second time after a broken connection (only reads are). */
  retried: boolean;
  /** anypg's error code when it failed (DATABASE, OUTCOME_UNKNOWN, POOL_EXHAUSTED, ...). */
  errorCode?: string | undefined;
  /** SQLSTATE when the database refused it. */
  sqlstate?: string | undefined;
}

export interface AnypgWarning {
  code: 'CONNECTION_HELD' | 'POOLER_UNSAFE_STATEMENT';
  message: string;
}

export interface ObserveOptions {
  /** Called after every statement, successful or not. Keep it fast: it runs on the query path. */
  onQuery?: (event: QueryEvent) => void;
  /** Called for warnings (a connection held too long, ...). Default: console.warn. */
  onWarning?: (warning: AnypgWarning) => void;
}

export class QueryEventSink {
  readonly enabled: boolean;
  constructor(private readonly opts: ObserveOptions) {
    this.enabled = typeof opts.onQuery === 'function';
  }

  /** Reports one finished statement (no-op without an onQuery hook). */
  statement(
    backend: string,
    stmt: { text: string },
    started: number,
    retried: boolean,
    result?: { command: string; rowCount: number | null },
    error?: { code: string; sqlstate?: string },
  ): void {
    if (!this.enabled) return;
    this.query({
      backend,
      sql: stmt.text,
      durationMs: performance.now() - started,
      command: result?.command,
      rowCount: result?.rowCount ?? undefined,
      retried,
      errorCode: error?.code,
      sqlstate: error?.sqlstate,
    });
  }

  query(event: QueryEvent): void {
    try {
      this.opts.onQuery?.(event);
    } catch {
      // An observer's bug must not fail the query it observes.
    }
  }

  warn(warning: AnypgWarning): void {
    try {
      if (this.opts.onWarning) this.opts.onWarning(warning);
      else console.warn(`[anypg] ${warning.code}: ${warning.message}`);
    } catch {
      // as above
    }
  }
}
