// Errors of the local stand-ins: a stable code and a message that says what to do.
export type LocalErrorCode = 'BINARY_MISSING' | 'PORT_IN_USE' | 'START_FAILED' | 'INITDB_FAILED' | 'BAD_OPTION';

export class LocalError extends Error {
  override name = 'LocalError';
  constructor(
    readonly code: LocalErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
