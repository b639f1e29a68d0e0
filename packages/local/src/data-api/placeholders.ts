// `:name` placeholders (the Data API's) to PostgreSQL's `$n`, by a small scanner that knows where
// a colon is not a placeholder: inside '...' and E'...' strings, "quoted identifiers", $tag$ bodies,
// -- and /* nested */ comments, and the `::` cast operator. The same scan notices a second statement
// after a top-level `;`, which the Data API refuses ("Multistatements aren't supported.").

export interface TranslatedSql {
  /** The SQL with `$1..$n` in place of the placeholders. */
  text: string;
  /** `names[i]` is the parameter name bound to `$i+1`; a name used twice maps to one `$n`. */
  names: string[];
  /** True when something other than whitespace or comments follows a top-level `;`. */
  multipleStatements: boolean;
  /** Maps a 1-based character position in `text` (as PostgreSQL reports it) back to the original SQL. */
  originalPosition(position: number): number;
}

interface Replacement {
  /** Offset and length of the `:name` in the original SQL. */
  from: number;
  fromLength: number;
  /** Offset and length of its `$n` in the translated SQL. */
  to: number;
  toLength: number;
}

const isNameChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);
// PostgreSQL identifiers may continue with `$` and any non-ASCII letter; used to tell `a$b$` (an
// identifier) and `e'x'` after an identifier apart from a dollar quote or an E'' string.
const isIdentChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
const isTagStart = (c: string | undefined) => c !== undefined && /[A-Za-z_\u0080-\uffff]/.test(c);
const isTagChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_\u0080-\uffff]/.test(c);

/**
 * Translates `:name` placeholders to `$n`.
 *
 * With `known`, only names in that set are translated and any other `:word` is left as it is (so an
 * array slice such as `a[1:2]` survives when no parameter is called `2`); without it, every `:word`
 * outside strings, identifiers, comments and casts is a placeholder.
 */
export function translatePlaceholders(sql: string, known?: ReadonlySet<string>): TranslatedSql {
  const out: string[] = [];
  const names: string[] = [];
  const index = new Map<string, number>();
  const replacements: Replacement[] = [];
  let delta = 0;
  let copiedUpTo = 0;
  let sawTerminator = false;
  let multipleStatements = false;
  const n = sql.length;
  let i = 0;

  const significant = () => {
    if (sawTerminator) multipleStatements = true;
  };

  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];

    // -- comment to end of line
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i + 2);
      i = end < 0 ? n : end + 1;
      continue;
    }
    // /* comment */, nested as PostgreSQL allows
    if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === ';') {
      sawTerminator = true;
      i++;
      continue;
    }
    significant();

    // E'...' (backslash escapes) — only when the E starts a token, not at the end of an identifier.
    if ((c === 'e' || c === 'E') && next === "'" && !isIdentChar(sql[i - 1])) {
      i = skipQuoted(sql, i + 1, "'", true);
      continue;
    }
    if (c === "'") {
      i = skipQuoted(sql, i, "'", false);
      continue;
    }
    if (c === '"') {
      i = skipQuoted(sql, i, '"', false);
      continue;
    }
    // $tag$ ... $tag$ (and $$ ... $$); `$1` is a positional parameter, `a$b` part of an identifier.
    if (c === '$' && !isIdentChar(sql[i - 1]) && (next === '$' || isTagStart(next))) {
      let j = i + 1;
      while (isTagChar(sql[j])) j++;
      if (sql[j] === '$') {
        const tag = sql.slice(i, j + 1);
        const close = sql.indexOf(tag, j + 1);
        i = close < 0 ? n : close + tag.length;
        continue;
      }
    }
    if (c === ':') {
      if (next === ':') {
        i += 2; // the :: cast operator
        continue;
      }
      if (isNameChar(next)) {
        let j = i + 1;
        while (isNameChar(sql[j])) j++;
        const name = sql.slice(i + 1, j);
        if (!known || known.has(name)) {
          let position = index.get(name);
          if (position === undefined) {
            names.push(name);
            position = names.length;
            index.set(name, position);
          }
          const replacement = `$${position}`;
          out.push(sql.slice(copiedUpTo, i), replacement);
          replacements.push({ from: i, fromLength: j - i, to: i + delta, toLength: replacement.length });
          delta += replacement.length - (j - i);
          copiedUpTo = j;
        }
        i = j;
        continue;
      }
    }
    i++;
  }
  out.push(sql.slice(copiedUpTo));

  return {
    text: out.join(''),
    names,
    multipleStatements,
    originalPosition(position: number) {
      const offset = position - 1;
      let shift = 0;
      for (const r of replacements) {
        if (offset < r.to) break;
        if (offset < r.to + r.toLength) return r.from + 1; // inside a `$n`: its `:name`
        shift += r.toLength - r.fromLength;
      }
      return offset - shift + 1;
    },
  };
}

/** Returns the offset just after the closing quote (or the end of the text when it is unterminated). */
function skipQuoted(sql: string, open: number, quote: string, backslashEscapes: boolean): number {
  let i = open + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (sql[i + 1] === quote) {
        i += 2; // doubled quote
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length;
}
