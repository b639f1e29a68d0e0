// A circuit breaker for connection attempts.
//
// After `failureThreshold` connection failures in a row, new connection attempts fail at once with
// CircuitOpenError for `cooldownMs` (no waiting on a dead host, no pile-up of callers), then one
// probe is let through: success closes the circuit, failure opens it for another cool-down.
// Time is wall-clock, so a Lambda container frozen through the cool-down probes on its next call.
import { CircuitOpenError } from '../errors.js';

export interface BreakerOptions {
  /** Consecutive connection failures that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long the circuit stays open before a probe. Default 10 s. */
  cooldownMs?: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private lastError: unknown;
  private readonly threshold: number;
  private readonly cooldownMs: number;

  constructor(opts: BreakerOptions = {}) {
    this.threshold = opts.failureThreshold ?? 5;
    this.cooldownMs = opts.cooldownMs ?? 10_000;
  }

  get state(): BreakerState {
    if (this.failures < this.threshold) return 'closed';
    return Date.now() - this.openedAt >= this.cooldownMs ? 'half-open' : 'open';
  }

  /** Throws CircuitOpenError while open; lets one probe through when the cool-down is over. */
  beforeAttempt(): void {
    const state = this.state;
    if (state === 'closed') return;
    if (state === 'half-open' && !this.probing) {
      this.probing = true;
      return;
    }
    const retryAfterMs = Math.max(0, this.cooldownMs - (Date.now() - this.openedAt));
    throw new CircuitOpenError(
      `Not connecting: the last ${this.failures} connection attempts failed, so anypg fails fast for ${Math.ceil(retryAfterMs / 1000)} s more before trying again. Check that the database is reachable; the last failure is the cause.`,
      retryAfterMs,
      this.lastError,
    );
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    this.lastError = undefined;
  }

  failure(err: unknown): void {
    this.failures++;
    this.lastError = err;
    this.probing = false;
    if (this.failures >= this.threshold) this.openedAt = Date.now();
  }
}
