// The two flags every CLI command with an HTTP listener takes, for its BrowserGuard.
import type { BrowserGuardOptions } from './browser-guard.js';

export const GUARD_FLAGS = {
  'allow-origin': { type: 'string', multiple: true },
  'allow-host': { type: 'string', multiple: true },
} as const;

export const GUARD_USAGE = `  --allow-origin  a web page origin that may use it besides loopback pages, repeatable
                  (e.g. --allow-origin https://app.example.test; * for any: only on a trusted network)
  --allow-host    a host name for this machine besides localhost and its addresses, repeatable
                  (requests naming any other host are refused: DNS rebinding)`;

export function guardOptions(values: { 'allow-origin'?: string[]; 'allow-host'?: string[] }): BrowserGuardOptions {
  return {
    ...(values['allow-origin'] && { allowOrigins: values['allow-origin'] }),
    ...(values['allow-host'] && { allowHosts: values['allow-host'] }),
  };
}
