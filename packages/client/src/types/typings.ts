// Parameter typings (`Statement.typings`): drizzle's per-parameter hint from the column a
// parameter is bound to ('json', 'decimal', 'time', 'timestamp', 'date', 'uuid', 'none'), and, from
// anypg's Data API dialect (drizzle/casting-dialect.ts), `cast:<type>` for a type no hint covers,
// which the Data API transport sends as `cast(:n as <type>)`.

export const CAST_TYPING = 'cast:';

/** The type a `cast:` typing names, if it is one. */
export function castTypeOf(typing: string | undefined): string | undefined {
  return typing?.startsWith(CAST_TYPING) ? typing.slice(CAST_TYPING.length) : undefined;
}
