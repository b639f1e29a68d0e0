// anypg's Node entry (AWS Lambda, Node servers, Bun, Deno). Importing it reads no environment and
// opens no connection; each backend loads its driver (pg, the Neon driver, the AWS SDK) on first use.
export { createDb } from './create-db.js';
export * from './exports.js';
