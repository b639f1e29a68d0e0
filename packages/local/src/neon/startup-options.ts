// Startup options from a Neon connection string, as Neon's proxy passes them on to the database.
//
// `options` may carry Neon's routing hint (`endpoint=ep-...`, or the older `project=...`) next to
// ordinary `-c name=value` settings: the proxy takes the hint for itself and passes the rest to
// PostgreSQL, which would refuse the hint ("invalid command-line argument"). The local endpoint
// routes everything to one upstream, so it only drops the hint.

// One option word: backslash escapes included (PostgreSQL lets `\ ` put a space in a value).
const WORD = /(?:\\.|\S)+/g;
const ROUTING = /^(?:endpoint|project)=/;

/** `options` without Neon's routing words, or undefined when nothing is left. */
export function withoutNeonRouting(options: string | undefined): string | undefined {
  if (options === undefined) return undefined;
  const words = options.match(WORD) ?? [];
  const kept = words.filter((w) => !ROUTING.test(w));
  return kept.length > 0 ? kept.join(' ') : undefined;
}
