// Type parsing for the query builder, per query (never through pg's global registry).
//
// Drizzle's column classes turn date, timestamp and interval strings into their JS values
// themselves (honouring each column's `mode`), so the builder path must receive those as the
// server's text. Everything else is parsed as node-postgres does by default.
import type pg from 'pg';

// timestamp, timestamptz, date, interval, and their arrays; numeric[] (pg parses it as floats).
const KEEP_TEXT = new Set([1114, 1184, 1082, 1186, 1115, 1185, 1182, 1187, 1231]);
const identity = (value: string) => value;

export function builderTypes(pgTypes: typeof pg.types): { getTypeParser: typeof pg.types.getTypeParser } {
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      KEEP_TEXT.has(oid) ? identity : pgTypes.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
  };
}
