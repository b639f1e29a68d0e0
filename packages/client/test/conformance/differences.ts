// Every accepted difference between a backend and the oracle, with its reason. The conformance
// suite consults only this list: a difference not written here fails the suite.

export interface AcceptedDifference {
  backend: string;
  /** A type case name (corpus.ts) or a suite case name. */
  case: string;
  reason: string;
}

const UNSUPPORTED_RESULT =
  'The Data API refuses results of this type (UnsupportedResultException, as AWS does); cast the column to text in the query.';

export const ACCEPTED_DIFFERENCES: AcceptedDifference[] = [
  { backend: 'data-api', case: 'timetz', reason: UNSUPPORTED_RESULT },
  { backend: 'data-api', case: 'interval', reason: UNSUPPORTED_RESULT },
  { backend: 'data-api', case: 'int4[][]', reason: `${UNSUPPORTED_RESULT} (multidimensional arrays)` },
  {
    backend: 'data-api',
    case: 'date infinity',
    reason: 'AWS answers a result holding an infinite date with a 500 and no message; there is no value to return.',
  },
  {
    backend: 'data-api',
    case: 'enum',
    reason: "Same values; the field's type OID is 0 because the Data API reports a user type only by name.",
  },
  {
    backend: 'data-api',
    case: 'error field table: unique violation',
    reason:
      "The Data API's error text has no table name for a unique violation (PostgreSQL's message names only the constraint).",
  },
];

// drizzle-orm's own PostgreSQL suite (integration-tests/tests/pg/pg-common.ts, 183 tests, with its
// relational and cache suites), run against anypg and against drizzle's driver for each backend on
// the same servers (see the client README): anypg passes every test on pg, pg-pooler, neon-http,
// neon-ws and data-api, so nothing from it is listed here. Each cause it found has a case in
// conformance/parity.ts.

export function accepted(backend: string, name: string): AcceptedDifference | undefined {
  return ACCEPTED_DIFFERENCES.find((d) => d.backend === backend && d.case === name);
}
