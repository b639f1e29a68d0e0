// `columnMetadata`: what the JDBC driver behind the Data API reports for each result column
// (ResultSetMetaData), rebuilt from the RowDescription and a catalog look-up for table columns.
import type pg from 'pg';
import { isCaseSensitive, isCurrency, isSigned, precisionAndScale, type TypeInfo } from './types.js';

export interface ColumnMetadata {
  name: string;
  type: number;
  typeName: string;
  label: string;
  schemaName: string;
  tableName: string;
  isAutoIncrement: boolean;
  isSigned: boolean;
  isCurrency: boolean;
  isCaseSensitive: boolean;
  nullable: number;
  precision: number;
  scale: number;
  arrayBaseColumnType: number;
}

interface AttributeRow {
  table_oid: number;
  relname: string;
  attnum: number;
  attnotnull: boolean;
  autoincrement: boolean;
}

// java.sql.ResultSetMetaData
const NO_NULLS = 0;
const NULLABLE = 1;

export async function columnMetadata(
  client: pg.ClientBase,
  fields: pg.FieldDef[],
  types: Map<number, TypeInfo>,
): Promise<ColumnMetadata[]> {
  const tables = [...new Set(fields.filter((f) => f.tableID !== 0).map((f) => f.tableID))];
  const attributes = new Map<string, AttributeRow>();
  if (tables.length > 0) {
    const res = await client.query<AttributeRow>({
      text: `select c.oid::int as table_oid, c.relname, a.attnum::int as attnum, a.attnotnull,
                    (a.attidentity <> '' or coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '') like 'nextval(%') as autoincrement
             from pg_catalog.pg_class c
             join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0
             left join pg_catalog.pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
             where c.oid = any($1::oid[])`,
      values: [tables],
    });
    for (const row of res.rows) attributes.set(`${row.table_oid}:${row.attnum}`, row);
  }

  return fields.map((f) => {
    const type = types.get(f.dataTypeID)!;
    const attribute = f.tableID !== 0 ? attributes.get(`${f.tableID}:${f.columnID}`) : undefined;
    const autoincrement = attribute?.autoincrement ?? false;
    const { precision, scale } = precisionAndScale(type, f.dataTypeModifier);
    return {
      name: f.name,
      type: type.jdbcType,
      typeName: autoincrement ? (SERIAL_NAMES[type.name] ?? type.name) : type.name,
      label: f.name,
      // The JDBC driver never reports a schema name for a result column.
      schemaName: '',
      tableName: attribute?.relname ?? '',
      isAutoIncrement: autoincrement,
      isSigned: isSigned(type),
      isCurrency: isCurrency(type),
      isCaseSensitive: isCaseSensitive(type),
      nullable: attribute?.attnotnull ? NO_NULLS : NULLABLE,
      precision,
      scale,
      arrayBaseColumnType: type.element?.jdbcType ?? 0,
    };
  });
}

// The JDBC driver names auto-incrementing integer columns by their serial pseudo-type.
const SERIAL_NAMES: Record<string, string> = { int2: 'smallserial', int4: 'serial', int8: 'bigserial' };
