// What the Data API transport works out from a statement's text, once per distinct text: the SQL
// with `:n` placeholders (and casts), the command verb, whether it may return rows. drizzle builds
// the same text for every run of a query, and these scans cost more than the rest of a call.
import { isReplaySafe } from '../../resilience/replay.js';
import { castTypeOf } from '../../types/typings.js';
import { commandOf } from './command.js';
import { type TranslatedSql, translatePlaceholders } from './placeholders.js';

export interface StatementText {
  sql: TranslatedSql;
  command: string;
  /** Rows keyed by column name may come back (then their names, from the metadata, are needed). */
  returnsRows: boolean;
  /** A plain read: may be sent again, read-only, after a lost answer (resilience/replay.ts). */
  replaySafe: boolean;
}

/** Commands that never return rows: their results need no column metadata. */
const NO_ROWS = new Set(
  (
    'CREATE DROP ALTER TRUNCATE GRANT REVOKE COMMENT SET RESET BEGIN START COMMIT ROLLBACK SAVEPOINT ' +
    'RELEASE LOCK DISCARD LISTEN UNLISTEN NOTIFY VACUUM ANALYZE REINDEX CLUSTER REFRESH DO DEALLOCATE ' +
    'PREPARE SECURITY CHECKPOINT LOAD'
  ).split(' '),
);
const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

const MAX_ENTRIES = 500;
const cache = new Map<string, StatementText>();

export function statementText(text: string, typings: readonly (string | undefined)[] | undefined): StatementText {
  const casts = typings?.some((t) => castTypeOf(t) !== undefined) ? typings.map((t) => castTypeOf(t) ?? '') : undefined;
  const key = casts ? `${text}\u0000${casts.join('\u0000')}` : text;
  let entry = cache.get(key);
  if (entry) return entry;
  const command = commandOf(text);
  entry = {
    sql: translatePlaceholders(text, casts && ((n) => casts[n - 1] || undefined)),
    command,
    // Any statement but those that never return rows, and writes without RETURNING.
    returnsRows: NO_ROWS.has(command) ? false : WRITES.has(command) ? /returning/i.test(text) : true,
    replaySafe: isReplaySafe(text),
  };
  if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(key, entry);
  return entry;
}
