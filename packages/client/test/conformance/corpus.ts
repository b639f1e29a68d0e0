// The conformance corpus: one set of statements whose results must be the same on every backend.
// `pg` directly (node-postgres, default parsers) is the oracle for execute(); anypg's pg backend
// is the oracle for the query builder. Accepted differences live in differences.ts, nowhere else.

/** One column of the type corpus: a SQL type and literal values (NULL included) to round-trip. */
export interface TypeCase {
  name: string;
  type: string;
  values: string[];
}

export const ENUM = 'conf_mood';
export const DOMAIN = 'conf_positive';

export const SETUP_SQL = [
  `do $$ begin create type ${ENUM} as enum ('sad', 'ok', 'happy'); exception when duplicate_object then null; end $$`,
  `do $$ begin create domain ${DOMAIN} as int check (value > 0); exception when duplicate_object then null; end $$`,
];

export const TYPE_CASES: TypeCase[] = [
  { name: 'int2', type: 'int2', values: ['0', '-32768', '32767', 'null'] },
  { name: 'int4', type: 'int4', values: ['0', '-2147483648', '2147483647', 'null'] },
  { name: 'int8', type: 'int8', values: ['0', '-9223372036854775808', '9223372036854775807', 'null'] },
  {
    name: 'numeric',
    type: 'numeric',
    values: ['0', '-1.5', '123456789012345678901234567890.123456789', "'NaN'", 'null'],
  },
  { name: 'float4', type: 'float4', values: ['1.5', '-0.25', "'NaN'", "'Infinity'", "'-Infinity'", 'null'] },
  {
    name: 'float8',
    type: 'float8',
    values: ['3.141592653589793', '1e300', "'NaN'", "'Infinity'", "'-Infinity'", 'null'],
  },
  { name: 'bool', type: 'bool', values: ['true', 'false', 'null'] },
  {
    name: 'text',
    type: 'text',
    values: [
      "''",
      "'plain'",
      "'unicode: héllo wörld 日本語 🐘'",
      "'quotes '' and \\\\ backslash'",
      "'line\nbreak\ttab'",
      'null',
    ],
  },
  { name: 'varchar', type: 'varchar(20)', values: ["'short'", 'null'] },
  { name: 'uuid', type: 'uuid', values: ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", 'null'] },
  { name: 'json', type: 'json', values: [`'{"a":1,"b":[true,null,"x"]}'`, `'[1,2]'`, `'"str"'`, 'null'] },
  { name: 'jsonb', type: 'jsonb', values: [`'{"nested":{"k":"v"},"n":1.5}'`, `'null'`, 'null'] },
  { name: 'date', type: 'date', values: ["'2024-02-29'", "'1999-12-31'", 'null'] },
  { name: 'date infinity', type: 'date', values: ["'infinity'", "'-infinity'"] },
  { name: 'time', type: 'time', values: ["'13:45:30.123456'", "'00:00:00'", 'null'] },
  { name: 'timetz', type: 'timetz', values: ["'13:45:30+02'", 'null'] },
  { name: 'timestamp', type: 'timestamp', values: ["'2024-05-01 10:20:30.123456'", "'1970-01-01 00:00:00'", 'null'] },
  {
    name: 'timestamptz',
    type: 'timestamptz',
    values: ["'2024-05-01 10:20:30.123+00'", "'2024-05-01 12:00:00+05:30'", 'null'],
  },
  { name: 'interval', type: 'interval', values: ["'1 year 2 months 3 days 04:05:06.789'", "'-1 day'", 'null'] },
  { name: 'bytea', type: 'bytea', values: ["'\\xdeadbeef'", "''", 'null'] },
  { name: 'enum', type: ENUM, values: ["'happy'", 'null'] },
  { name: 'domain', type: DOMAIN, values: ['42', 'null'] },
  { name: 'int4[]', type: 'int4[]', values: ["'{1,NULL,3}'", "'{}'", 'null'] },
  { name: 'int4[][]', type: 'int4[]', values: ["'{{1,2},{3,NULL}}'"] },
  { name: 'text[]', type: 'text[]', values: [`'{"a b","c,d",NULL,"\\"q\\""}'`, 'null'] },
  { name: 'int8[]', type: 'int8[]', values: ["'{9223372036854775807,NULL}'"] },
  { name: 'bool[]', type: 'bool[]', values: ["'{t,f,NULL}'"] },
  { name: 'float8[]', type: 'float8[]', values: ["'{1.5,NaN,Infinity}'"] },
  { name: 'numeric[]', type: 'numeric[]', values: ["'{1.5,NULL}'"] },
  { name: 'uuid[]', type: 'uuid[]', values: ["'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'"] },
  { name: 'jsonb[]', type: 'jsonb[]', values: [`ARRAY['{"a":1}'::jsonb, NULL]`] },
  { name: 'date[]', type: 'date[]', values: ["'{2024-01-01,NULL}'"] },
  { name: 'timestamptz[]', type: 'timestamptz[]', values: ["'{2024-01-01 00:00:00+00}'"] },
];

/** One SELECT per type case: every value as a row, in order. */
export function typeQuery(c: TypeCase): string {
  return `select v from (values ${c.values.map((v, i) => `(${i}, (${v})::${c.type})`).join(', ')}) as t(i, v) order by i`;
}

/** Errors every backend must report with the same SQLSTATE. The table is created by the suite. */
export function errorCases(table: string): Array<{ name: string; sqlstate: string; sql: string }> {
  return [
    {
      name: 'unique violation',
      sqlstate: '23505',
      sql: `insert into ${table}_child (id, parent_id, label) values (1, 1, 'dup')`,
    },
    {
      name: 'foreign key violation',
      sqlstate: '23503',
      sql: `insert into ${table}_child (id, parent_id, label) values (99, 12345, 'x')`,
    },
    {
      name: 'not-null violation',
      sqlstate: '23502',
      sql: `insert into ${table}_child (id, parent_id, label) values (98, 1, null)`,
    },
    { name: 'syntax error', sqlstate: '42601', sql: 'selec 1' },
    { name: 'division by zero', sqlstate: '22012', sql: 'select 1/0' },
    { name: 'undefined table', sqlstate: '42P01', sql: 'select * from no_such_table_here' },
  ];
}
