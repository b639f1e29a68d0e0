// The command tag's verb, which the Data API does not return: taken from the statement's text the
// way PostgreSQL names its command tags (VALUES and TABLE are SELECTs; END is COMMIT; WITH ...
// takes the verb of the statement after its common table expressions).

/** Commands whose tag carries a row count (pg sets rowCount only for these). */
const COUNTED = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY', 'FETCH', 'MOVE']);

const ALIASES: Record<string, string> = { VALUES: 'SELECT', TABLE: 'SELECT', END: 'COMMIT', ABORT: 'ROLLBACK' };
const MAIN_VERBS = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'VALUES', 'TABLE']);

/** The first word, then the top-level words of a statement (outside parentheses, strings, quoted names, comments). */
function* topLevelWords(sql: string): Generator<string> {
  let depth = 0;
  let any = false;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end;
    } else if (c === '/' && sql[i + 1] === '*') {
      let nest = 0;
      while (i < n) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          nest++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          nest--;
          i += 2;
          if (nest === 0) break;
        } else i++;
      }
    } else if (c === "'" || c === '"') {
      i++;
      while (i < n && !(sql[i] === c && sql[i + 1] !== c)) i += sql[i] === c ? 2 : 1;
      i++;
    } else if (c === '$' && /[A-Za-z_$]/.test(sql[i + 1] ?? '')) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (m) {
        const close = sql.indexOf(m[0], i + m[0].length);
        i = close === -1 ? n : close + m[0].length;
      } else i++;
    } else if (c === '(') {
      depth++;
      i++;
    } else if (c === ')') {
      depth--;
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
      // The first word counts at any depth: `(select 1) union (select 2)` is a SELECT.
      if (depth === 0 || !any) yield sql.slice(i, j).toUpperCase();
      any = true;
      i = j;
    } else i++;
  }
}

/** The verb pg would report as `command` for this statement. */
export function commandOf(sql: string): string {
  const words = topLevelWords(sql);
  const first = words.next().value;
  if (first === undefined) return '';
  if (first === 'WITH') {
    for (const w of words) if (MAIN_VERBS.has(w)) return ALIASES[w] ?? w;
    return 'SELECT';
  }
  return ALIASES[first] ?? first;
}

/** pg's rowCount: rows returned or affected for counted commands, null for the rest. */
export function rowCountOf(command: string, rows: number | undefined, updated: number | undefined): number | null {
  if (!COUNTED.has(command)) return null;
  return rows ?? updated ?? 0;
}
