/** @capsule/agent — the host agent: control plane (keys, CGA, registration, neighbors, REST, resolver) and data plane (TUN). */

/** Keys, self-signed certificate and CGA at start-up (seed: RSA and CGA Management), and their store port. */
export {
  createMemoryIdentityStore,
  ensureCga,
  ensureHostKeys,
  type HostCga,
  type HostKeys,
  type IdentityEvent,
  type IdentityStore,
  type PersistedIdentity,
} from './host-identity';
