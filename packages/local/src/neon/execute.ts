// Runs one statement of a SQL-over-HTTP request and writes its result as Neon's JSON.
//
// Extended protocol with the unnamed statement, parameters bound as text with unspecified types
// (OID 0), results in text: several statements in one query then fail exactly as PostgreSQL's
// extended protocol makes them fail ("cannot insert multiple commands into a prepared statement").
// Rows are serialized as they arrive, so a response over the size limit is stopped (and the query
// cancelled) long before it is all in memory.
import type { EventEmitter } from 'node:events';
import pg from 'pg';
import { sendCancel } from './cancel.js';
import { HttpProblem } from './conn-info.js';
import { type ElementOf, pgTextToJson } from './json.js';
import type { PooledClient, Upstream } from './upstream.js';

export interface QueryData {
  query: string;
  params: (string | null)[];
  arrayMode: boolean | undefined;
}

/** The byte budget of one response, shared by the statements of a batch. */
export class ResponseBudget {
  used = 0;
  constructor(readonly max: number) {}
  /** Adds `bytes`; true when the response is now over the limit. */
  spend(bytes: number): boolean {
    this.used += bytes;
    return this.used > this.max;
  }
  tooLarge(): HttpProblem {
    return new HttpProblem(507, `response is too large (max is ${this.max} bytes)`);
  }
}

export interface ExecContext {
  client: PooledClient;
  upstream: Upstream;
  rawOutput: boolean;
  defaultArrayMode: boolean;
  budget: ResponseBudget;
  /** Aborted when the HTTP client goes away or the endpoint closes. */
  signal: AbortSignal;
  /** Resolves array element types for the JSON conversion mode (ignored in raw mode). */
  elementOf(oids: number[]): Promise<ElementOf>;
  /** Set once a cancel request was sent for this session: the connection must not be reused. */
  cancelled: boolean;
}

interface FieldDesc {
  name: string;
  tableID: number;
  columnID: number;
  dataTypeID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
}

type RawRow = (string | null)[];

/** Runs `q` on the context's session; resolves to the JSON text of one result object. */
export async function runStatement(ctx: ExecContext, q: QueryData): Promise<string> {
  const arrayMode = q.arrayMode ?? ctx.defaultArrayMode;
  const { client, budget } = ctx;
  let fields: FieldDesc[] | undefined;
  let names: string[] = [];
  const rows: string[] = []; // serialized rows (raw mode)
  const rawRows: RawRow[] = []; // rows kept for conversion (JSON mode)
  let overLimit = false;

  const cancel = () => {
    if (ctx.cancelled) return;
    ctx.cancelled = true;
    if (client.processID !== undefined && client.secretKey !== undefined) {
      void sendCancel(ctx.upstream, { processID: client.processID, secretKey: client.secretKey });
    }
  };

  // `queryMode: 'extended'` makes pg use Parse/Bind/Execute even without parameters.
  const query = new pg.Query({
    text: q.query,
    values: q.params,
    rowMode: 'array',
    queryMode: 'extended',
  } as never) as unknown as EventEmitter;
  query.on('row', (row: RawRow, result: { fields: FieldDesc[] }) => {
    if (overLimit) return;
    if (fields === undefined) {
      fields = result.fields;
      names = fields.map((f) => JSON.stringify(f.name));
    }
    let json: string;
    if (ctx.rawOutput) {
      json = arrayMode ? JSON.stringify(row) : objectJson(names, row.map(rawJson));
      rows.push(json);
    } else {
      // Converted after the statement ends (custom array types may need a catalog lookup first);
      // the raw size is close enough to stop a runaway result early.
      json = JSON.stringify(row);
      rawRows.push(row);
    }
    if (budget.spend(Buffer.byteLength(json) + 1)) {
      overLimit = true;
      rows.length = 0;
      rawRows.length = 0;
      cancel();
    }
  });

  const onAbort = () => cancel();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let result: { fields: FieldDesc[]; command: string | null; rowCount: number | null };
  try {
    result = await new Promise((resolve, reject) => {
      query.once('end', resolve);
      query.once('error', reject);
      client.query(query as never);
    });
  } catch (err) {
    if (overLimit) throw budget.tooLarge();
    throw err;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
  if (overLimit) throw budget.tooLarge();

  fields = result.fields;
  names = fields.map((f) => JSON.stringify(f.name));
  if (!ctx.rawOutput && rawRows.length > 0) {
    const elementOf = await ctx.elementOf(fields.map((f) => f.dataTypeID));
    const oids = fields.map((f) => f.dataTypeID);
    try {
      for (const row of rawRows) {
        const values = row.map((v, i) => (v === null ? 'null' : pgTextToJson(v, oids[i]!, elementOf)));
        rows.push(arrayMode ? `[${values.join(',')}]` : objectJson(names, values));
      }
    } catch (err) {
      throw new HttpProblem(500, `could not parse postgres response: ${(err as Error).message}`);
    }
    // The converted form is what is sent: charge the difference.
    const converted = rows.reduce((n, r) => n + Buffer.byteLength(r) + 1, 0);
    const estimated = rawRows.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)) + 1, 0);
    if (budget.spend(converted - estimated)) throw budget.tooLarge();
  }

  const fieldsJson = JSON.stringify(
    fields.map((f) => ({
      name: f.name,
      dataTypeID: f.dataTypeID,
      tableID: f.tableID,
      columnID: f.columnID,
      dataTypeSize: f.dataTypeSize,
      dataTypeModifier: f.dataTypeModifier,
      format: 'text',
    })),
  );
  // Neon reads the command tag: `INSERT 0 5` is INSERT, 5; `CREATE TABLE` is CREATE, null.
  const command = result.command ?? '';
  const rowCount = result.rowCount ?? null;
  const out = `{"rowAsArray":${arrayMode},"fields":${fieldsJson},"rows":[${rows.join(',')}],"command":${JSON.stringify(command)},"rowCount":${rowCount}}`;
  if (budget.spend(Buffer.byteLength(out) - rows.reduce((n, r) => n + Buffer.byteLength(r) + 1, 0))) {
    throw budget.tooLarge();
  }
  return out;
}

function rawJson(v: string | null): string {
  return v === null ? 'null' : JSON.stringify(v);
}

// A row as a JSON object, written by hand: keys keep the column order, and a repeated column name
// is written twice as Neon writes it (a JSON parser keeps the last), never merged by a JS object.
function objectJson(names: string[], values: string[]): string {
  let s = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) s += ',';
    s += `${names[i]}:${values[i]}`;
  }
  return `${s}}`;
}
