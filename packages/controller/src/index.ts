/** @capsule/controller — identity, registry, policy, signing, paths and the southbound protocol. */
export {
  type Controller,
  type ControllerDeps,
  type ControllerOptions,
  /** Creates a controller (store, bootstrap, northbound and southbound listeners). */
  createController,
  /** The defaults of every controller option. */
  defaultControllerOptions,
  type ListenAddress,
} from './controller';
/** Dijkstra over links: shortest-path tree and path extraction. */
export { pathTo, shortestPaths, type TopologyLink } from './paths';
/** The controller's ports (clock, identity, program verifier). */
export type { ControllerIdentity, ProgramVerifier } from './ports';
/** The permission table (resource × action → roles) and the resources and actions it names. */
export { type Action, permissions, type Resource } from './rbac';
/** Opens a store (SQLite or PostgreSQL) and runs the migrations; the default PostgreSQL pool size. */
export {
  defaultPostgresPoolSize,
  isPostgresUrl,
  openStore,
  type Store,
  type StoreOptions,
} from './store/open-store';
