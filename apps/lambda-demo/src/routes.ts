// The routes the API serves, in API Gateway's notation. template.yaml declares one HttpApi event
// per entry (a test checks they agree), and the handler matches requests against the same list, so
// it also works behind a `$default` route (the local gateway sends everything there).

export const ROUTES = [
  'GET /notes',
  'POST /notes',
  'GET /notes/{id}',
  'PATCH /notes/{id}',
  'DELETE /notes/{id}',
] as const;

export type RouteKey = (typeof ROUTES)[number];

export interface RouteMatch {
  route: RouteKey;
  params: Record<string, string>;
}

const compiled = ROUTES.map((route) => {
  const [method, path] = route.split(' ') as [string, string];
  const names: string[] = [];
  const source = path.replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { route, method, pattern: new RegExp(`^${source}$`), names };
});

/**
 * The route for a method and path, or which methods the path allows (for a 405), or nothing (404).
 * A trailing slash is ignored; path parameters are percent-decoded.
 */
export function matchRoute(method: string, rawPath: string): RouteMatch | { allow: string[] } | undefined {
  const path = rawPath.length > 1 ? rawPath.replace(/\/+$/, '') : rawPath;
  const allow: string[] = [];
  for (const r of compiled) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    if (r.method !== method.toUpperCase()) {
      allow.push(r.method);
      continue;
    }
    const params: Record<string, string> = {};
    r.names.forEach((name, i) => {
      params[name] = safeDecode(m[i + 1] ?? '');
    });
    return { route: r.route, params };
  }
  return allow.length ? { allow } : undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a stray '%': validation reports the value as malformed
  }
}
