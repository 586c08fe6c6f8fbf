/**
 * The controller's tables as Kysely sees them. One schema for SQLite and PostgreSQL: ids are
 * integers assigned by the store, times are ISO 8601 text (UTC, fixed width, so text order is
 * time order), booleans are 0/1 integers and structured values (roles, labels, images) are JSON
 * text — the common ground of both engines, so every query runs unchanged on both. A text column
 * that holds one of a few values is typed with the API's literal union (the store does not enforce
 * it; the controller writes only those). The store is `Kysely<Database>` on both engines.
 */
import type { Domain, Link, Node, Template } from '@capsule/api';
import type { Generated } from 'kysely';

export interface DomainsTable {
  id: Generated<number>;
  name: string;
  kind: Domain['kind'];
  description: string;
  /** 0: deactivated (its endpoints revoked, its users and nodes refused: policy-revocation.ts). */
  active: Generated<number>;
  created_at: string;
}
export interface UsersTable {
  id: Generated<number>;
  domain_id: number;
  login: string;
  password_hash: string;
  roles: string;
  active: number;
  zone_id: number | null;
  created_at: string;
  /** Moves on with every password change; tokens carry the generation they were issued at. */
  credential_generation: Generated<number>;
}
export interface ZonesTable {
  id: Generated<number>;
  name: string;
  netprefix: string;
  primary_controller: string;
  secondary_controller: string;
  description: string;
  /** 1: every engine of the zone links to every other (zone policy "full mesh"). */
  engine_mesh: Generated<number>;
  created_at: string;
}
export interface NodesTable {
  id: Generated<number>;
  domain_id: number;
  zone_id: number;
  type: Node['type'];
  hostname: string;
  owner_user_id: number | null;
  host_id: string | null;
  locator: string | null;
  status: Node['status'];
  cga_parameters: string | null;
  rsa_public_key: string | null;
  x25519_public_key: string | null;
  certificate_serial: string | null;
  last_keepalive_at: string | null;
  /** JSON object of the statistics the node's last keep-alive carried (null: none yet). */
  keepalive_statistics: string | null;
  /** 1 once a keep-alive of the node acknowledged commands (`acked`): its commands are kept until acknowledged. */
  command_acks: Generated<number>;
  /** JSON array of labels (an administrator's; registration never changes them). */
  labels: Generated<string>;
  created_at: string;
}
export interface LinksTable {
  id: Generated<number>;
  domain_id: number;
  node_a: number;
  node_z: number;
  endpoint_a: string | null;
  endpoint_z: string | null;
  cost: number;
  labels: string;
  admin_state: Link['adminState'];
  status: Link['status'];
  /** Declared by an administrator, or registered by a node (`Link.origin`). */
  origin: Link['origin'];
  created_at: string;
}
/** Domain `domain_id` trusts the engines of `peer_domain_id` (all, or only `engine_id`). */
export interface PeeringsTable {
  id: Generated<number>;
  domain_id: number;
  peer_domain_id: number;
  engine_id: number | null;
  description: string;
  created_at: string;
}
export interface TemplatesTable {
  id: Generated<number>;
  domain_id: number;
  name: string;
  description: string;
  orientation: Template['orientation'];
  multicast: number;
  image: string;
  roles: string;
  logic_hash: string;
  /** JSON array of {label, bit}. */
  label_tags: Generated<string>;
  /** 0: disabled (the endpoints of every contract on it revoked, none may register). */
  enabled: Generated<number>;
  created_at: string;
}
export interface ContractsTable {
  id: Generated<number>;
  domain_id: number;
  template_id: number;
  name: string;
  description: string;
  enabled: number;
  roles: string;
  created_at: string;
}
export interface ServicesTable {
  id: Generated<number>;
  domain_id: number;
  name: string;
  description: string;
  enabled: number;
  grants: string;
  created_at: string;
}
export interface ServiceTokensTable {
  id: Generated<number>;
  service_id: number;
  domain_id: number;
  secret_hash: string;
  ident: string;
  expires_at: string;
  created_at: string;
}
/** A deleted node's host id, refused (registration, links) until every certificate it had has expired. */
export interface DecommissionedHostsTable {
  host_id: string;
  until: string;
  created_at: string;
}
export interface EndpointsTable {
  id: Generated<number>;
  domain_id: number;
  service_id: number;
  node_id: number;
  contract_id: number;
  role: string;
  authorization_serial: string;
  /** The service token it registered with (no foreign key: deleting the token revokes it). */
  service_token_id: number | null;
  created_at: string;
}
export interface AuthorizationsTable {
  id: Generated<number>;
  serial: string;
  domain_id: number;
  endpoint_id: number | null;
  contract_id: number;
  role: string;
  role_id: number;
  node_id: number;
  host_id: string;
  logic_hash: string;
  not_before: string;
  not_after: string;
  revoked_at: string | null;
  signed: string;
  created_at: string;
}
export interface AuditTable {
  id: Generated<number>;
  at: string;
  actor: string;
  domain_id: number | null;
  action: string;
  object_type: string;
  object_id: number | null;
  detail: string;
}
export interface NoncesTable {
  nonce: string;
  user_id: number;
  expires_at: string;
  used: number;
}
export interface CommandsTable {
  id: Generated<number>;
  node_id: number;
  kind: string;
  payload: string;
  created_at: string;
  /** When it was first handed to its node (a keep-alive answer or the push channel). */
  delivered_at: string | null;
  /** When its node acknowledged it (a keep-alive naming its id); null: not yet, or a node that does not acknowledge. */
  acked_at: Generated<string | null>;
}
export interface SettingsTable {
  name: string;
  value: string;
}
/** One epoch of a contract role's group secret (group-keys.ts). */
export interface GroupKeysTable {
  contract_id: number;
  role: string;
  epoch: number;
  /** 32 random bytes, base64. */
  secret: string;
  /** The member endpoints' ids this epoch was made for (JSON array, ascending). */
  members: string;
  created_at: string;
}

/** Every table of the controller's store. */
export interface Database {
  domains: DomainsTable;
  users: UsersTable;
  zones: ZonesTable;
  nodes: NodesTable;
  links: LinksTable;
  peerings: PeeringsTable;
  templates: TemplatesTable;
  contracts: ContractsTable;
  services: ServicesTable;
  service_tokens: ServiceTokensTable;
  endpoints: EndpointsTable;
  authorizations: AuthorizationsTable;
  audit: AuditTable;
  nonces: NoncesTable;
  commands: CommandsTable;
  decommissioned_hosts: DecommissionedHostsTable;
  settings: SettingsTable;
  group_keys: GroupKeysTable;
}
