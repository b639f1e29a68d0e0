// The application_name of each module-scope db of the test Worker (app.ts), so the tests can count
// that db's server sessions from Node and nothing else's.
export const MODULE_APP = {
  hyperdrive: 'anypg_wk_module_hyperdrive',
  'neon-http': 'anypg_wk_module_neon_http',
} as const;
