// The BEGIN statement for drizzle's transaction config, the same on every backend.
import { ConfigurationError } from '../errors.js';
import type { TransactionConfig } from './contract.js';

const ISOLATION_LEVELS = new Set(['read uncommitted', 'read committed', 'repeatable read', 'serializable']);
const ACCESS_MODES = new Set(['read only', 'read write']);

export function beginStatement(config?: TransactionConfig): string {
  if (!config) return 'begin';
  const parts = ['begin'];
  // These go into SQL text: accept only the keywords PostgreSQL knows.
  if (config.isolationLevel) {
    if (!ISOLATION_LEVELS.has(config.isolationLevel)) {
      throw new ConfigurationError(
        'isolationLevel',
        `isolationLevel must be one of ${[...ISOLATION_LEVELS].join(', ')}.`,
      );
    }
    parts.push(`isolation level ${config.isolationLevel}`);
  }
  if (config.accessMode) {
    if (!ACCESS_MODES.has(config.accessMode)) {
      throw new ConfigurationError('accessMode', `accessMode must be 'read only' or 'read write'.`);
    }
    parts.push(config.accessMode);
  }
  if (config.deferrable !== undefined) parts.push(config.deferrable ? 'deferrable' : 'not deferrable');
  return parts.join(' ');
}
