// The part of workerd's `cloudflare:workers` module the workerd tests use (the vitest plugin
// provides the module at run time; @cloudflare/workers-types would clash with the DOM and Node
// globals the rest of the repository is checked against).
declare module 'cloudflare:workers' {
  interface Fetcher {
    fetch(input: string | Request, init?: RequestInit): Promise<Response>;
  }
  export const env: import('./app.js').TestEnv & { ADMIN: Fetcher };
  export const exports: { default: Fetcher };
}
