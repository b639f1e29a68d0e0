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

/**
 * drizzle-orm's own PostgreSQL suite (integration-tests/tests/pg/pg-common.ts, run against anypg
 * and against drizzle's driver for each backend on the same servers; see the client README):
 * the tests anypg does not pass, each with its reason. drizzle's aws-data-api driver fails every
 * one of these too. On pg, pg-pooler, neon-http and neon-ws anypg passes all 183.
 */
export const DRIZZLE_SUITE_DIFFERENCES: AcceptedDifference[] = [
  {
    backend: 'data-api',
    case: 'drizzle suite: network types',
    reason: `${UNSUPPORTED_RESULT} (macaddr, macaddr8)`,
  },
  {
    backend: 'data-api',
    case: 'drizzle suite: array types',
    reason: `${UNSUPPORTED_RESULT} (multidimensional arrays)`,
  },
  {
    backend: 'data-api',
    case: 'drizzle suite: array mapping and parsing',
    reason: `${UNSUPPORTED_RESULT} (multidimensional arrays)`,
  },
  { backend: 'data-api', case: 'drizzle suite: all date and time columns', reason: `${UNSUPPORTED_RESULT} (interval)` },
  {
    backend: 'data-api',
    case: 'drizzle suite: all types',
    reason: `${UNSUPPORTED_RESULT} (interval, macaddr, point, line...)`,
  },
];

export function accepted(backend: string, name: string): AcceptedDifference | undefined {
  return ACCEPTED_DIFFERENCES.find((d) => d.backend === backend && d.case === name);
}
