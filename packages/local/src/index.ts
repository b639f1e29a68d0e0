// @anypg/local: local stand-ins for the managed pieces anypg talks to.
export * from './data-api/server.js';
export { LocalError, type LocalErrorCode } from './errors.js';
export { type LocalGateway, type StartGatewayOptions, startGateway } from './lambda/gateway.js';
export { type HttpApiEventV2, toHttpApiEvent } from './lambda/http-api-event.js';
export {
  type InvokeOptions,
  type InvokeResult,
  type LambdaError,
  type LocalLambda,
  type StartLambdaOptions,
  startLambda,
} from './lambda/runner.js';
export * from './neon/server.js';
export { type LocalPgBouncer, type PoolMode, type StartPgBouncerOptions, startPgBouncer } from './pgbouncer/server.js';
export { assertPortFree, freePort } from './ports.js';
export { findBinaries, type PostgresBinaries } from './postgres/binaries.js';
export { type AuthMethod, type LocalPostgres, type StartPostgresOptions, startPostgres } from './postgres/server.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
