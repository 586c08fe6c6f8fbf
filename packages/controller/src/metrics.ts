/** The controller's Prometheus metrics (one registry per controller: no global state). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The metrics a controller keeps. */
export interface Metrics {
  registry: Registry;
  requests: Counter<'listener' | 'method' | 'route' | 'status'>;
  requestSeconds: Histogram<'listener' | 'method' | 'route'>;
  registrations: Counter<'type'>;
  pushConnections: Gauge;
  pushEvents: Counter<'kind'>;
  pathComputations: Counter;
  /** Time of one recomputation after a change: `paths` (every endpoint's peers) or `role-routes`. */
  recomputeSeconds: Histogram<'kind'>;
  /** Rows the retention sweeps deleted, by table (retention.ts). */
  retentionDeletedRows: Counter<'table'>;
}

/** Creates a registry with the controller's metrics and the process defaults. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  // The event-loop lag is sampled every 100 ms, not prom-client's default 10: its timer is what
  // woke an idle controller 100 times a second (strace: epoll_pwait timing out every 10 ms). A
  // 15 s scrape still sees 150 samples.
  collectDefaultMetrics({
    register: registry,
    prefix: 'capsule_controller_',
    eventLoopMonitoringPrecision: 100,
  });
  // prom-client's totals of the active handles, requests and resources are gauges named *_total,
  // which Prometheus reserves for counters (`promtool check metrics` refuses them). The same
  // gauges without the suffix, by type, stay: their sum is the total.
  for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total'])
    registry.removeSingleMetric(`capsule_controller_nodejs_${name}`);
  return {
    registry,
    requests: new Counter({
      name: 'capsule_controller_http_requests_total',
      help: 'HTTP requests answered, by listener, method, route and status',
      labelNames: ['listener', 'method', 'route', 'status'],
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'capsule_controller_http_request_seconds',
      help: 'HTTP request duration in seconds',
      labelNames: ['listener', 'method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    registrations: new Counter({
      name: 'capsule_controller_node_registrations_total',
      help: 'Nodes registered through the southbound API',
      labelNames: ['type'],
      registers: [registry],
    }),
    pushConnections: new Gauge({
      name: 'capsule_controller_push_connections',
      help: 'Open push channels (server-sent events) to nodes on this replica',
      registers: [registry],
    }),
    pushEvents: new Counter({
      name: 'capsule_controller_push_events_total',
      help: 'Events written to push channels',
      labelNames: ['kind'],
      registers: [registry],
    }),
    pathComputations: new Counter({
      name: 'capsule_controller_path_computations_total',
      help: 'Shortest-path computations (endpoint registration and topology changes)',
      registers: [registry],
    }),
    recomputeSeconds: new Histogram({
      name: 'capsule_controller_recompute_seconds',
      help: 'Recomputation after a change, by kind (paths: every endpoint; role-routes: every engine), in seconds',
      labelNames: ['kind'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    retentionDeletedRows: new Counter({
      name: 'capsule_controller_retention_deleted_rows_total',
      help: 'Rows the retention sweeps deleted (expired nonces and authorizations, delivered commands, old audit entries), by table',
      labelNames: ['table'],
      registers: [registry],
    }),
  };
}
