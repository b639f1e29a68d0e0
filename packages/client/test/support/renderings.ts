// How a secret could show: every rendering of an error or object that reaches a log.
import { inspect } from 'node:util';

/** Every way an error or object could show a secret: message, stack, cause chain, JSON, inspect. */
export function everyRendering(value: unknown): string {
  const parts: string[] = [inspect(value, { depth: 10, showHidden: true })];
  try {
    parts.push(JSON.stringify(value) ?? '');
  } catch {
    // circular: inspect covers it
  }
  let e: unknown = value;
  for (let i = 0; e && i < 10; i++) {
    const err = e as { message?: unknown; stack?: unknown; cause?: unknown };
    parts.push(String(err.message ?? ''), String(err.stack ?? ''));
    e = err.cause;
  }
  return parts.join('\n');
}
