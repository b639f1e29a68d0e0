// May a statement whose connection broke after it was sent be sent again?
//
// Two checks, and both must pass:
//   1. The text reads like a plain read outside a transaction (this file): it starts as a query,
//      holds one statement, and names nothing that writes or changes session state. The check is
//      deliberately conservative: anything that is not clearly a read counts as a write, and so do
//      reads that change state (locking reads, sequence calls, advisory locks, SELECT INTO).
//   2. The resend itself runs inside BEGIN READ ONLY ... COMMIT (each transport does this), so it
//      cannot write whatever the text hides: a user's function that inserts (`select add_row()`)
//      fails there with SQLSTATE 25006 and is reported as OutcomeUnknownError, because the first
//      send may have written. No text rule can judge a function's body; the server can.
// A false "write" costs an error the caller may retry; a false "read" is caught by check 2.

const READ_START = /^\s*(?:\(\s*)*(select|with|values|table|show|explain)\b/i;
const WRITE_HINT =
  /\b(insert|update|delete|merge|into|for\s+(?:update|share|no\s+key\s+update|key\s+share)|nextval|setval|pg_advisory\w*|lo_\w+|dblink\w*|set_config|pg_notify|pg_terminate_backend|pg_cancel_backend|analyze)\b/i;
/** A second statement after a `;` (the simple protocol runs them all, COMMIT included). */
const SECOND_STATEMENT = /;\s*\S/;

export function isReplaySafe(sql: string): boolean {
  const text = stripCommentsAndLiterals(sql);
  if (!READ_START.test(text) || SECOND_STATEMENT.test(text)) return false;
  return !WRITE_HINT.test(text);
}

/**
 * The text may hold more than one statement (a `;` followed by more SQL, outside literals and
 * comments). Such a text runs only through the simple protocol, one statement at a time.
 */
export function holdsSeveralStatements(sql: string): boolean {
  return SECOND_STATEMENT.test(stripCommentsAndLiterals(sql));
}

/** SQLSTATE 25006: the statement tried to write inside a READ ONLY transaction. */
export const READ_ONLY_VIOLATION = '25006';

/** Removes comments and the contents of string literals and quoted identifiers, so that a word
 * like "update" inside a literal does not count. */
function stripCommentsAndLiterals(sql: string): string {
  return sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\$([A-Za-z_][A-Za-z0-9_]*)?\$[\s\S]*?\$\1\$/g, "''")
    .replace(/'(?:[^']|'')*'/g, "''")
    .replace(/"(?:[^"]|"")*"/g, '""');
}
