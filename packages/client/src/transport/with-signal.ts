// A view of a transport whose every statement carries the caller's AbortSignal (a deadline).
import type { Statement, Transport } from './contract.js';

export function withSignal(t: Transport, signal: AbortSignal): Transport {
  const add = (s: Statement): Statement => ({ ...s, signal: s.signal ? AbortSignal.any([s.signal, signal]) : signal });
  const view: Transport = {
    info: t.info,
    capabilities: t.capabilities,
    query: (s) => t.query(add(s)),
    transaction: (fn, config) =>
      t.transaction(
        (tx) =>
          fn({
            query: (s) => tx.query(add(s)),
            ...(tx.batch && { batch: (stmts: Statement[]) => tx.batch!(stmts.map(add)) }),
          }),
        config,
        signal,
      ),
    stats: () => t.stats(),
    close: () => t.close(),
  };
  if (t.batch) view.batch = (stmts) => t.batch!(stmts.map(add));
  if (t.client) view.client = () => t.client!();
  return view;
}
