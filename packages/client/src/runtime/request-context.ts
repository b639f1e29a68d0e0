// Which Cloudflare Workers request is running, for a db that outlives one (created at module scope).
//
// workerd binds every I/O object (a socket, a stream, a WebSocket) to the request that created it:
// another request that touches it gets "Cannot perform I/O on behalf of a different request", and
// when its request ends workerd closes it. So a connection opened by one request must never serve
// another. workerd has no API that names the running request, but an I/O object can tell: a
// *marker* is one end of a `WebSocketPair`, never accepted and never sent on (it does no I/O).
// Reading its `readyState` is synchronous and changes nothing; workerd answers it in the request
// that made the marker and throws in any other, including after that request has ended. At global
// scope no marker can be made at all ("Disallowed operation called within global scope").
//
// Asking is cheap in the marker's own request (about 0.1 us) and dear in another (workerd builds
// an exception: 50-90 us measured here), so callers ask about the most likely marker first.

/** Made in one request; says whether the code running now belongs to that request. */
export interface RequestMarker {
  /** True in the request that made this marker (its handler, its timers, its waitUntil work). */
  owns(): boolean;
}

/** Makes a marker for the running request; throws at global scope (workerd allows no I/O there). */
export type MarkerFactory = () => RequestMarker;

interface WebSocketLike {
  readonly readyState: number;
}

/** The marker factory of this runtime, or undefined where there is no WebSocketPair (not workerd). */
export function requestMarkers(
  g: Record<string, unknown> = globalThis as Record<string, unknown>,
): MarkerFactory | undefined {
  const Pair = g.WebSocketPair as (new () => Record<string, WebSocketLike>) | undefined;
  if (typeof Pair !== 'function') return undefined;
  return () => {
    const socket = Object.values(new Pair())[0]!;
    return {
      owns() {
        try {
          // A getter with no effect: workerd checks the running request before it answers.
          void socket.readyState;
          return true;
        } catch {
          return false;
        }
      },
    };
  };
}

/** workerd's message for I/O (a socket, a marker, a timer) attempted at global scope. */
export function isGlobalScopeError(err: unknown): boolean {
  return /Disallowed operation called within global scope/.test(String((err as { message?: unknown })?.message));
}

/** workerd's message for an I/O object used from a request other than the one that created it. */
export function isForeignRequestError(err: unknown): boolean {
  return /Cannot perform I\/O on behalf of a different request/.test(String((err as { message?: unknown })?.message));
}

export type WaitUntil = (promise: Promise<unknown>) => void;

// The specifier is built at run time so that bundlers for other edge runtimes (Vercel's, Netlify's)
// do not try to resolve a module only workerd has; wrangler leaves `cloudflare:` imports to workerd.
const WORKERS_MODULE = ['cloudflare', 'workers'].join(':');
let waitUntilFn: WaitUntil | null | undefined;

/**
 * workerd's `waitUntil` from `cloudflare:workers` (no `ctx` needed; since 2025-08): it keeps the
 * running request alive after its response until the promise settles. Null where it is missing.
 * The function is cached, never the import's promise: a promise made in one request cannot settle
 * in another once the first has ended.
 */
/** The function once loadWaitUntil() has settled (null: not in this runtime); undefined before. */
export function loadedWaitUntil(): WaitUntil | null | undefined {
  return waitUntilFn;
}

export async function loadWaitUntil(): Promise<WaitUntil | null> {
  if (waitUntilFn !== undefined) return waitUntilFn;
  try {
    const mod = (await import(/* @vite-ignore */ WORKERS_MODULE)) as { waitUntil?: unknown };
    waitUntilFn = typeof mod.waitUntil === 'function' ? (mod.waitUntil as WaitUntil) : null;
  } catch {
    waitUntilFn = null;
  }
  return waitUntilFn;
}
