// Every accepted difference between a backend and the oracle, with its reason. The conformance
// suite consults only this list: a difference not written here fails the suite.

export interface AcceptedDifference {
  backend: string;
  /** A type case name (corpus.ts) or a suite case name. */
  case: string;
  reason: string;
}

export const ACCEPTED_DIFFERENCES: AcceptedDifference[] = [];

export function accepted(backend: string, name: string): AcceptedDifference | undefined {
  return ACCEPTED_DIFFERENCES.find((d) => d.backend === backend && d.case === name);
}
