// The drivers (pg, the Neon driver, the AWS SDK) are optional peer dependencies: a user installs
// the ones their backend needs. Two rules follow.
//
// 1. A driver that is not installed must never break a bundle. Every driver is loaded with a
//    literal `import('name')` whose rejection is handled on the spot (`.then(ok, onMissing)`):
//    esbuild (and so wrangler) bundles the driver when it is installed and, when it is not, leaves
//    the import in place instead of failing the build ("add .catch() to handle this failure at run
//    time"). Rollup leaves an unresolved bare import external. Keep that shape at every call site.
// 2. A missing driver is a packaging mistake, not an outage: it is a ConfigurationError naming the
//    package and the install command, not retryable, and it never counts as a connection failure
//    (the circuit breaker is left alone, see pg/pool.ts).
import { ConfigurationError } from '../errors.js';

/** Whether an import failure says the package itself is absent (Node, Bun, Deno, workerd, bundlers). */
export function isMissingPackage(err: unknown, pkg: string): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  // The package's own name in quotes (not pg-types when asking about pg).
  if (!["'", '"', '`'].some((q) => message.includes(q + pkg + q))) return false;
  if (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') return true;
  return /cannot find|not found|no such module|could not (?:find|resolve)|failed to resolve|unable to resolve/i.test(
    message,
  );
}

/**
 * The error for a driver that could not be loaded. `backend` names what needed it, `option` the
 * setting that chose that backend.
 */
export function driverLoadError(pkg: string, backend: string, cause: unknown, option = 'backend'): ConfigurationError {
  const install = `npm install ${pkg} (pnpm add ${pkg}, yarn add ${pkg}, bun add ${pkg})`;
  const message = isMissingPackage(cause, pkg)
    ? `The ${backend} backend needs the package ${pkg}, which is not installed: ${install}. anypg loads it only for this backend; when bundling, install it before you bundle so the bundler includes it.`
    : `The ${backend} backend could not load the package ${pkg} (the cause says why). Check that it is installed for this runtime: ${install}.`;
  const error = new ConfigurationError(option, message);
  return Object.defineProperty(error, 'cause', { value: cause, enumerable: false, writable: true, configurable: true });
}
