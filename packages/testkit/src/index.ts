// Test helpers for suites that must hold on a busy machine (CI may share its two cores with other
// work). The rule they serve: a test never sleeps to let something happen; it waits for the thing
// itself, with a deadline that only bounds a failure and grows with the machine's load.
export { budget, loadFactor } from './budget.ts';
export { type Deferred, deferred } from './deferred.ts';
export { ensureFreshBuild, isBuildStale } from './fresh-build.ts';
export { until, waitForValue } from './until.ts';
