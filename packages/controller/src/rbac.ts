/**
 * Who may do what: the permission table (resource × action → roles) and the domain rule. A
 * systemAdmin acts in every domain; every other role acts only inside its own domain, and objects
 * of other domains are invisible to it (lists leave them out; by-id requests answer 404).
 */
import { ApiError, type RoleName } from '@capsule/api';
import type { Principal } from './auth';

/** The northbound resources (URL collection names). */
export type Resource =
  | 'domains'
  | 'users'
  | 'zones'
  | 'nodes'
  | 'links'
  | 'peerings'
  | 'templates'
  | 'contracts'
  | 'services'
  | 'service-tokens'
  | 'endpoints'
  | 'authorizations'
  | 'audit';

/** What a request does to a resource. */
export type Action = 'read' | 'create' | 'update' | 'delete' | 'revoke';

const all: readonly RoleName[] = ['systemAdmin', 'domainAdmin', 'contractAdmin', 'hostOwner', 'engineOwner'];
const admins: readonly RoleName[] = ['systemAdmin', 'domainAdmin'];
const policy: readonly RoleName[] = ['systemAdmin', 'domainAdmin', 'contractAdmin'];
const system: readonly RoleName[] = ['systemAdmin'];
const none: readonly RoleName[] = [];

/** The permission table: for each resource and action, the roles that may perform it. */
export const permissions: Record<Resource, Record<Action, readonly RoleName[]>> = {
  domains: { read: all, create: system, update: system, delete: system, revoke: none },
  users: { read: admins, create: admins, update: admins, delete: admins, revoke: none },
  zones: { read: all, create: system, update: system, delete: system, revoke: none },
  nodes: { read: all, create: admins, update: admins, delete: admins, revoke: none },
  links: { read: all, create: admins, update: admins, delete: admins, revoke: none },
  peerings: { read: admins, create: system, update: system, delete: system, revoke: none },
  templates: { read: policy, create: admins, update: admins, delete: admins, revoke: none },
  contracts: { read: policy, create: policy, update: policy, delete: policy, revoke: none },
  services: { read: policy, create: policy, update: policy, delete: policy, revoke: none },
  'service-tokens': { read: policy, create: policy, update: policy, delete: policy, revoke: none },
  endpoints: { read: policy, create: none, update: none, delete: policy, revoke: none },
  authorizations: { read: policy, create: none, update: none, delete: none, revoke: policy },
  audit: { read: admins, create: none, update: none, delete: none, revoke: none },
};

/** Resources that belong to no domain (shared infrastructure): the domain rule does not apply. */
export const globalResources: ReadonlySet<Resource> = new Set(['zones']);

/** True when the principal holds systemAdmin. */
export function isSystemAdmin(principal: Principal): boolean {
  return principal.roles.includes('systemAdmin');
}

/** True when one of the principal's roles may perform `action` on `resource`. */
export function hasPermission(principal: Principal, resource: Resource, action: Action): boolean {
  const allowed = permissions[resource][action];
  return principal.roles.some((role) => allowed.includes(role));
}

/** Throws FORBIDDEN unless one of the principal's roles may perform `action` on `resource`. */
export function requirePermission(principal: Principal, resource: Resource, action: Action): void {
  if (!hasPermission(principal, resource, action))
    throw new ApiError(
      'FORBIDDEN',
      `your roles (${principal.roles.join(', ')}) may not ${action} ${resource}`,
    );
}

/** The domain a list is restricted to: undefined (all) for a systemAdmin or a global resource. */
export function visibleDomain(principal: Principal, resource: Resource): number | undefined {
  return isSystemAdmin(principal) || globalResources.has(resource) ? undefined : principal.domainId;
}

/** Throws NOT_FOUND when an object of `domainId` is not visible to the principal. */
export function requireVisible(principal: Principal, resource: Resource, domainId: number | null): void {
  const scope = visibleDomain(principal, resource);
  if (scope !== undefined && domainId !== scope)
    throw new ApiError('NOT_FOUND', `no such ${resourceNoun(resource)}`);
}

/** Throws FORBIDDEN when the principal may not create objects in `domainId`. */
export function requireDomainWrite(principal: Principal, domainId: number): void {
  if (!isSystemAdmin(principal) && domainId !== principal.domainId)
    throw new ApiError('FORBIDDEN', 'you may change objects of your own domain only');
}

/** Throws FORBIDDEN when a non-systemAdmin tries to hand out systemAdmin. */
export function requireGrantable(principal: Principal, roles: readonly RoleName[]): void {
  if (roles.includes('systemAdmin') && !isSystemAdmin(principal))
    throw new ApiError('FORBIDDEN', 'only a systemAdmin may grant systemAdmin');
}

/** The singular noun of a resource, for messages. */
export function resourceNoun(resource: Resource): string {
  return resource === 'audit' ? 'audit entry' : resource.replace(/s$/, '').replace('-', ' ');
}
