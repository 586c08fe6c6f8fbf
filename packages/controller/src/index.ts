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
/** The error the controller throws outside a request (start-up, its signing key) and its codes. */
export { ControllerError, type ControllerErrorCode } from './errors';
/** Dijkstra over links: shortest-path tree and path extraction. */
export { pathTo, shortestPaths, type TopologyLink } from './paths';
/** A fetch that talks HTTPS only to the controller certificate with a given SHA-256 pin. */
export { createPinnedFetch } from './pinned-fetch';
/** The controller's ports (clock, identity, program verifier). */
export type { ControllerIdentity, ProgramVerifier } from './ports';
/** The permission table (resource × action → roles) and the resources and actions it names. */
export { type Action, permissions, type Resource } from './rbac';
/** The signing key at rest: the key-store port, an in-memory one, and the settings rows it checks. */
/** The key ring of rotation: its records, the ring a replica works with, the rotation's timing. */
export {
  createMemorySigningKeyStore,
  LEGACY_PRIVATE_KEY_SETTING,
  PUBLIC_KEY_SETTING,
  SIGNING_KEYS_SETTING,
  type SigningKeyRecord,
  type SigningKeyRing,
  type SigningKeyRotationOptions,
  type SigningKeyStore,
} from './signing-key';
/** `capsule rotate signing-key` as a function (the API route calls it): list the ring, rotate. */
export { listSigningKeys, rotateSigningKey } from './signing-key-rotation';
/** Opens a store (SQLite or PostgreSQL) and runs the migrations; the default PostgreSQL pool size. */
export {
  defaultPostgresPoolSize,
  isPostgresUrl,
  openStore,
  type Store,
  type StoreOptions,
} from './store/open-store';
