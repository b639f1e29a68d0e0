// The `neonConfig` settings that point the unmodified Neon driver at a local endpoint, as values
// and as the lines a user pastes. Each was checked against @neondatabase/serverless 1.2.0:
// - fetchEndpoint: the only way to redirect `neon()` (a per-call option is ignored); global only.
// - wsProxy: a string gets `?address=host:port` appended; no scheme in it.
// - useSecureWebSocket = false: ws:// instead of wss:// (the local endpoint has no TLS).
// - pipelineConnect: the driver's default `"password"` sends the cleartext password before it is
//   asked for; the endpoint always asks for a cleartext password (as Neon's proxy does), so the
//   default works with any upstream, and the snippet only mentions it when it was turned off.
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
    lines.push('neonConfig.pipelineConnect = false; // wait for the password request (one round trip more)');
  }
  lines.push(`// Node < 22 (no global WebSocket): import ws from 'ws'; neonConfig.webSocketConstructor = ws;`);
  return lines.join('\n');
}

function quote(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}
