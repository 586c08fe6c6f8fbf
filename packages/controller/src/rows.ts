/**
 * The store's rows as the API's objects: for each collection, the typed base query that reads its
 * rows (with their domain's name, as `domain_name`, where they belong to a domain) and the
 * converter of such a row to the API object. Northbound routes, southbound use cases and the
 * shared services all read through these.
 */
import type {
  AuditEntry,
  Authorization,
  Contract,
  Domain,
  Endpoint,
  Link,
  Node,
  Peering,
  RoleName,
  Service,
  ServiceToken,
  Template,
  User,
  Zone,
} from '@capsule/api';
import type { Kysely, Selectable } from 'kysely';
import type { Database } from './store/schema';

/** The store, or a transaction on it. */
export type Db = Kysely<Database>;

/** A row of `table`, as selected. */
export type RowOf<T extends keyof Database> = Selectable<Database[T]>;
/** The name of the row's domain, joined in. */
type InDomain = { domain_name: string };

export type DomainRow = RowOf<'domains'>;
export type UserRow = RowOf<'users'> & InDomain;
export type ZoneRow = RowOf<'zones'>;
export type NodeRow = RowOf<'nodes'> & InDomain;
export type LinkRow = RowOf<'links'> & InDomain;
/** A peering row with both domains' names. */
export type PeeringRow = RowOf<'peerings'> & InDomain & { peer_domain_name: string };
export type TemplateRow = RowOf<'templates'> & InDomain;
export type ContractRow = RowOf<'contracts'> & InDomain;
export type ServiceRow = RowOf<'services'> & InDomain;
export type ServiceTokenRow = RowOf<'service_tokens'> & InDomain;
/** An endpoint row carries the host id of its node. */
export type EndpointRow = RowOf<'endpoints'> & InDomain & { host_id: string | null };
export type AuthorizationRow = RowOf<'authorizations'> & InDomain;
export type AuditRow = RowOf<'audit'>;

// ---- base queries (alias `t` for the collection's table, `d` for the domain) ------------------

export const selectDomainRows = (db: Db) => db.selectFrom('domains as t').selectAll('t');
export const selectZoneRows = (db: Db) => db.selectFrom('zones as t').selectAll('t');
export const selectAuditRows = (db: Db) => db.selectFrom('audit as t').selectAll('t');
export const selectUserRows = (db: Db) =>
  db
    .selectFrom('users as t')
    .innerJoin('domains as d', 'd.id', 't.domain_id')
    .selectAll('t')
    .select('d.name as domain_name');
export const selectNodeRows = (db: Db) =>
  db
    .selectFrom('nodes as t')
    .innerJoin('domains as d', 'd.id', 't.domain_id')
    .selectAll('t')
    .select('d.name as domain_name');
export const selectLinkRows = (db: Db) =>
  db
    .selectFrom('links as t')
    .innerJoin('domains as d', 'd.id', 't.domain_id')
    .selectAll('t')
    .select('d.name as domain_name');
export const selectPeeringRows = (db: Db) =>
  db
    .selectFrom('peerings as t')
    .innerJoin('domains as d', 'd.id', 't.domain_id')
    .innerJoin('domains as pd', 'pd.id', 't.peer_domain_id')
    .selectAll('t')
    .select(['d.name as domain_name', 'pd.name as peer_domain_name']);
export const selectTemplateRows = (db: Db) =>
  db
    .selectFrom('templates as t')
    .innerJoin('domains as d', 'd.id', 't.domain_id')
    .selectAll('t')
    .select('d.name as domain_name');
export const selectContractRows = (db: Db) =>
  db
    .selectFrom('contracts as t')
    .innerJoin('domains as d', 'd.id', 't.domain_id')
    .selectAll('t')
    .select('d.name as domain_name');
export const selectServiceRows = (db: Db) =>
  db
    .selectFrom('services as t')
    .innerJoin('domains as d', 'd.id', 't.domain_id')
    .selectAll('t')
    .select('d.name as domain_name');
export const selectServiceTokenRows = (db: Db) =>
  db
    .selectFrom('service_tokens as t')
    .innerJoin('domains as d', 'd.id', 't.domain_id')
    .selectAll('t')
    .select('d.name as domain_name');
export const selectEndpointRows = (db: Db) =>
  db
    .selectFrom('endpoints as t')
    .innerJoin('domains as d', 'd.id', 't.domain_id')
    .innerJoin('nodes as n', 'n.id', 't.node_id')
    .selectAll('t')
    .select(['d.name as domain_name', 'n.host_id as host_id']);
export const selectAuthorizationRows = (db: Db) =>
  db
    .selectFrom('authorizations as t')
    .innerJoin('domains as d', 'd.id', 't.domain_id')
    .selectAll('t')
    .select('d.name as domain_name');

// ---- converters ------------------------------------------------------------------------------

/** A JSON text column, read as the type the controller wrote it with. */
const parse = <T>(text: string): T => JSON.parse(text) as T;

export const toDomain = (r: DomainRow): Domain => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  authMethod: 'local',
  description: r.description,
  active: r.active === 1,
  createdAt: r.created_at,
});
export const toUser = (r: UserRow): User => ({
  id: r.id,
  login: r.login,
  domain: r.domain_name,
  domainId: r.domain_id,
  roles: parse<RoleName[]>(r.roles),
  active: r.active === 1,
  zoneId: r.zone_id ?? null,
  createdAt: r.created_at,
});
export const toZone = (r: ZoneRow): Zone => ({
  id: r.id,
  name: r.name,
  netprefix: r.netprefix,
  primaryController: r.primary_controller,
  secondaryController: r.secondary_controller,
  description: r.description,
  engineMesh: r.engine_mesh === 1,
  createdAt: r.created_at,
});
export const toNode = (r: NodeRow): Node => ({
  id: r.id,
  domain: r.domain_name,
  domainId: r.domain_id,
  type: r.type,
  hostname: r.hostname,
  zoneId: r.zone_id,
  ownerUserId: r.owner_user_id ?? null,
  hostId: r.host_id ?? null,
  locator: r.locator ?? null,
  status: r.status,
  rsaPublicKey: r.rsa_public_key ?? null,
  x25519PublicKey: r.x25519_public_key ?? null,
  certificateSerial: r.certificate_serial ?? null,
  lastKeepaliveAt: r.last_keepalive_at ?? null,
  labels: parse(r.labels),
  createdAt: r.created_at,
});
export const toPeering = (r: PeeringRow): Peering => ({
  id: r.id,
  domain: r.domain_name,
  domainId: r.domain_id,
  peerDomain: r.peer_domain_name,
  peerDomainId: r.peer_domain_id,
  engineId: r.engine_id,
  description: r.description,
  createdAt: r.created_at,
});
export const toLink = (r: LinkRow): Link => ({
  id: r.id,
  domain: r.domain_name,
  domainId: r.domain_id,
  nodeA: r.node_a,
  nodeZ: r.node_z,
  endpointA: r.endpoint_a ?? null,
  endpointZ: r.endpoint_z ?? null,
  cost: r.cost,
  labels: parse<string[]>(r.labels),
  adminState: r.admin_state,
  status: r.status,
  origin: r.origin,
  createdAt: r.created_at,
});
export const toTemplate = (r: TemplateRow): Template => ({
  id: r.id,
  domain: r.domain_name,
  domainId: r.domain_id,
  name: r.name,
  description: r.description,
  orientation: r.orientation,
  multicast: r.multicast === 1,
  image: parse(r.image),
  roles: parse(r.roles),
  labelTags: parse(r.label_tags),
  logicHash: r.logic_hash,
  enabled: r.enabled === 1,
  createdAt: r.created_at,
});
export const toContract = (r: ContractRow): Contract => {
  const roles = parse<Contract['roles']>(r.roles);
  return {
    id: r.id,
    domain: r.domain_name,
    domainId: r.domain_id,
    templateId: r.template_id,
    name: r.name,
    description: r.description,
    enabled: r.enabled === 1,
    roles,
    dnsNames: roles.map((role) => `${role.name}.${r.name}.${r.domain_name}.capsule`.toLowerCase()),
    createdAt: r.created_at,
  };
};
export const toService = (r: ServiceRow): Service => ({
  id: r.id,
  domain: r.domain_name,
  domainId: r.domain_id,
  name: r.name,
  description: r.description,
  enabled: r.enabled === 1,
  grants: parse(r.grants),
  createdAt: r.created_at,
});
export const toServiceToken = (r: ServiceTokenRow): ServiceToken => ({
  id: r.id,
  serviceId: r.service_id,
  domain: r.domain_name,
  domainId: r.domain_id,
  ident: r.ident,
  expiresAt: r.expires_at,
  createdAt: r.created_at,
});
export const toEndpoint = (r: EndpointRow): Endpoint => ({
  id: r.id,
  domain: r.domain_name,
  domainId: r.domain_id,
  serviceId: r.service_id,
  nodeId: r.node_id,
  contractId: r.contract_id,
  role: r.role,
  // An endpoint's node registered with its host id (the serializer writes a missing one as "").
  hostId: r.host_id ?? '',
  authorizationSerial: r.authorization_serial,
  createdAt: r.created_at,
});
export const toAuthorization = (r: AuthorizationRow): Authorization => ({
  id: r.id,
  serial: r.serial,
  domain: r.domain_name,
  domainId: r.domain_id,
  // Null once its endpoint is gone (the authorization is then revoked).
  endpointId: r.endpoint_id,
  contractId: r.contract_id,
  role: r.role,
  roleId: r.role_id,
  nodeId: r.node_id,
  hostId: r.host_id,
  logicHash: r.logic_hash,
  notBefore: r.not_before,
  notAfter: r.not_after,
  revokedAt: r.revoked_at ?? null,
  signed: r.signed,
});
export const toAudit = (r: AuditRow): AuditEntry => ({
  id: r.id,
  at: r.at,
  actor: r.actor,
  domainId: r.domain_id ?? null,
  action: r.action,
  objectType: r.object_type,
  objectId: r.object_id ?? null,
  detail: r.detail,
});
