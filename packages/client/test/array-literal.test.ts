// PostgreSQL's array text output to nested element strings (types/array-literal.ts), checked
// against what PostgreSQL itself prints and node-postgres parses.
import { describe, expect, it } from 'vitest';
import { parseArrayLiteral } from '../src/types/array-literal.js';
import { admin } from './support/db.js';

const CASES = [
  `array[]::text[]`,
  `array['a', 'b c', '', 'NULL', null, 'x,y', '{}', 'q"q', 'b\\\\s']::text[]`,
  `array[array['1', ''], array['3', '\\a']]::text[]`,
  `array[[1, 2], [3, null]]::int[]`,
  `'[0:1]={7,8}'::int[]`,
  `array[array[array['deep']]]::text[]`,
];

describe('parseArrayLiteral', () => {
  it('reads what PostgreSQL prints as node-postgres reads it', async () => {
    await admin(async (c) => {
      for (const expr of CASES) {
        const text = (await c.query(`select (${expr})::text as t`)).rows[0].t as string;
        const parsed = (await c.query({ text: `select ${expr} as a`, rowMode: 'array' })).rows[0]![0];
        // node-postgres parses int[] into numbers: compare the texts of the elements.
        const asText = (v: unknown): unknown => (Array.isArray(v) ? v.map(asText) : v === null ? null : String(v));
        expect(parseArrayLiteral(text), expr).toEqual(asText(parsed));
      }
    });
  });

  it('refuses text that is not an array literal', () => {
    expect(() => parseArrayLiteral('nope')).toThrow(/not an array literal/);
    expect(() => parseArrayLiteral('{1,2')).toThrow(/not an array literal/);
  });
});
