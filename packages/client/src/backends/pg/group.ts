// Several statements in one flight, with one Sync at the end: BEGIN with a transaction's first
// statement, and a whole db.batch() (BEGIN, the statements, COMMIT) in one round trip.
//
// Why one Sync and not one per statement (as pg's own Query sends): the server answers up to a
// Sync as a unit. When a statement in the unit fails, the server skips every message after it until
// the Sync, so nothing behind a failure runs. With a Sync per statement, a BEGIN that failed would
// leave the statements behind it running outside any transaction, each committing on its own. In
// one unit, "BEGIN; s1" either runs s1 inside the transaction or not at all.
//
// A unit is also what a transaction-mode pooler (PgBouncer, RDS Proxy) can carry safely: it keeps
// the server connection linked until the ReadyForQuery the Sync produces, however the bytes arrive.
//
// Built as a subclass of the driver's own Query, so pg's pipelined client accepts it (it refuses
// other submittables) and the responses reach it through pg's usual callbacks; each statement of
// the unit gets its own Result (row mode, type parsers), split at CommandComplete.
import type pg from 'pg';

/** One statement of a unit. `values` must already be mapped with the driver's prepareValue. */
export interface GroupPart {
  text: string;
  values: readonly unknown[];
  rowMode: 'array' | 'object';
  /** Type parsers for this statement; default: the client's. */
  types?: unknown;
}

/** What pg hands the callback: one result per part. */
export type GroupResults = pg.QueryResult[];

/** The error of a unit, with the index of the part that failed (the ones after it did not run). */
export interface GroupFailure extends Error {
  partIndex?: number;
}

type QueryCtor = new (config: Record<string, unknown>) => PgQueryInternals;

/** The parts of pg's Query that the unit uses or overrides (internal to pg, stable across 8.x). */
interface PgQueryInternals {
  callback: ((err: Error | null, res?: unknown) => void) | undefined;
  _result: { constructor: new (rowMode: string | undefined, types: unknown) => PgResult; _types?: unknown };
  prepare(connection: unknown): void;
}

interface PgResult {
  _types?: unknown;
  addFields(fields: unknown[]): void;
  parseRow(fields: unknown[]): unknown;
  addRow(row: unknown): void;
  addCommandComplete(msg: unknown): void;
}

interface PgConnection {
  stream: { cork?: () => void; uncork?: () => void };
  parse(msg: { text: string; name: string }): void;
  bind(msg: { portal: string; statement: string; values: readonly unknown[]; binary: boolean }): void;
  describe(msg: { type: 'P'; name: string }): void;
  execute(msg: { portal: string; rows: number }): void;
  sync(): void;
}

/** Builds unit queries for one driver: pg, or the copy of pg inside the Neon driver. */
export interface GroupSupport {
  /** A query pg's client.query() accepts; `done` is called once, with every part's result or the error. */
  create(parts: GroupPart[], done: (err: GroupFailure | null, results?: GroupResults) => void): unknown;
  /** pg's own parameter mapping (Date, arrays, JSON, Buffer...), to map values before anything is written. */
  prepareValue: (value: unknown) => unknown;
}

const cache = new WeakMap<object, GroupSupport | undefined>();

/** Unit support for a driver's Client class, or undefined when its Query is not the one expected. */
export function groupSupportFor(Client: unknown): GroupSupport | undefined {
  if (typeof Client !== 'function') return undefined;
  if (cache.has(Client)) return cache.get(Client);
  const support = build((Client as { Query?: unknown }).Query);
  cache.set(Client, support);
  return support;
}

function build(QueryClass: unknown): GroupSupport | undefined {
  if (typeof QueryClass !== 'function') return undefined;
  const Query = QueryClass as QueryCtor;
  const prepareValue = capturePrepareValue(Query);
  if (!prepareValue) return undefined;

  class GroupQuery extends (Query as unknown as new (config: Record<string, unknown>) => object) {
    readonly parts: GroupPart[];
    readonly results: PgResult[];
    index = 0;
    failedRow: Error | undefined;
    finished = false;
    readonly done: (err: GroupFailure | null, results?: GroupResults) => void;

    constructor(parts: GroupPart[], done: (err: GroupFailure | null, results?: GroupResults) => void) {
      // The text is only what pg shows in its own messages; every part is sent by submit().
      super({ text: parts[parts.length - 1]!.text, queryMode: 'extended' });
      this.parts = parts;
      this.done = done;
      const self = this as unknown as PgQueryInternals;
      const ResultClass = self._result.constructor;
      this.results = parts.map((p) => new ResultClass(p.rowMode === 'array' ? 'array' : undefined, p.types));
      self.callback = (err, res) => {
        if (this.finished) return;
        this.finished = true;
        if (err) {
          (err as GroupFailure).partIndex = this.index;
          done(err as GroupFailure);
        } else done(null, res as GroupResults);
      };
    }

    requiresPreparation(): boolean {
      return true;
    }

    submit(connection: PgConnection): Error | null {
      const stream = connection.stream;
      stream.cork?.();
      try {
        for (const part of this.parts) {
          connection.parse({ text: part.text, name: '' });
          connection.bind({ portal: '', statement: '', values: part.values, binary: false });
          connection.describe({ type: 'P', name: '' });
          connection.execute({ portal: '', rows: 0 });
        }
        connection.sync();
      } finally {
        stream.uncork?.();
      }
      return null;
    }

    #current(): PgResult | undefined {
      const r = this.results[this.index];
      // Statements without their own parsers use the client's (pg set them on the base result).
      if (r && r._types === undefined) r._types = (this as unknown as PgQueryInternals)._result._types;
      return r;
    }

    handleRowDescription(msg: { fields: unknown[] }): void {
      this.#current()?.addFields(msg.fields);
    }

    handleDataRow(msg: { fields: unknown[] }): void {
      if (this.failedRow) return;
      const r = this.#current();
      if (!r) return;
      try {
        r.addRow(r.parseRow(msg.fields));
      } catch (err) {
        // A type parser threw: report it once the unit has ended (as pg does for one statement).
        this.failedRow = err as Error;
      }
    }

    handleCommandComplete(msg: unknown): void {
      this.#current()?.addCommandComplete(msg);
      this.index++;
    }

    handleEmptyQuery(): void {
      this.index++;
    }

    handlePortalSuspended(): void {
      // Every Execute asks for all rows: the server never suspends a portal here.
    }

    handleError(err: Error): void {
      (this as unknown as PgQueryInternals).callback?.(err);
    }

    handleReadyForQuery(): void {
      const self = this as unknown as PgQueryInternals;
      if (this.failedRow) self.callback?.(this.failedRow);
      else self.callback?.(null, this.results);
    }
  }

  return {
    create: (parts, done) => new GroupQuery(parts, done),
    prepareValue,
  };
}

/**
 * pg's parameter mapping, as its Query uses it. pg exports it as `utils.prepareValue`, the copy
 * inside the Neon driver does not: ask a Query to prepare itself against a recorder instead, which
 * hands over the mapper it would bind with. Nothing is sent anywhere.
 */
function capturePrepareValue(Query: QueryCtor): ((value: unknown) => unknown) | undefined {
  let mapper: ((value: unknown, index: number) => unknown) | undefined;
  const recorder = {
    parsedStatements: {},
    submittedNamedStatements: {},
    stream: {},
    parse() {},
    bind(msg: { valueMapper?: (value: unknown, index: number) => unknown }) {
      mapper = msg.valueMapper;
    },
    describe() {},
    execute() {},
    sync() {},
    flush() {},
    close() {},
  };
  try {
    new Query({ text: 'select $1', values: [null] }).prepare(recorder);
  } catch {
    return undefined;
  }
  const found = mapper;
  return found ? (value) => found(value, 0) : undefined;
}
