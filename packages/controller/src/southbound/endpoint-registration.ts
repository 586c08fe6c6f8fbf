/**
 * Endpoint registration: an application, through its agent, asks for a contract role with its
 * service's token. The controller checks the token and the grant, issues a signed flow
 * authorization for the node, stores the endpoint with it, and answers with the program, the
 * role's entry and variables, the peers (with their keys and paths), the authorization and the
 * endpoint's group keys (group-keys.ts).
 */
import {
  ApiError,
  type ContractRole,
  type SbEndpointRequest,
  type SbEndpointResponse,
  type TemplateRole,
} from '@capsule/api';
import { parseIpv6Address } from '@capsule/identity';
import type { Principal } from '../auth';
import { hashSecret } from '../auth';
import { groupKeysOf } from '../group-keys';
import { revocationChanges, revokeScope } from '../policy-revocation';
import { type Db, selectAuthorizationRows, selectEndpointRows, toAuthorization, toEndpoint } from '../rows';
import { newSerial } from './node-registration';
import { requireIdentity, requireNode, type SouthboundServices } from './services';

const iso = (ms: number) => new Date(ms).toISOString();

/** The service a token (`id:secret`) stands for; SERVICE_TOKEN_INVALID unless known, right and unexpired. */
async function serviceOfToken(db: Db, serviceToken: string, nowMs: number) {
  const [tokenIdText, secret] = serviceToken.split(':');
  const tokenId = Number(tokenIdText);
  const tokenRow =
    Number.isSafeInteger(tokenId) && tokenId > 0 && secret
      ? await db.selectFrom('service_tokens').selectAll().where('id', '=', tokenId).executeTakeFirst()
      : undefined;
  if (!tokenRow || tokenRow.secret_hash !== hashSecret(secret ?? '') || tokenRow.expires_at <= iso(nowMs))
    throw new ApiError('SERVICE_TOKEN_INVALID', 'the service token is unknown, wrong or expired');
  const service = await db
    .selectFrom('services')
    .selectAll()
    .where('id', '=', tokenRow.service_id)
    .executeTakeFirstOrThrow();
  return { service, tokenId: tokenRow.id };
}

/** Registers an endpoint of the calling node in a contract role. */
export async function registerEndpoint(
  db: Db,
  input: { principal: Principal; request: SbEndpointRequest },
  services: Pick<
    SouthboundServices,
    'clock' | 'identity' | 'audit' | 'peersOf' | 'publishChanges' | 'authorizationLifetimeMs'
  >,
): Promise<SbEndpointResponse> {
  const { principal, request } = input;
  const node = await requireNode(db, principal);
  const now = services.clock.nowMs();
  const { service, tokenId } = await serviceOfToken(db, request.serviceToken, now);
  if (service.enabled !== 1) throw new ApiError('ROLE_NOT_GRANTED', 'the service is disabled');
  const domain = await db
    .selectFrom('domains')
    .select('active')
    .where('id', '=', service.domain_id)
    .executeTakeFirstOrThrow();
  if (domain.active !== 1) throw new ApiError('ROLE_NOT_GRANTED', 'the service’s domain is deactivated');
  const contract = await db
    .selectFrom('contracts')
    .selectAll()
    .where('domain_id', '=', service.domain_id)
    .where('name', '=', request.contract)
    .executeTakeFirst();
  if (contract?.enabled !== 1)
    throw new ApiError('ROLE_NOT_GRANTED', `no enabled contract ${request.contract} in the service's domain`);
  const grants = JSON.parse(service.grants) as { contractId: number; role: string }[];
  if (!grants.some((grant) => grant.contractId === contract.id && grant.role === request.role))
    throw new ApiError(
      'ROLE_NOT_GRANTED',
      `service ${service.name} may not take role ${request.role} of ${contract.name}`,
    );
  const template = await db
    .selectFrom('templates')
    .selectAll()
    .where('id', '=', contract.template_id)
    .executeTakeFirstOrThrow();
  if (template.enabled !== 1)
    throw new ApiError('ROLE_NOT_GRANTED', `the template of contract ${contract.name} is disabled`);
  const templateRoles = JSON.parse(template.roles) as TemplateRole[];
  const roleIndex = templateRoles.findIndex((role) => role.name === request.role);
  const templateRole = templateRoles[roleIndex];
  const contractRole = (JSON.parse(contract.roles) as ContractRole[]).find(
    (role) => role.name === request.role,
  );
  if (!templateRole || !contractRole)
    throw new ApiError('ROLE_NOT_GRANTED', `the contract has no role ${request.role}`);
  const image = JSON.parse(template.image) as SbEndpointResponse['image'];
  const logicHash = Buffer.from(template.logic_hash, 'hex');
  const serial = newSerial();
  // A registered node has the host id it registered with.
  const hostIdText = node.host_id;
  const hostId = hostIdText === null ? undefined : parseIpv6Address(hostIdText);
  if (hostIdText === null || !hostId) throw new ApiError('INTERNAL', `node ${node.id} has no host id`);
  const notAfterMs = now + services.authorizationLifetimeMs;
  const signed = requireIdentity(services).issueFlowAuthorization({
    serial,
    notBeforeMs: now,
    notAfterMs,
    domainId: service.domain_id,
    contractId: contract.id,
    roleId: roleIndex + 1,
    sourceHostId: hostId,
    logicHash,
  });
  const { endpointId, authorizationId, peers, renewed, groupKeys } = await db
    .transaction()
    .execute(async (trx) => {
      // The same role of the same contract, for the same service on the same node, is the same
      // endpoint: registering again renews its authorization (the previous one stays valid until
      // it expires, so flows in progress keep going) and does not add a second endpoint.
      const existing = await trx
        .selectFrom('endpoints')
        .select('id')
        .where('node_id', '=', node.id)
        .where('service_id', '=', service.id)
        .where('contract_id', '=', contract.id)
        .where('role', '=', request.role)
        .orderBy('id')
        .executeTakeFirst();
      if (existing)
        await trx
          .updateTable('endpoints')
          .set({ authorization_serial: serial.toString(), service_token_id: tokenId })
          .where('id', '=', existing.id)
          .execute();
      const endpoint =
        existing ??
        (await trx
          .insertInto('endpoints')
          .values({
            domain_id: service.domain_id,
            service_id: service.id,
            node_id: node.id,
            contract_id: contract.id,
            role: request.role,
            authorization_serial: serial.toString(),
            service_token_id: tokenId,
            created_at: iso(now),
          })
          .returning('id')
          .executeTakeFirstOrThrow());
      const authorization = await trx
        .insertInto('authorizations')
        .values({
          serial: serial.toString(),
          domain_id: service.domain_id,
          endpoint_id: endpoint.id,
          contract_id: contract.id,
          role: request.role,
          role_id: roleIndex + 1,
          node_id: node.id,
          host_id: hostIdText,
          logic_hash: Buffer.from(logicHash).toString('hex'),
          not_before: iso(now),
          not_after: iso(notAfterMs),
          revoked_at: null,
          signed: Buffer.from(signed).toString('base64'),
          created_at: iso(now),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await services.audit(
        trx,
        principal,
        existing ? 'renew' : 'register',
        'endpoints',
        endpoint.id,
        service.domain_id,
        {
          service: service.name,
          contract: contract.name,
          role: request.role,
        },
      );
      const peers = await services.peersOf(trx, {
        nodeId: node.id,
        contractId: contract.id,
        role: request.role,
      });
      // Its role has a new member: a new epoch of the role's group key (the others get it with the
      // path-change that follows).
      const groupKeys = await groupKeysOf(
        trx,
        {
          id: endpoint.id,
          contractId: contract.id,
          role: request.role,
          peerRole: contractRole.peer,
          hostId: hostIdText,
        },
        now,
      );
      return {
        endpointId: endpoint.id,
        authorizationId: authorization.id,
        peers,
        renewed: !!existing,
        groupKeys,
      };
    });
  // The peers' view changed too: a new endpoint they may reach (a renewal changes nothing there).
  // Only the endpoints that peer with its role are recomputed: nobody left, the topology is the same.
  if (!renewed)
    await services.publishChanges([
      { kind: 'joined', joined: { contractId: contract.id, role: request.role } },
    ]);
  const endpoint = toEndpoint(
    await selectEndpointRows(db).where('t.id', '=', endpointId).executeTakeFirstOrThrow(),
  );
  const authorization = toAuthorization(
    await selectAuthorizationRows(db).where('t.id', '=', authorizationId).executeTakeFirstOrThrow(),
  );
  return {
    endpoint,
    image,
    entry: templateRole.entry,
    variables: { ...(templateRole.variables ?? {}), ...(contractRole.variables ?? {}) },
    logicHash: Buffer.from(logicHash).toString('hex'),
    peers,
    authorization,
    groupKeys,
  };
}

/**
 * Unregisters one of the calling node's endpoints (`DELETE /sb/v1/endpoints/{id}`): it is
 * deleted and its authorizations revoked (policy-revocation.ts). Another node's endpoint, or an
 * unknown one, is NOT_FOUND; unregistering twice is NOT_FOUND the second time.
 */
export async function unregisterEndpoint(
  db: Db,
  input: { principal: Principal; id: number },
  services: Pick<SouthboundServices, 'clock' | 'audit' | 'publishChanges' | 'queueCommands'>,
): Promise<void> {
  const { principal, id } = input;
  const node = await requireNode(db, principal);
  const changes = await db.transaction().execute(async (trx) => {
    const endpoint = await trx
      .selectFrom('endpoints')
      .select(['id', 'domain_id'])
      .where('id', '=', id)
      .where('node_id', '=', node.id)
      .executeTakeFirst();
    if (!endpoint) throw new ApiError('NOT_FOUND', `this node has no endpoint ${id}`);
    const revocation = await revokeScope(
      trx,
      { kind: 'endpoint', id },
      { nowMs: services.clock.nowMs(), queueCommands: services.queueCommands },
    );
    await services.audit(trx, principal, 'unregister', 'endpoints', id, endpoint.domain_id, {
      serials: revocation.serials,
    });
    return revocationChanges(revocation);
  });
  await services.publishChanges(changes);
}
