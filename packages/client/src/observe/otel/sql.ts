// What a span may say about a statement: its operation (SELECT, INSERT, ...), the table it works on
// when there is exactly one, and its text with every literal replaced by `?`.
//
// The text anypg runs carries parameter values as placeholders ($1, $2): they are never in it. But
// SQL written by hand (sql.raw, a migration, `where token = 'abc'`) can hold a secret in a literal,
// so literals (strings, dollar-quoted bodies, numbers) and comments are removed before the text goes
// into `db.query.text`, as the semantic conventions ask of instrumentations that record it by default.
//
// One pass of a small scanner; the result is cached by text, because a program runs the same few
// statement texts over and over (drizzle builds the same text for the same query).

export interface StatementShape {
  /** First keyword, upper case (the main statement's for WITH ... SELECT); undefined for an empty text. */
  operation: string | undefined;
  /** The one table the statement reads or writes, as written, without quotes; undefined for joins and subqueries. */
  collection: string | undefined;
  /** The text with literals replaced by `?` and comments removed, at most MAX_TEXT characters. */
  sanitized: string;
}

const MAX_TEXT = 2048;
const CACHE_LIMIT = 500;
const cache = new Map<string, StatementShape>();

export function shapeOf(text: string): StatementShape {
  let shape = cache.get(text);
  if (shape === undefined) {
    shape = analyse(text);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(text, shape);
  }
  return shape;
}

const MAIN_VERBS = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'VALUES', 'TABLE']);

function analyse(text: string): StatementShape {
  let out = '';
  // Top-level words (outside parentheses), upper case, and the identifiers that follow them.
  const words: string[] = [];
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '-' && next === '-') {
      while (i < n && text[i] !== '\n') i++;
      out += ' ';
      continue;
    }
    if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      out += ' ';
      continue;
    }
    if (c === "'" || ((c === 'E' || c === 'e') && next === "'" && !isWordChar(text[i - 1]))) {
      i = skipString(text, c === "'" ? i : i + 1, c !== "'");
      out += '?';
      if (depth === 0) words.push('?');
      continue;
    }
    if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 64));
      if (tag) {
        const end = text.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? n : end + tag[0].length;
        out += '?';
        if (depth === 0) words.push('?');
        continue;
      }
      // $1: a placeholder, kept.
      let j = i + 1;
      while (j < n && isDigit(text[j])) j++;
      out += text.slice(i, j);
      if (depth === 0) words.push('$');
      i = j;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      for (; j < n; j++) {
        if (text[j] === '"') {
          if (text[j + 1] === '"') j++;
          else break;
        }
      }
      const quoted = text.slice(i, j + 1);
      out += quoted;
      if (depth === 0) words.push(`"${text.slice(i + 1, j).replaceAll('""', '"')}`);
      i = j + 1;
      continue;
    }
    if (isDigit(c) || (c === '.' && isDigit(next))) {
      if (isWordChar(text[i - 1])) {
        out += c;
        i++;
        continue;
      }
      let j = i;
      while (j < n && /[0-9a-fA-FxXoObB_.]/.test(text[j]!)) j++;
      if ((text[j - 1] === 'e' || text[j - 1] === 'E') && (text[j] === '+' || text[j] === '-')) {
        j++;
        while (j < n && isDigit(text[j])) j++;
      }
      out += '?';
      if (depth === 0) words.push('?');
      i = j;
      continue;
    }
    if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWordChar(text[j])) j++;
      const word = text.slice(i, j);
      // B'0101', X'1F', U&'...': prefixed string literals.
      if (text[j] === "'" && /^(b|x|n)$/i.test(word)) {
        i = skipString(text, j, false);
        out += '?';
        if (depth === 0) words.push('?');
        continue;
      }
      if (text[j] === '&' && text[j + 1] === "'" && /^u$/i.test(word)) {
        i = skipString(text, j + 1, false);
        out += '?';
        if (depth === 0) words.push('?');
        continue;
      }
      out += word;
      if (depth === 0) words.push(word.toUpperCase());
      i = j;
      continue;
    }
    if (c === '(') {
      if (depth === 0) words.push('(');
      depth++;
    } else if (c === ')') depth = Math.max(0, depth - 1);
    else if (depth === 0 && (c === ',' || c === '.' || c === ';')) words.push(c);
    out += c;
    i++;
  }
  const sanitized = collapse(out);
  return {
    operation: operationOf(words),
    collection: collectionOf(words),
    sanitized: sanitized.length > MAX_TEXT ? `${sanitized.slice(0, MAX_TEXT - 1)}…` : sanitized,
  };
}

function operationOf(words: string[]): string | undefined {
  const first = words[0];
  if (first === undefined || !/^[A-Z_]+$/.test(first)) return undefined;
  if (first !== 'WITH') return first;
  // WITH name AS (...), name AS (...) SELECT: the main statement's verb.
  return words.find((w) => MAIN_VERBS.has(w)) ?? 'WITH';
}

/** The single table after FROM / INTO / UPDATE at the top level; undefined when there are several. */
function collectionOf(words: string[]): string | undefined {
  const op = operationOf(words);
  let at: number;
  if (op === 'SELECT' || op === 'DELETE') at = words.indexOf('FROM');
  else if (op === 'INSERT' || op === 'MERGE') at = words.indexOf('INTO');
  else if (op === 'UPDATE') at = words.indexOf('UPDATE');
  else if (op === 'TABLE') at = words.indexOf('TABLE');
  else return undefined;
  if (at < 0) return undefined;
  // A subquery, a function call or a literal is not a table: the name must follow directly.
  const parts: string[] = [];
  let k = at + 1;
  for (;;) {
    const w = words[k];
    if (w === undefined || !isName(w)) return undefined;
    parts.push(w.startsWith('"') ? w.slice(1) : w.toLowerCase());
    if (words[k + 1] !== '.') break;
    k += 2;
  }
  const rest = words.slice(k + 1);
  // A function call (generate_series(...)); INSERT INTO t (columns) is a table.
  if (rest[0] === '(' && op !== 'INSERT' && op !== 'MERGE') return undefined;
  // Another table (a join, a comma, USING) makes it several.
  if (rest.some((w) => w === 'JOIN' || w === 'USING') || (op !== 'INSERT' && rest[0] === ',')) return undefined;
  if (op === 'SELECT' && rest.includes(',') && rest.indexOf(',') < firstClause(rest)) return undefined;
  return parts.join('.');
}

const CLAUSES = new Set(['WHERE', 'GROUP', 'ORDER', 'LIMIT', 'OFFSET', 'HAVING', 'WINDOW', 'FOR', 'UNION']);
function firstClause(words: string[]): number {
  const i = words.findIndex((w) => CLAUSES.has(w));
  return i < 0 ? words.length : i;
}

const KEYWORDS = new Set(['SELECT', 'LATERAL', 'ONLY', 'ROWS', 'VALUES', 'DEFAULT', 'SET', 'WHERE']);
function isName(w: string): boolean {
  if (w.startsWith('"')) return true;
  return /^[A-Z_][A-Z0-9_$]*$/.test(w) && !KEYWORDS.has(w);
}

/** Index just past a string literal that starts with the quote at `i`. */
function skipString(text: string, i: number, backslashEscapes: boolean): number {
  let j = i + 1;
  for (; j < text.length; j++) {
    const c = text[j];
    if (backslashEscapes && c === '\\') {
      j++;
      continue;
    }
    if (c === "'") {
      if (text[j + 1] === "'") j++;
      else return j + 1;
    }
  }
  return text.length;
}

function collapse(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isWordStart = (c: string) => /[A-Za-z_\u0080-\uffff]/.test(c);
const isWordChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
