// A PgDialect for backends that cannot let PostgreSQL infer parameter types (the Data API types an
// unhinted string as text): every value written by insert and update gets an explicit cast to its
// column's type (drizzle's own aws-data-api driver does this for arrays only, so interval, enum and
// other columns without a Data API type hint fail there).
import { getTableColumns, is, Param, type SQL, sql } from 'drizzle-orm';
import { PgColumn, PgDialect, type PgTable } from 'drizzle-orm/pg-core';

function needsCast(value: unknown): value is Param {
  if (!is(value, Param) || value.value === undefined || value.value === null) return false;
  return is(value.encoder, PgColumn);
}

const castTo = (p: Param) => sql`cast(${p} as ${sql.raw((p.encoder as PgColumn).getSQLType())})`;

export class CastingDialect extends PgDialect {
  override buildInsertQuery(config: Parameters<PgDialect['buildInsertQuery']>[0]): SQL {
    if (!config.select) {
      const columns = getTableColumns(config.table);
      for (const row of config.values as Record<string, unknown>[]) {
        for (const name of Object.keys(columns)) if (needsCast(row[name])) row[name] = castTo(row[name] as Param);
      }
    }
    return super.buildInsertQuery(config);
  }

  override buildUpdateSet(table: PgTable, set: Parameters<PgDialect['buildUpdateSet']>[1]): SQL {
    for (const [name, value] of Object.entries(set))
      if (needsCast(value)) (set as Record<string, unknown>)[name] = castTo(value);
    return super.buildUpdateSet(table, set);
  }
}
