// A batch as the statements of one transaction, one after another: all or nothing, in order.
// For the transports and paths where one unit cannot carry the batch (the Data API, a text that
// needs the simple protocol, an inner transport without batch()).
import type { Trace } from '../observe/trace.js';
import type { QueryResult, Statement, Transport } from './contract.js';

export function batchInTransaction(
  transport: Pick<Transport, 'transaction'>,
  stmts: Statement[],
  signal?: AbortSignal,
  trace?: Trace,
): Promise<QueryResult[]> {
  return transport.transaction(
    async (tx) => {
      const results: QueryResult[] = [];
      for (const s of stmts) results.push(await tx.query(s));
      return results;
    },
    undefined,
    signal,
    trace,
  );
}
