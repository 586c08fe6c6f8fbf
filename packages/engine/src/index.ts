/** @capsule/engine — the network microservice engine: verify once, execute per packet, forward. */

/** Drop reasons (VM traps keep their numbers), their names and the full list. */
export { DropReason, type DropReasonCode, dropReasonName, dropReasons } from './drop-reason';
/** The engine: pipeline, flows, counters, lifecycle. */
export {
  createEngine,
  type Engine,
  type EngineClock,
  type EngineCounters,
  type EngineDeps,
  type EngineLinkSnapshot,
  type EngineLogger,
  type EngineOptions,
  engineDefaults,
  type FlowSnapshot,
} from './engine';
/** The 16-bit engine id derived from a host id (last 16 bits of the CGA). */
export { engineIdOfHostId } from './engine-id';
/** Zero-allocation flow table keyed by (source, destination, flow label). */
export { FlowTable } from './flow-table';
/** The HTTP port: /metrics, /api/v1/flows, /api/v1/links, /api/v1/status. */
export { createEngineHttpServer, type EngineHttpServer } from './http-api';
/** The Prometheus text rendering of an engine's counters. */
export { METRICS_FLOW_LIMIT, renderMetrics } from './metrics';
/** Registration with the controller, and revocation commands' serials. */
export {
  type EngineRegistration,
  registerEngine,
  revocationsOfCommand,
} from './southbound';
