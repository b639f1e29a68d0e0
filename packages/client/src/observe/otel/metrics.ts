// Metrics under the semantic conventions' names (database client and connection pool), plus
// anypg's own counters. Pool figures are observed from the transport's $stats() when the SDK
// collects, so the query path pays nothing for them; durations are recorded as they happen.
import type { PoolStats, Transport } from '../../transport/contract.js';
import type { Attributes, OtelHistogram, OtelMeter, OtelObservable, OtelObservableResult } from './api.js';

/** The semantic conventions' advice for db.client.operation.duration (seconds). */
const OPERATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];
/** The same advice for the pool's wait and create times. */
const POOL_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

export interface Instruments {
  operationDuration: OtelHistogram;
  waitTime: OtelHistogram;
  createTime: OtelHistogram;
  connectionCount: OtelObservable;
  connectionMax: OtelObservable;
  pendingRequests: OtelObservable;
  timeouts: OtelObservable;
  opened: OtelObservable;
  staleReplaced: OtelObservable;
  retries: OtelObservable;
  outcomeUnknown: OtelObservable;
  circuitState: OtelObservable;
}

// One set per meter: a Worker builds a client per request, and creating instruments each time
// would cost the SDK a lookup per instrument per request.
const byMeter = new WeakMap<OtelMeter, Instruments>();

export function instrumentsOf(meter: OtelMeter): Instruments {
  let i = byMeter.get(meter);
  if (i) return i;
  i = {
    operationDuration: meter.createHistogram('db.client.operation.duration', {
      description: 'Duration of database client operations.',
      unit: 's',
      advice: { explicitBucketBoundaries: OPERATION_BUCKETS },
    }),
    waitTime: meter.createHistogram('db.client.connection.wait_time', {
      description: 'The time it took to obtain an open connection from the pool.',
      unit: 's',
      advice: { explicitBucketBoundaries: POOL_BUCKETS },
    }),
    createTime: meter.createHistogram('db.client.connection.create_time', {
      description: 'The time it took to create a new connection.',
      unit: 's',
      advice: { explicitBucketBoundaries: POOL_BUCKETS },
    }),
    connectionCount: meter.createObservableUpDownCounter('db.client.connection.count', {
      description: 'The number of connections that are currently in the state described by the state attribute.',
      unit: '{connection}',
    }),
    connectionMax: meter.createObservableUpDownCounter('db.client.connection.max', {
      description: 'The maximum number of open connections allowed.',
      unit: '{connection}',
    }),
    pendingRequests: meter.createObservableUpDownCounter('db.client.connection.pending_requests', {
      description: 'The number of current pending requests for an open connection.',
      unit: '{request}',
    }),
    timeouts: meter.createObservableCounter('db.client.connection.timeouts', {
      description: 'The number of connection timeouts that have occurred trying to obtain a connection from the pool.',
      unit: '{timeout}',
    }),
    opened: meter.createObservableCounter('anypg.client.connections.opened', {
      description: 'Connections (or sessions) opened since the client was created.',
      unit: '{connection}',
    }),
    staleReplaced: meter.createObservableCounter('anypg.client.connections.stale_replaced', {
      description: 'Idle connections found dead or too old at checkout (after a Lambda freeze, say) and replaced.',
      unit: '{connection}',
    }),
    retries: meter.createObservableCounter('anypg.client.retries', {
      description: 'Statements or calls sent again because that was safe (never a write that may have run).',
      unit: '{retry}',
    }),
    outcomeUnknown: meter.createObservableCounter('anypg.client.outcome_unknown', {
      description: 'Statements that failed with OUTCOME_UNKNOWN: they may have taken effect and were not replayed.',
      unit: '{statement}',
    }),
    circuitState: meter.createObservableUpDownCounter('anypg.client.circuit.state', {
      description: 'The circuit breaker: 1 for the state it is in (anypg.circuit.state), 0 for the others.',
      unit: '{state}',
    }),
  };
  byMeter.set(meter, i);
  return i;
}

const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;

/**
 * Observes the pool and counters of one client until `stop()` ($close). `pool` says whether the
 * client has a connection pool (neon-http has none: no db.client.connection.* figures then).
 */
export function observePool(
  meter: OtelMeter,
  i: Instruments,
  transport: Transport,
  attributes: Attributes,
  pool: boolean,
): () => void {
  const idle = { ...attributes, 'db.client.connection.state': 'idle' };
  const used = { ...attributes, 'db.client.connection.state': 'used' };
  const circuit = CIRCUIT_STATES.map((s) => ({ ...attributes, 'anypg.circuit.state': s }));
  const observables = [i.opened, i.staleReplaced, i.retries, i.outcomeUnknown, i.circuitState];
  if (pool) observables.push(i.connectionCount, i.connectionMax, i.pendingRequests, i.timeouts);
  const callback = (r: OtelObservableResult) => {
    let s: PoolStats;
    try {
      s = transport.stats();
    } catch {
      return;
    }
    if (pool) {
      r.observe(i.connectionCount, s.idle, idle);
      r.observe(i.connectionCount, Math.max(0, s.total - s.idle), used);
      r.observe(i.connectionMax, transport.capabilities.maxConnections, attributes);
      r.observe(i.pendingRequests, s.waiting, attributes);
      r.observe(i.timeouts, s.acquireTimeouts, attributes);
    }
    r.observe(i.opened, s.opened, attributes);
    r.observe(i.staleReplaced, s.staleReplaced, attributes);
    r.observe(i.retries, s.retries, attributes);
    r.observe(i.outcomeUnknown, s.outcomeUnknown, attributes);
    CIRCUIT_STATES.forEach((state, k) => {
      r.observe(i.circuitState, s.circuit === state ? 1 : 0, circuit[k]);
    });
  };
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}
