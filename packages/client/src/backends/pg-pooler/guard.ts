// Statements that a pooler cannot carry as the caller expects, found before they run.
//
// A transaction-mode pooler (PgBouncer, Supavisor, Neon's pooler, Hyperdrive) lends a server
// connection to a client for one transaction only. Session state (a SET, a prepared statement, a
// holdable cursor, a temp table, a session advisory lock, LISTEN, LOAD) stays on that server
// connection: the next client to borrow it inherits it, and the client that made it loses it.
// RDS Proxy instead *pins* the client to that server connection until the client disconnects, so
// multiplexing silently stops (AWS, "Avoiding pinning an RDS Proxy", PostgreSQL section: SET,
// PREPARE/EXECUTE/DEALLOCATE/DISCARD, temp tables, sequences and views, cursors, LISTEN, LOAD,
// nextval/setval, pg_advisory_lock and friends but not the _xact_ ones, set_config, and any
// statement over 16 KB).
//
// This is a development aid, not a parser: it reads the text with comments, string literals,
// quoted identifiers and dollar-quoted bodies removed, statement by statement. Messages name the
// statement kind and never the values in it.
import type { PoolerKind } from './detect.js';

export interface PoolerHazard {
  /** Stable: SESSION_SET, SET_CONFIG, RESET, PREPARED_STATEMENT, CURSOR, TEMP_OBJECT, DISCARD, LISTEN, LOAD, ADVISORY_LOCK, SEQUENCE, SESSION_SEQUENCE_VALUE, LONG_STATEMENT. */
  code: string;
  message: string;
}

export interface GuardContext {
  /** True inside BEGIN ... COMMIT, false for a statement on its own, undefined when unknown. */
  inTransaction?: boolean;
}

const NAMES: Record<PoolerKind, string> = {
  'rds-proxy': 'RDS Proxy',
  pgbouncer: 'PgBouncer in transaction mode',
  supavisor: 'Supavisor in transaction mode',
  'neon-pooler': "Neon's pooler (PgBouncer, transaction mode)",
  hyperdrive: 'Hyperdrive',
};

// Cheap first look: most statements contain none of these words and need no tokenizing.
const TRIGGERS =
  /\b(?:set|reset|prepare|execute|deallocate|declare|temp|temporary|pg_temp|discard|listen|load)\b|advisory|nextval|setval|currval|lastval|set_config/i;

const RDS_PROXY_PIN_BYTES = 16 * 1024;

const SESSION_LOCKS = new Set([
  'pg_advisory_lock',
  'pg_advisory_lock_shared',
  'pg_try_advisory_lock',
  'pg_try_advisory_lock_shared',
  'pg_advisory_unlock',
  'pg_advisory_unlock_shared',
  'pg_advisory_unlock_all',
]);

/** The first statement in `sql` that the pooler `kind` cannot carry, with what to do instead. */
export function poolerHazard(sql: string, kind: PoolerKind, context: GuardContext = {}): PoolerHazard | undefined {
  const rds = kind === 'rds-proxy';
  if (rds && sql.length * 3 > RDS_PROXY_PIN_BYTES && new TextEncoder().encode(sql).length > RDS_PROXY_PIN_BYTES) {
    return hazard(
      'LONG_STATEMENT',
      kind,
      'A statement over 16 KB of text',
      'pins the session to one database connection',
      'Split it (smaller batches of rows), or pass large values as parameters.',
    );
  }
  if (!TRIGGERS.test(sql)) return undefined;
  for (const stmt of statements(tokenize(sql))) {
    const found = checkStatement(stmt, kind, context);
    if (found) return found;
  }
  return undefined;
}

// ---- the rules ------------------------------------------------------------------------------

function checkStatement(s: Token[], kind: PoolerKind, ctx: GuardContext): PoolerHazard | undefined {
  const rds = kind === 'rds-proxy';
  const w = (i: number) => (s[i]?.t === 'word' ? s[i]!.v : undefined);
  const first = w(0);

  if (first === 'set') {
    const scope = w(1);
    // SET LOCAL lasts until the transaction ends; SET TRANSACTION / SET CONSTRAINTS are per transaction.
    if (scope !== 'local' && scope !== 'transaction' && scope !== 'constraints') {
      const param = settingName(s, scope === 'session' ? 2 : 1);
      return hazard(
        'SESSION_SET',
        kind,
        `SET ${param} (session scope)`,
        stateEffect(kind, 'the setting'),
        'Use SET LOCAL inside a transaction (or set_config(name, value, true)); for every connection, put it on the role or database (ALTER ROLE ... SET) or, where the pooler accepts it, in a startup parameter.',
      );
    }
  }
  if (first === 'reset' && rds) {
    return hazard(
      'RESET',
      kind,
      'RESET',
      'pins the session to one database connection',
      'Leave settings at their defaults, or use SET LOCAL inside a transaction.',
    );
  }
  if ((first === 'prepare' && w(1) !== 'transaction') || first === 'execute' || first === 'deallocate') {
    return hazard(
      'PREPARED_STATEMENT',
      kind,
      `SQL ${first.toUpperCase()}`,
      rds
        ? 'pins the session to one database connection'
        : 'names a prepared statement that lives on one server connection, which the next transaction may not get',
      'Send the statement with parameters ($1, $2) instead: anypg runs it as an unnamed statement.',
    );
  }
  if (first === 'declare') {
    const hold = indexOfSequence(s, ['with', 'hold']) >= 0;
    if (hold || rds) {
      return hazard(
        'CURSOR',
        kind,
        hold ? 'DECLARE ... CURSOR WITH HOLD' : 'DECLARE ... CURSOR',
        rds
          ? 'pins the session to one database connection'
          : 'keeps a cursor open on a server connection after the transaction ends',
        'Read the rows inside one transaction with a cursor WITHOUT HOLD, or page with LIMIT and a key (WHERE id > $1).',
      );
    }
  }
  if (isTempObject(s)) {
    const onCommitDrop = indexOfSequence(s, ['on', 'commit', 'drop']) >= 0;
    if (rds || !onCommitDrop) {
      return hazard(
        'TEMP_OBJECT',
        kind,
        'A temporary table, sequence or view',
        rds
          ? 'pins the session to one database connection'
          : 'stays on the server connection after the transaction, visible to the next client that gets it',
        rds
          ? 'Use a CTE (WITH ...) or a regular table.'
          : 'Create it inside a transaction with ON COMMIT DROP, or use a CTE (WITH ...).',
      );
    }
  }
  if (first === 'discard' && rds) {
    return hazard(
      'DISCARD',
      kind,
      'DISCARD',
      'pins the session to one database connection',
      'Remove it: the proxy resets connections itself.',
    );
  }
  if (first === 'listen') {
    return hazard(
      'LISTEN',
      kind,
      'LISTEN',
      rds
        ? 'pins the session to one database connection'
        : 'registers on a server connection this client does not keep, so notifications are lost',
      'Listen on a direct (unpooled) connection; NOTIFY and pg_notify() are fine through the pooler.',
    );
  }
  if (first === 'load') {
    return hazard(
      'LOAD',
      kind,
      'LOAD',
      rds ? 'pins the session to one database connection' : 'loads a library into one server connection only',
      'Load it for every connection with session_preload_libraries on the role or database.',
    );
  }
  return checkFunctions(s, kind, ctx);
}

function checkFunctions(s: Token[], kind: PoolerKind, ctx: GuardContext): PoolerHazard | undefined {
  const rds = kind === 'rds-proxy';
  for (let i = 0; i < s.length - 1; i++) {
    const tok = s[i]!;
    if (tok.t !== 'word' || s[i + 1]!.v !== '(' || s[i + 1]!.t !== 'punct') continue;
    const name = tok.v;
    if (name === 'set_config' && !isLocalSetConfig(s, i + 1)) {
      return hazard(
        'SET_CONFIG',
        kind,
        'set_config(..., false) (session scope)',
        stateEffect(kind, 'the setting'),
        'Pass true as the third argument (is_local) inside a transaction: set_config(name, value, true).',
      );
    }
    if (SESSION_LOCKS.has(name)) {
      return hazard(
        'ADVISORY_LOCK',
        kind,
        `${name}() (a session-level advisory lock)`,
        rds
          ? 'pins the session to one database connection'
          : 'is held by a server connection this client gives back after the transaction: another client may hold it, and unlocking may run elsewhere',
        'Use the transaction-level form, pg_advisory_xact_lock() or pg_try_advisory_xact_lock(), inside a transaction: it is released at COMMIT.',
      );
    }
    if (rds && (name === 'nextval' || name === 'setval')) {
      return hazard(
        'SEQUENCE',
        kind,
        `${name}() called in SQL`,
        'pins the session to one database connection',
        'Let a column default (serial, identity) draw the value and read it with RETURNING.',
      );
    }
    if (!rds && ctx.inTransaction === false && (name === 'currval' || name === 'lastval')) {
      return hazard(
        'SESSION_SEQUENCE_VALUE',
        kind,
        `${name}() outside a transaction`,
        'reads the last value drawn on whichever server connection runs it, not necessarily by this client',
        'Use INSERT ... RETURNING, or call it in the same transaction as the nextval().',
      );
    }
  }
  return undefined;
}

/** CREATE [OR REPLACE] [GLOBAL|LOCAL] TEMP|TEMPORARY [RECURSIVE] TABLE|SEQUENCE|VIEW, CREATE ... pg_temp.x, SELECT ... INTO TEMP. */
function isTempObject(s: Token[]): boolean {
  const first = s[0]?.t === 'word' ? s[0].v : undefined;
  if (first === 'create') {
    for (let i = 1; i < Math.min(s.length, 6); i++) {
      const v = s[i]!.t === 'word' ? s[i]!.v : '';
      if (v === 'temp' || v === 'temporary') return true;
      if (v === 'table' || v === 'sequence' || v === 'view') {
        // CREATE TABLE [IF NOT EXISTS] pg_temp.name
        return s.slice(i + 1, i + 6).some((t) => t.t === 'word' && t.v === 'pg_temp');
      }
    }
    return false;
  }
  const into = indexOfWord(s, 'into');
  return into >= 0 && (first === 'select' || first === 'with') && ['temp', 'temporary'].includes(s[into + 1]?.v ?? '');
}

/** set_config(name, value, is_local): true when is_local is literally true. */
function isLocalSetConfig(s: Token[], open: number): boolean {
  let depth = 0;
  let commas = 0;
  for (let i = open; i < s.length; i++) {
    const t = s[i]!;
    if (t.t === 'punct' && t.v === '(') depth++;
    else if (t.t === 'punct' && t.v === ')') {
      if (--depth === 0) return false;
    } else if (depth === 1 && t.t === 'punct' && t.v === ',') {
      if (++commas === 2) {
        const arg = s[i + 1];
        if (!arg) return false;
        if (arg.t === 'word') return arg.v === 'true';
        if (arg.t === 'str') return ['t', 'true', 'on', 'yes', 'y', '1'].includes(arg.v.toLowerCase());
        return false;
      }
    }
  }
  return false;
}

/** The setting a SET names (app.user_id, TIME ZONE, ROLE), never its value. */
function settingName(s: Token[], at: number): string {
  const first = s[at];
  const special: Record<string, string> = {
    time: 'TIME ZONE',
    role: 'ROLE',
    authorization: 'SESSION AUTHORIZATION',
    characteristics: 'SESSION CHARACTERISTICS',
  };
  if (first?.t === 'word' && special[first.v]) return special[first.v]!;
  let name = '';
  for (let i = at; i < s.length; i += 2) {
    const t = s[i]!;
    if (t.t !== 'word' && t.t !== 'ident') break;
    name += (name ? '.' : '') + t.v;
    const dot = s[i + 1];
    if (dot?.t !== 'punct' || dot.v !== '.') break;
  }
  return name || '...';
}

function stateEffect(kind: PoolerKind, what: string): string {
  return kind === 'rds-proxy'
    ? 'pins the session to one database connection, ending multiplexing for it'
    : `stays on the server connection: ${what} is lost for this client's next transaction and leaks to whichever client gets that connection`;
}

function hazard(code: string, kind: PoolerKind, statement: string, effect: string, instead: string): PoolerHazard {
  return { code, message: `${statement} through ${NAMES[kind]} ${effect}. ${instead}` };
}

function indexOfWord(s: Token[], word: string): number {
  return s.findIndex((t) => t.t === 'word' && t.v === word);
}

function indexOfSequence(s: Token[], words: string[]): number {
  for (let i = 0; i + words.length <= s.length; i++) {
    if (words.every((w, k) => s[i + k]!.t === 'word' && s[i + k]!.v === w)) return i;
  }
  return -1;
}

// ---- the tokenizer --------------------------------------------------------------------------

interface Token {
  /** word: keyword or bare identifier, lower-cased; str: a string literal's content; ident: a "quoted" identifier. */
  t: 'word' | 'str' | 'ident' | 'punct' | 'other';
  v: string;
}

function statements(tokens: Token[]): Token[][] {
  const out: Token[][] = [[]];
  for (const t of tokens) {
    if (t.t === 'punct' && t.v === ';') out.push([]);
    else out[out.length - 1]!.push(t);
  }
  return out.filter((s) => s.length > 0);
}

/** Words, literals and punctuation; comments and whitespace dropped. Unterminated tokens run to the end. */
function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
    } else if (c === '/' && next === '*') {
      // Block comments nest in PostgreSQL.
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
    } else if (c === "'") {
      // E'...' strings take backslash escapes; the E was read as a one-letter word just before.
      const prev = out[out.length - 1];
      const escapes = prev?.t === 'word' && prev.v === 'e' && sql[i - 1]?.toLowerCase() === 'e';
      if (escapes) out.pop();
      const [v, end] = readQuoted(sql, i, "'", escapes);
      out.push({ t: 'str', v });
      i = end;
    } else if (c === '"') {
      const [v, end] = readQuoted(sql, i, '"', false);
      out.push({ t: 'ident', v });
      i = end;
    } else if (c === '$' && /[A-Za-z_$]/.test(next ?? '')) {
      // $tag$ ... $tag$ (or $$ ... $$): a string, whatever it holds.
      const tagEnd = sql.indexOf('$', i + 1);
      const tag = tagEnd < 0 ? '' : sql.slice(i, tagEnd + 1);
      if (tagEnd >= 0 && /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$$/.test(tag)) {
        const close = sql.indexOf(tag, tagEnd + 1);
        const end = close < 0 ? n : close + tag.length;
        out.push({ t: 'str', v: sql.slice(tagEnd + 1, close < 0 ? n : close) });
        i = end;
      } else {
        out.push({ t: 'other', v: '$' });
        i++;
      }
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[j]!)) j++;
      out.push({ t: 'word', v: sql.slice(i, j).toLowerCase() });
      i = j;
    } else if (/[0-9]/.test(c) || (c === '$' && /[0-9]/.test(next ?? ''))) {
      let j = i + 1;
      while (j < n && /[0-9.eE]/.test(sql[j]!)) j++;
      out.push({ t: 'other', v: sql.slice(i, j) });
      i = j;
    } else {
      out.push({ t: 'punct', v: c });
      i++;
    }
  }
  return out;
}

/** Reads a quoted token starting at `start` (the opening quote); a doubled quote is one quote. */
function readQuoted(sql: string, start: number, quote: string, backslash: boolean): [string, number] {
  let v = '';
  let i = start + 1;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (backslash && ch === '\\') {
      v += sql[i + 1] ?? '';
      i += 2;
    } else if (ch === quote) {
      if (sql[i + 1] === quote) {
        v += quote;
        i += 2;
      } else return [v, i + 1];
    } else {
      v += ch;
      i++;
    }
  }
  return [v, i];
}
