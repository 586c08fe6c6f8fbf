/** @capsule/agent — the host agent: control plane (keys, CGA, registration, neighbors, REST, resolver) and data plane (TUN). */

/** In/Out ACL rules: `<allow|deny> [tcp|udp|icmp|any] [port N[-M]] [peer ADDR]`. */
export { type AclRule, type AclRules, compileAcl, isAllowed, parseAclRule } from './acl';
/** The agent: createAgent(options, deps) with start()/stop(), its options and defaults, and its ports. */
export {
  type Agent,
  type AgentAppPort,
  type AgentDeps,
  type AgentNodeFastPath,
  type AgentOptions,
  createAgent,
  defaultAgentOptions,
  renewAtFraction,
} from './agent';
/** The configuration file's schema, its validation, and its translation into AgentOptions. */
export {
  AgentConfig,
  /** The problems of agent.yaml's controller key beyond its schema (url or urls, https, duplicates). */
  agentControllerProblems,
  /** Whether agent.yaml (`fastPath`) or CAPSULE_AGENT_FAST_PATH asks for the native fast path. */
  agentFastPathWanted,
  agentOptionsFromConfig,
  controllerOf,
  defaultAgentFastPath,
  defaultUnderlaySocketBufferBytes,
  parseAgentConfig,
  type ResolverInstallMode,
  resolverInstallMode,
  underlayListen,
  underlaySocketBuffers,
  underlayTransportKind,
} from './config';
/** The controller session: login, registration, keep-alive, push, links, endpoints. */
export { ControlPlane, decodeEndpoint, decodeGroupKeys, decodePeers } from './control-plane';
/** The data plane state (buffers, counters) and its ports. */
export { DataPlane, type DataPlaneDeps, type DataPlaneDrops, type DataPlaneOptions } from './data-plane';
/** Egress: policy → encryption → capsule header → link layer. */
export { EgressResult, processEgress } from './egress';
/** TAP mode: Ethernet headers, ARP and NS answered for the kernel. */
export { AGENT_MAC, TapSegment } from './ethernet';
/** Endpoints, flows and their lookups; role addresses and the group keys of role-addressed flows. */
export {
  activeGroupKeys,
  connectionLabel,
  type EndpointGroupKeys,
  type EndpointSpec,
  type EndpointStatistics,
  type Flow,
  FlowTable,
  type GroupKeyTimes,
  type GroupMembership,
  nextGroupKeys,
  noGroupKeys,
  openKeyOf,
  type PeerSpec,
  roleAddress,
} from './flows';
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
/** Ingress: policy → decryption → original header restored → checksums → app. */
export { IngressResult, processIngress } from './ingress';
/** The resolver (DNS over UDP): `<role>.<contract>.<domain>.capsule` names, other names forwarded upstream. */
export {
  answerDnsQuery,
  type DnsQueryVerdict,
  defaultResolverOptions,
  judgeDnsQuery,
  type Resolver,
  type ResolverName,
  type ResolverOptions,
  type ResolverStatistics,
  ROLE_ADDRESS_LABEL,
  resolverNamesOf,
  startResolver,
} from './resolver';
/** The local REST API (fastify) and its access control: a Unix socket, TCP with a bearer token. */
export {
  type AgentApi,
  createRestApi,
  defaultRestApiOptions,
  EndpointRegistration,
  groupIdOf,
  maxSocketPathBytes,
  type RestApiOptions,
  type RestApiServer,
  startRestApi,
} from './rest-api';
