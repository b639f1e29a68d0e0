// How a driver that is not installed is reported. The errors are the runtime's own: a real import
// of a package that does not exist. (The consumer tests install anypg from its tarball without the
// drivers and check the whole path: the bundle builds, the first query fails with this error, and
// the circuit breaker stays closed.)
import { describe, expect, it } from 'vitest';
import { driverLoadError, isMissingPackage } from '../src/backends/optional-driver.js';
import { ConfigurationError } from '../src/errors.js';

const MISSING = 'anypg-test-no-such-package';

async function importError(name: string): Promise<unknown> {
  return import(name).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('a driver that is not installed', () => {
  it("is recognised from Node's own error, and only for the package asked about", async () => {
    const err = await importError(MISSING);
    expect(isMissingPackage(err, MISSING)).toBe(true);
    // Not when the missing module is another one (a dependency of an installed driver, say).
    expect(isMissingPackage(err, 'anypg-test-no-such')).toBe(false);
    expect(isMissingPackage(new Error('boom'), MISSING)).toBe(false);
  });

  it('becomes a ConfigurationError naming the package and the install command, not retryable', async () => {
    const cause = await importError(MISSING);
    const err = driverLoadError(MISSING, 'pg', cause);
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(err.code).toBe('CONFIGURATION');
    expect(err.retryable).toBe(false);
    expect(err.option).toBe('backend');
    expect(err.message).toContain(`needs the package ${MISSING}, which is not installed: npm install ${MISSING}`);
    expect(err.cause).toBe(cause);
  });

  it('says "could not load" when the package is there but failed to load', () => {
    const err = driverLoadError('pg', 'pg', new SyntaxError('Unexpected token'));
    expect(err.message).toContain('could not load the package pg');
    expect(err.retryable).toBe(false);
  });
});
