/** @capsule/engine — the network microservice engine: verify once, execute per packet, forward. */

/** The counters an engine shows (`Engine.counters()`, keep-alive statistics, /metrics). */
export type { EngineCounters } from './counters';
/** Drop reasons (VM traps keep their numbers), their names and the full list. */
export { DropReason, type DropReasonCode, dropReasonName, dropReasons } from './drop-reason';
/** The engine: the pipeline, its lifecycle and what it shows (flows, links, counters). */
export {
  createEngine,
  defaultEngineOptions,
  type Engine,
  type EngineDeps,
  type EngineOptions,
} from './engine';
/** The 16-bit engine id derived from a host id (last 16 bits of the CGA). */
export { engineIdOfHostId } from './engine-id';
/** An engine daemon assembled: registration, link layer, engine, controller hooks, HTTP port. */
export {
  type EngineIdentity,
  type EngineNode,
  type EngineNodeDeps,
  type EngineNodeFastPath,
  type EngineNodeOptions,
  startEngineNode,
} from './engine-node';
/** Zero-allocation flow table keyed by (source, destination, flow label). */
export { FlowTable } from './flow-table';
/** One live flow as an engine shows it (`Engine.flows()`, /api/v1/flows). */
export type { FlowSnapshot } from './flows';
/** The HTTP port: /metrics, /api/v1/flows, /api/v1/links, /api/v1/status. */
export { createEngineHttpServer, type EngineHttpServer } from './http-api';
/** One link as an engine shows it (`Engine.links()`, /api/v1/links), and a configured link. */
export type { ContractLinkTags, EngineLinkSnapshot, LinkConfig } from './links';
/** The Prometheus text rendering of an engine's counters. */
export { METRICS_FLOW_LIMIT, renderMetrics } from './metrics';
/** Registration with the controller, and revocation commands' serials. */
export {
  type EngineRegistration,
  registerEngine,
  revocationsOfCommand,
  revokedHostsOfCommand,
} from './southbound';
