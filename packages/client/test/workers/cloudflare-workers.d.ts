// The part of workerd's `cloudflare:workers` module the workerd tests use (the vitest plugin
// provides the module at run time). Declared here rather than through @cloudflare/workers-types,
// whose globals clash with Node's in the repo-wide typecheck. Kept loose and identical in shape to
// apps/worker-demo's declaration, since ambient module declarations merge across the repository;
// support.ts narrows `env` to this Worker's bindings.
declare module 'cloudflare:workers' {
  export const env: Record<string, unknown>;
  export const exports: {
    default: { fetch(input: Request | string | URL, init?: RequestInit): Promise<Response> };
  };
}
