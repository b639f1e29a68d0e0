// Is a statement safe to run a second time after it may have reached the server?
//
// Only when running it twice cannot change anything: a plain read outside a transaction. The
// check is deliberately conservative: anything that is not clearly a read is treated as a write,
// and reads that can change state (locking reads, sequence calls, advisory locks, SELECT INTO)
// count as writes too. A false "write" costs an error the caller may retry; a false "read" could
// apply a write twice, which anypg never does.

const READ_START = /^\s*(?:\(\s*)*(select|with|values|table|show|explain)\b/i;
const WRITE_HINT =
  /\b(insert|update|delete|merge|into|for\s+(?:update|share|no\s+key\s+update|key\s+share)|nextval|setval|pg_advisory\w*|lo_\w+|dblink\w*|set_config|pg_notify|pg_terminate_backend|pg_cancel_backend|analyze)\b/i;

export function isReplaySafe(sql: string): boolean {
  const text = stripCommentsAndLiterals(sql);
  const m = READ_START.exec(text);
  if (!m) return false;
  return !WRITE_HINT.test(text);
}

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
