// The part of workerd's `cloudflare:workers` module the tests use. Declared here rather than through
// @cloudflare/workers-types, whose globals clash with Node's in the repo-wide typecheck.
declare module 'cloudflare:workers' {
  export const env: Record<string, unknown>;
  export const exports: {
    default: { fetch(input: Request | string | URL, init?: RequestInit): Promise<Response> };
  };
}
