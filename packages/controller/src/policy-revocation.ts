/**
 * Live policy: what a narrowing change takes away, taken away at once. Every change that narrows
 * what is allowed — an authorization revoked; an endpoint unregistered or deleted; a contract
 * disabled, deleted or a role dropped from it; a template disabled; a service disabled, deleted
 * or a grant dropped; a service token deleted or disabled (TTL 0); a node user deactivated; a
 * domain deactivated; a node decommissioned — names a scope, and
 * `revokeScope` does the same four things for each, inside the change's transaction:
 *
 *   1. the endpoints in the scope are deleted (their authorizations keep the record, endpoint_id
 *      null: an authorization without an endpoint is a revoked one);
 *   2. every authorization of those endpoints that is not yet revoked is marked revoked;
 *   3. one revocation command per node is queued — every engine gets every serial still valid,
 *      each host the serials of its own endpoints (its agent removes them) — with each serial's
 *      end of validity, so nodes forget it once it has expired anyway;
 *   4. the caller gets the command ids to announce after the commit (`revocationChanges`), and a
 *      topology change when endpoints went, so the peers' path lists lose them.
 *
 * Changes that widen (a contract enabled, a grant added) need nothing here: registration reads
 * the policy as it is when an endpoint registers.
 */
import { maxRevocationSerials, revocationCommand } from '@capsule/api';
import type { ChangeEvent } from './context';
import type { Db } from './rows';

/** The endpoints (and so the authorizations) a narrowing change takes away. */
export type RevocationScope =
  /** One authorization (an explicit revoke); its endpoint goes with it. */
  | { kind: 'authorization'; id: number }
  /** One endpoint (unregistered by its host, or deleted by an administrator). */
  | { kind: 'endpoint'; id: number }
  /** A contract's endpoints: all of them, or those of roles not in `keptRoles`. */
  | { kind: 'contract'; contractId: number; keptRoles?: readonly string[] }
  /** The endpoints of every contract built on one template (the template disabled). */
  | { kind: 'template'; templateId: number }
  /** A service's endpoints: all of them, or those whose (contract, role) is not in `keptGrants`. */
  | {
      kind: 'service';
      serviceId: number;
      keptGrants?: readonly { contractId: number; role: string }[];
    }
  /** The endpoints registered with one service token. */
  | { kind: 'service-token'; tokenId: number }
  /** Every endpoint of one node (decommission). */
  | { kind: 'node'; nodeId: number }
  /** Every endpoint of the nodes a node user owns (the user deactivated). */
  | { kind: 'owner'; userId: number }
  /** Every endpoint in one domain and every endpoint on its nodes (the domain deactivated). */
  | { kind: 'domain'; domainId: number };

/** What `revokeScope` did. */
export interface ScopeRevocation {
  /** Serials newly revoked. */
  serials: string[];
  /** Endpoint ids deleted. */
  endpointIds: number[];
  /** Revocation commands queued (announce them after the commit). */
  commandIds: number[];
}

/** What revoking needs from the controller. */
export interface RevocationServices {
  nowMs: number;
  queueCommands(
    db: Db,
    nodeIds: readonly number[],
    command: ReturnType<typeof revocationCommand>,
  ): Promise<number[]>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The ids of the endpoints in `scope`. */
async function endpointsIn(db: Db, scope: RevocationScope): Promise<number[]> {
  const select = db.selectFrom('endpoints').select(['id', 'contract_id', 'role']);
  let rows: { id: number; contract_id: number; role: string }[];
  switch (scope.kind) {
    case 'authorization': {
      const row = await db
        .selectFrom('authorizations')
        .select('endpoint_id')
        .where('id', '=', scope.id)
        .executeTakeFirst();
      return row?.endpoint_id == null ? [] : [row.endpoint_id];
    }
    case 'endpoint':
      rows = await select.where('id', '=', scope.id).execute();
      break;
    case 'contract':
      rows = await select.where('contract_id', '=', scope.contractId).execute();
      if (scope.keptRoles) {
        const kept = new Set(scope.keptRoles);
        rows = rows.filter((row) => !kept.has(row.role));
      }
      break;
    case 'service':
      rows = await select.where('service_id', '=', scope.serviceId).execute();
      if (scope.keptGrants) {
        const kept = new Set(scope.keptGrants.map((grant) => `${grant.contractId}\u0000${grant.role}`));
        rows = rows.filter((row) => !kept.has(`${row.contract_id}\u0000${row.role}`));
      }
      break;
    case 'template':
      rows = await select
        .where(
          'contract_id',
          'in',
          db.selectFrom('contracts').select('id').where('template_id', '=', scope.templateId),
        )
        .execute();
      break;
    case 'domain':
      rows = await select
        .where((eb) =>
          eb.or([
            eb('domain_id', '=', scope.domainId),
            eb('node_id', 'in', db.selectFrom('nodes').select('id').where('domain_id', '=', scope.domainId)),
          ]),
        )
        .execute();
      break;
    case 'service-token':
      rows = await select.where('service_token_id', '=', scope.tokenId).execute();
      break;
    case 'node':
      rows = await select.where('node_id', '=', scope.nodeId).execute();
      break;
    case 'owner':
      rows = await select
        .where('node_id', 'in', db.selectFrom('nodes').select('id').where('owner_user_id', '=', scope.userId))
        .execute();
      break;
  }
  return rows.map((row) => row.id);
}

/**
 * Revokes everything in `scope` (see the module comment) inside the caller's transaction `db`.
 * Idempotent: a scope already revoked queues nothing.
 */
export async function revokeScope(
  db: Db,
  scope: RevocationScope,
  services: RevocationServices,
): Promise<ScopeRevocation> {
  const endpointIds = await endpointsIn(db, scope);
  const byId = scope.kind === 'authorization' ? scope.id : undefined;
  const authorizations =
    endpointIds.length > 0 || byId !== undefined
      ? await db
          .selectFrom('authorizations')
          .select(['id', 'serial', 'node_id', 'not_after'])
          .where('revoked_at', 'is', null)
          .where((eb) =>
            eb.or([
              ...(endpointIds.length > 0 ? [eb('endpoint_id', 'in', endpointIds)] : []),
              ...(byId !== undefined ? [eb('id', '=', byId)] : []),
            ]),
          )
          .orderBy('id')
          .execute()
      : [];
  const at = iso(services.nowMs);
  if (authorizations.length > 0)
    await db
      .updateTable('authorizations')
      .set({ revoked_at: at })
      .where(
        'id',
        'in',
        authorizations.map((row) => row.id),
      )
      .execute();
  if (endpointIds.length > 0) {
    await db
      .updateTable('authorizations')
      .set({ endpoint_id: null })
      .where('endpoint_id', 'in', endpointIds)
      .execute();
    await db.deleteFrom('endpoints').where('id', 'in', endpointIds).execute();
  }
  // Nodes need only the serials still valid: an expired authorization is refused anyway.
  const live = authorizations.filter((row) => row.not_after > at);
  const commandIds: number[] = [];
  if (live.length > 0) {
    const engines = await db.selectFrom('nodes').select('id').where('type', '=', 'engine').execute();
    const serialsOf = new Map<number, { serial: string; notAfter: string }[]>();
    const all = live.map((row) => ({ serial: row.serial, notAfter: row.not_after }));
    for (const engine of engines) serialsOf.set(engine.id, all);
    for (const row of live)
      if (!engines.some((engine) => engine.id === row.node_id)) {
        const list = serialsOf.get(row.node_id) ?? [];
        list.push({ serial: row.serial, notAfter: row.not_after });
        serialsOf.set(row.node_id, list);
      }
    for (const [nodeId, revocations] of serialsOf)
      for (let i = 0; i < revocations.length; i += maxRevocationSerials)
        commandIds.push(
          ...(await services.queueCommands(
            db,
            [nodeId],
            revocationCommand(revocations.slice(i, i + maxRevocationSerials)),
          )),
        );
  }
  return { serials: authorizations.map((row) => row.serial), endpointIds, commandIds };
}

/** The change events a revocation needs published after its commit. */
export function revocationChanges(revocation: ScopeRevocation): ChangeEvent[] {
  return [
    ...(revocation.commandIds.length > 0
      ? [{ kind: 'revocation' as const, payload: { commandIds: revocation.commandIds } }]
      : []),
    ...(revocation.endpointIds.length > 0 ? [{ kind: 'topology' as const }] : []),
  ];
}
