// JSON that keeps a number's digits both ways: a longValue of 9007199254740993 must reach
// PostgreSQL as written, and an int8 result must leave as PostgreSQL printed it (the SDK then parses
// it into a JavaScript number, losing digits exactly as it does with the real service).

/** A number from a request body, with its source text. */
export class JsonNumber {
  constructor(readonly source: string) {}
  valueOf(): number {
    return Number(this.source);
  }
}

type Reviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;

/** JSON.parse, turning every number into a JsonNumber (Node 22+ passes the source text to revivers). */
export function parseWithNumbers(text: string): unknown {
  const reviver: Reviver = (_key, value, context) =>
    typeof value === 'number' ? new JsonNumber(context?.source ?? String(value)) : value;
  return JSON.parse(text, reviver as (this: unknown, key: string, value: unknown) => unknown);
}

/** Plain JS value of something parsed by parseWithNumbers (numbers back to numbers). */
export function plain(value: unknown): unknown {
  if (value instanceof JsonNumber) return value.valueOf();
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

const rawJSON = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;

/** A number written into JSON.stringify output exactly as given (`text` must be a JSON number). */
export function rawJson(text: string): unknown {
  return rawJSON ? rawJSON(text) : Number(text);
}
