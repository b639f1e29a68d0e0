// drizzle's `$1..$n` placeholders to the Data API's `:1..:n`, by a small scanner that knows where a
// `$` or a `:` is not a placeholder: inside '...' and E'...' strings, "quoted identifiers", $tag$
// bodies, -- and /* nested */ comments.
//
// The Data API reads any `:word` outside strings and comments as a placeholder, so a colon that
// PostgreSQL reads differently (an array slice `a[1:2]`) would be taken for parameter 2. Such a
// colon gets a space after it (`a[1: 2]`, the same to PostgreSQL); `::` casts and `:=` are left
// alone. Error positions reported against the sent text are mapped back with originalPosition().
//
// A parameter whose type the Data API cannot carry (an enum, an interval, an array: see
// drizzle/casting-dialect.ts) is sent as `cast(:n as <type>)`, unless the SQL casts it there already.

export interface TranslatedSql {
  /** The SQL as sent, with `:n` placeholders. */
  text: string;
  /** Highest placeholder number used. */
  count: number;
  /** Placeholder numbers with an explicit cast at every use (`:n::type` or `cast(:n as type)`). */
  cast: ReadonlySet<number>;
  /** Maps a 1-based character position in `text` (as PostgreSQL reports it) back to the original SQL. */
  originalPosition(position: number): number;
}

const isIdentChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
const isNameChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);
const isTagStart = (c: string | undefined) => c !== undefined && /[A-Za-z_\u0080-\uffff]/.test(c);
const isTagChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_\u0080-\uffff]/.test(c);
const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/**
 * `castTo(n)`: the type placeholder n must be cast to where the SQL does not cast it (undefined: none).
 */
export function translatePlaceholders(sql: string, castTo?: (n: number) => string | undefined): TranslatedSql {
  let out = '';
  let count = 0;
  /** Text inserted into `out` that the original does not have: where it starts, how long it is. */
  const inserted: { at: number; length: number }[] = [];
  const insert = (text: string) => {
    inserted.push({ at: out.length, length: text.length });
    out += text;
  };
  const castEverywhere = new Map<number, boolean>();
  let i = 0;
  const n = sql.length;

  const copyUntil = (end: number) => {
    out += sql.slice(i, end);
    i = end;
  };

  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "'") {
      // E'...' (and e'...') strings take backslash escapes; plain ones only ''.
      const escapes = (sql[i - 1] === 'E' || sql[i - 1] === 'e') && !isIdentChar(sql[i - 2]);
      let j = i + 1;
      while (j < n) {
        if (escapes && sql[j] === '\\') j += 2;
        else if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
        else if (sql[j] === "'") break;
        else j++;
      }
      copyUntil(Math.min(j + 1, n));
    } else if (c === '"') {
      let j = i + 1;
      while (j < n && !(sql[j] === '"' && sql[j + 1] !== '"')) j += sql[j] === '"' ? 2 : 1;
      copyUntil(Math.min(j + 1, n));
    } else if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      copyUntil(end === -1 ? n : end);
    } else if (c === '/' && next === '*') {
      let depth = 0;
      let j = i;
      while (j < n) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
          if (depth === 0) break;
        } else j++;
      }
      copyUntil(Math.min(j, n));
    } else if (c === '$' && isDigit(next) && !isIdentChar(sql[i - 1])) {
      let j = i + 1;
      while (isDigit(sql[j])) j++;
      const num = Number(sql.slice(i + 1, j));
      const before = out.slice(-40);
      i = j;
      count = Math.max(count, num);
      let cast = /^\s*::/.test(sql.slice(i, i + 40)) || /\bcast\s*\(\s*$/i.test(before);
      const type = cast ? undefined : castTo?.(num);
      if (type) {
        insert('cast(');
        out += `:${num}`;
        insert(` as ${type})`);
        cast = true;
      } else {
        out += `:${num}`;
      }
      castEverywhere.set(num, (castEverywhere.get(num) ?? true) && cast);
    } else if (c === '$' && (next === '$' || isTagStart(next)) && !isIdentChar(sql[i - 1])) {
      // A dollar quote $tag$ ... $tag$ (or $$ ... $$), unless it is not closed by a tag.
      let j = i + 1;
      while (isTagChar(sql[j])) j++;
      if (sql[j] !== '$') {
        copyUntil(j);
        continue;
      }
      const tag = sql.slice(i, j + 1);
      const close = sql.indexOf(tag, j + 1);
      copyUntil(close === -1 ? n : close + tag.length);
    } else if (c === ':') {
      if (next === ':') {
        copyUntil(i + 2);
      } else {
        out += ':';
        i++;
        // A word, or a placeholder (`a[$1:$2]` would become `:1::2`, a cast), must not touch it.
        if (isNameChar(next) || (next === '$' && isDigit(sql[i + 1]))) insert(' ');
      }
    } else if (isIdentChar(c)) {
      // A whole word at once, so `a$1` (an identifier) never looks like a placeholder.
      let j = i + 1;
      while (isIdentChar(sql[j])) j++;
      copyUntil(j);
    } else {
      copyUntil(i + 1);
    }
  }

  const cast = new Set<number>();
  for (const [num, all] of castEverywhere) if (all) cast.add(num);
  return {
    text: out,
    count,
    cast,
    originalPosition(position: number) {
      // 0-based offset in `out`; one inside inserted text maps to where that text was inserted.
      const offset = position - 1;
      let shift = 0;
      for (const { at, length } of inserted) {
        if (at + length <= offset) shift += length;
        else if (at <= offset) return at - shift + 1;
      }
      return position - shift;
    },
  };
}
