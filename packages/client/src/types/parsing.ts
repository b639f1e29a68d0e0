// The one table of type parsing, applied per query on every backend (never through a global
// registry: drizzle's neon-http driver changes the Neon driver's global one; anypg does not).
//
// `builder` mode (drizzle's query builder and relational queries): date, timestamp, timestamptz,
// interval (and their arrays) and numeric[] stay PostgreSQL's text, because drizzle's column
// classes convert them themselves, honouring each column's `mode`.
// `raw` mode (`db.execute`): every value as node-postgres parses it by default (pg-types 2):
// int8 and numeric as strings, timestamps as Date, json parsed, arrays parsed, bytea as bytes.
//
// pg and the Neon driver both carry pg-types 2; each backend passes its driver's copy here, so
// no backend adds a second copy of the parsers to a bundle.

/** The part of pg-types a backend needs. */
export interface TypeParserSource {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown;
}

// timestamp, timestamptz, date, interval, their arrays, and numeric[] (pg-types makes it floats).
const KEEP_TEXT = new Set([1114, 1184, 1082, 1186, 1115, 1185, 1182, 1187, 1231]);
const asText = (value: string) => value;

const cache = new WeakMap<TypeParserSource, TypeParserSource>();

/** The parsers for one query in `mode`, given a driver's pg-types. */
export function parsersFor(source: TypeParserSource, mode: 'builder' | 'raw'): TypeParserSource {
  if (mode === 'raw') return source;
  let builder = cache.get(source);
  if (!builder) {
    builder = {
      getTypeParser: (oid, format) => (KEEP_TEXT.has(oid) ? asText : source.getTypeParser(oid, format)),
    };
    cache.set(source, builder);
  }
  return builder;
}
