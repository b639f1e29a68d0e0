// Vercel Functions with Fluid compute: one instance serves many requests at once and is suspended
// when none is running. Timers do not run while it is suspended, so a pool's idle timer cannot
// close an idle connection, which then stays open on the database for as long as the instance
// sleeps (Vercel's "connection leak"; their fix for pg-pool is @vercel/functions'
// attachDatabasePool). anypg does the same for its own pool: every connection that goes idle is
// handed, as a promise that settles once it is reused or closed, to the running invocation's
// waitUntil, so the instance stays up until the idle timer (5 s by default there) has closed it.
// After a suspension anyway, the pool judges idle connections by wall clock at checkout.

/** The invocation's waitUntil, from the request context Vercel's runtime publishes (what @vercel/functions reads). */
export function vercelWaitUntil(
  g: Record<PropertyKey, unknown> = globalThis as Record<PropertyKey, unknown>,
): ((promise: Promise<unknown>) => void) | undefined {
  const provider = g[Symbol.for('@vercel/request-context')] as { get?: () => unknown } | undefined;
  const context = provider?.get?.() as { waitUntil?: (promise: Promise<unknown>) => void } | undefined;
  const waitUntil = context?.waitUntil;
  return typeof waitUntil === 'function' ? (promise) => waitUntil.call(context, promise) : undefined;
}

/** Keeps the running invocation alive until `left` settles (a no-op outside an invocation). */
export function keepInvocationAlive(left: Promise<void>): void {
  vercelWaitUntil()?.(left);
}
