// @anypg/local: local stand-ins for the managed pieces anypg talks to.
export { LocalError, type LocalErrorCode } from './errors.js';
export * from './neon/server.js';
export { assertPortFree, freePort } from './ports.js';
export { findBinaries, type PostgresBinaries } from './postgres/binaries.js';
export { type AuthMethod, type LocalPostgres, type StartPostgresOptions, startPostgres } from './postgres/server.js';
