// The Neon serverless driver, loaded on first use, with anypg's settings applied per client.
//
// The driver keeps some settings only globally (neonConfig.fetchEndpoint, fetchFunction). anypg
// never changes the user's global settings: it wraps neonConfig.fetchFunction once with a router
// that sends requests marked by an anypg client to that client's endpoint, and passes every other
// request to whatever was configured before, unchanged. WebSocket settings are per Client already.

import { isLocalHost } from '../../config/connection-string.js';
import type { NeonOptions } from '../../config/options.js';
import { ConfigurationError } from '../../errors.js';
import { driverLoadError } from '../optional-driver.js';

export type NeonModule = typeof import('@neondatabase/serverless');

let loading: Promise<NeonModule> | undefined;
/** `backend` names the backend that needs the driver, for the error when it is not installed. */
export function loadNeon(backend: 'neon-http' | 'neon-ws'): Promise<NeonModule> {
  // The rejection handler right on import() keeps a bundle building without the driver
  // (optional-driver.ts); a failed load is not cached, so installing it needs no restart in dev.
  loading ??= import('@neondatabase/serverless').then(
    (mod) => mod,
    (err: unknown) => {
      loading = undefined;
      throw driverLoadError('@neondatabase/serverless', backend, err);
    },
  );
  return loading;
}

/** A property of fetch's init object that marks a request as anypg's; removed before sending. */
const ROUTE = '__anypgRoute';

export interface Route {
  endpoint: string | undefined;
  fetch: typeof fetch | undefined;
}

type FetchLike = (url: string, init?: Record<string, unknown>) => Promise<Response>;
let router: FetchLike | undefined;

/** Makes sure our router is the driver's fetchFunction (re-wrapping if the user replaced it). */
export function installRouter(neon: NeonModule): void {
  const config = neon.neonConfig as unknown as { fetchFunction: FetchLike | undefined };
  if (router && config.fetchFunction === router) return;
  const previous = config.fetchFunction;
  router = (url, init) => {
    const route = init?.[ROUTE] as Route | undefined;
    if (!route) return (previous ?? (fetch as unknown as FetchLike))(url, init);
    const { [ROUTE]: _, ...rest } = init!;
    const send = (route.fetch ?? previous ?? fetch) as unknown as FetchLike;
    return send(route.endpoint ?? url, rest);
  };
  config.fetchFunction = router;
}

export function routeOptions(route: Route, signal: AbortSignal | undefined): Record<string, unknown> {
  return signal ? { [ROUTE]: route, signal } : { [ROUTE]: route };
}

/** Validates NeonOptions: no plaintext to a remote endpoint. */
export function checkNeonOptions(opts: NeonOptions, allowUnencryptedRemote: boolean): void {
  if (opts.fetchEndpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(opts.fetchEndpoint);
    } catch {
      throw new ConfigurationError(
        'neon.fetchEndpoint',
        'neon.fetchEndpoint must be an http(s) URL such as https://api.example.com/sql.',
      );
    }
    if (u.protocol === 'http:' && !isLocalHost(u.hostname) && !allowUnencryptedRemote) {
      throw new ConfigurationError(
        'neon.fetchEndpoint',
        `neon.fetchEndpoint uses plain http to ${u.hostname}, which is not a local host: the password would travel unencrypted. Use https, or ssl: { allowUnencryptedRemote: true }.`,
      );
    }
  }
  if (opts.useSecureWebSocket === false && opts.wsProxy !== undefined) {
    const host = opts.wsProxy.replace(/^\[?([^\]/]*?)\]?(:\d+)?(\/.*)?$/, '$1');
    if (!isLocalHost(host) && !allowUnencryptedRemote) {
      throw new ConfigurationError(
        'neon.useSecureWebSocket',
        `neon.useSecureWebSocket is false for ${host}, which is not a local host. Keep it true (wss), or set ssl: { allowUnencryptedRemote: true }.`,
      );
    }
  }
}

/** A Neon WebSocket Client class with this client's settings (never the driver's globals). */
export function configuredClientClass(neon: NeonModule, opts: NeonOptions): NeonModule['Client'] {
  const settings: Record<string, unknown> = {};
  if (opts.wsProxy !== undefined) settings.wsProxy = opts.wsProxy;
  if (opts.useSecureWebSocket !== undefined) settings.useSecureWebSocket = opts.useSecureWebSocket;
  if (opts.pipelineConnect !== undefined) settings.pipelineConnect = opts.pipelineConnect;
  if (opts.webSocketConstructor !== undefined) settings.webSocketConstructor = opts.webSocketConstructor;
  return class AnypgNeonClient extends neon.Client {
    constructor(...args: ConstructorParameters<NeonModule['Client']>) {
      super(...args);
      Object.assign(this.neonConfig, settings);
    }
  };
}
