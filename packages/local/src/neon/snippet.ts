// The `neonConfig` settings that point the unmodified Neon driver at a local endpoint, as values
// and as the lines a user pastes. Each was checked against @neondatabase/serverless 1.2.0:
// - fetchEndpoint: the only way to redirect `neon()` (a per-call option is ignored); global only.
// - wsProxy: a string gets `?address=host:port` appended; no scheme in it.
// - useSecureWebSocket = false: ws:// instead of wss:// (the local endpoint has no TLS).
// - pipelineConnect: the default `"password"` sends the cleartext password before the server asks,
//   which only works when pg_hba gives the role `password` auth; `false` works with any method.
// forceDisablePgSSL (true) and pipelineTLS (false) are already the driver's defaults.

export interface NeonConfigSettings {
  fetchEndpoint: string;
  wsProxy: string;
  useSecureWebSocket: false;
  pipelineConnect: 'password' | false;
}

/** The lines to paste into application code (setup, before the first query). */
export function neonConfigSnippet(settings: NeonConfigSettings): string {
  const lines = [
    `import { neonConfig } from '@neondatabase/serverless';`,
    `neonConfig.fetchEndpoint = ${quote(settings.fetchEndpoint)};`,
    `neonConfig.wsProxy = ${quote(settings.wsProxy)};`,
    'neonConfig.useSecureWebSocket = false;',
  ];
  if (settings.pipelineConnect === false) {
    lines.push('neonConfig.pipelineConnect = false; // the server asks for SCRAM/md5, not a cleartext password');
  }
  lines.push(`// Node < 22 (no global WebSocket): import ws from 'ws'; neonConfig.webSocketConstructor = ws;`);
  return lines.join('\n');
}

function quote(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}
