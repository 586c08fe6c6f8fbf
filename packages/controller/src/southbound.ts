/**
 * The southbound protocol under /sb/v1, for agents and engines:
 *
 *   login (node user) → nonce → register (CGA + keys + RSA signature over the nonce)
 *     → node certificate, controller key, configuration, node token
 *   links (policy may refuse) · keepalive (200, or 202 with commands) · events (SSE push)
 *   endpoints (service token + contract role → image, variables, peers with paths, authorization)
 */
import { randomBytes } from 'node:crypto';
import {
  ApiError,
  decodeNodeCommand,
  ErrorBody,
  Link,
  type NodeCommand,
  registrationSigningInput,
  SbEndpointRequest,
  SbEndpointResponse,
  SbKeepaliveRequest,
  SbKeepaliveResponse,
  SbLinkRequest,
  SbLoginResponse,
  SbNonceResponse,
  SbRegisterRequest,
  SbRegisterResponse,
  type TemplateRole,
  TokenRequest,
} from '@capsule/api';
import { formatIpv6Address, parseIpv6Address, parseSubnetPrefix64 } from '@capsule/identity';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from './auth';
import type { ControllerContext } from './context';
import {
  type AnyDb,
  hashSecret,
  logicHashOf,
  selectEndpointRows,
  selectRows,
  toAuthorization,
  toEndpoint,
  toLink,
  toNode,
  toZone,
} from './resources';
import { mapStoreError } from './store/open-store';
import { prepareQuery } from './store/prepared-query';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const nodesSpec = { table: 'nodes', domainColumn: 'domain_id' } as never;
const linksSpec = { table: 'links', domainColumn: 'domain_id' } as never;

/** The zone of a node user (its login scope). */
const zoneOfUserQuery = prepareQuery((db, p) =>
  db
    .selectFrom('users as u')
    .innerJoin('zones as z', 'z.id', 'u.zone_id')
    .selectAll('z')
    .where('u.id', '=', p(0)),
);

/** Uses up a nonce (nonce, user id, now): one row changed when it was usable. */
const useNonceQuery = prepareQuery((db, p) =>
  db
    .updateTable('nonces')
    .set({ used: 1 })
    .where('nonce', '=', p(0))
    .where('user_id', '=', p(1))
    .where('used', '=', 0)
    .where('expires_at', '>', p(2)),
);

/** The node columns a registration writes, in the order of the upsert's values. */
const nodeColumns = [
  'domain_id',
  'zone_id',
  'type',
  'hostname',
  'owner_user_id',
  'host_id',
  'locator',
  'status',
  'cga_parameters',
  'rsa_public_key',
  'x25519_public_key',
  'certificate_serial',
  'last_keepalive_at',
] as const;

/**
 * Inserts a registering node, or updates the node with its host id when that node is in the same
 * domain (restart, new keys); returns the row, or none when the host id is another domain's.
 * Values: the `nodeColumns`, then created_at.
 */
const upsertNodeQuery = prepareQuery((db, p) => {
  const values = Object.fromEntries(nodeColumns.map((column, i) => [column, p(i)]));
  return db
    .insertInto('nodes')
    .values({ ...values, created_at: p(nodeColumns.length) })
    .onConflict((conflict) =>
      conflict.column('host_id').doUpdateSet(values).whereRef('nodes.domain_id', '=', 'excluded.domain_id'),
    )
    .returningAll();
});

/** The links of a node, with their domain names. */
const linksOfNodeQuery = prepareQuery((db, p) =>
  selectRows(db, linksSpec).where((eb) => eb.or([eb('t.node_a', '=', p(0)), eb('t.node_z', '=', p(0))])),
);

/** A random unsigned 63-bit serial (positive as a signed 64-bit too), in decimal and as bigint. */
function newSerial(): bigint {
  return randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
}

/** Registers the southbound routes on `app`. */
export function registerSouthbound(app: FastifyInstance, context: ControllerContext): void {
  const { clock, tokens } = context;
  const db = context.store.db as unknown as AnyDb;
  const iso = (ms = clock.nowMs()) => new Date(ms).toISOString();
  const authenticate = (request: FastifyRequest) =>
    context.authenticate(request.headers.authorization, 'node');
  const identity = () => {
    if (!context.identity) throw new ApiError('UNAVAILABLE', 'this controller has no signing key');
    return context.identity;
  };

  /** The node a node token names (registered, owned by the token's user). */
  async function requireNode(principal: Principal) {
    if (principal.nodeId === undefined)
      throw new ApiError('NODE_NOT_REGISTERED', 'register first (use the node token)');
    const row = await selectRows(db, nodesSpec)
      .where('t.id', '=', principal.nodeId)
      .where('t.owner_user_id', '=', principal.userId)
      .executeTakeFirst();
    if (!row || row.status === 'provisioned')
      throw new ApiError('NODE_NOT_REGISTERED', 'this node is not registered');
    return row;
  }

  async function zoneOfUser(userId: number) {
    const row = (await zoneOfUserQuery(db, userId)).rows[0];
    if (!row) throw new ApiError('NO_ZONE', 'the node user has no zone: set its zoneId');
    return row;
  }

  app.post(
    '/sb/v1/login',
    { schema: { tags: ['southbound'], body: TokenRequest, response: { 200: SbLoginResponse, ...errors } } },
    async (request) => {
      const principal = await context.checkCredentials(request.body as TokenRequest, request.ip, 'node');
      const zone = await zoneOfUser(principal.userId);
      const { token, expiresAt } = await tokens.issue(principal, clock.nowMs());
      return {
        token,
        expiresAt,
        profile: {
          userId: principal.userId,
          login: principal.login,
          domain: principal.domain,
          domainId: principal.domainId,
          roles: principal.roles,
          scope: { zoneId: zone.id, zone: zone.name, netprefix: zone.netprefix },
        },
      };
    },
  );

  app.post(
    '/sb/v1/nonce',
    { schema: { tags: ['southbound'], response: { 200: SbNonceResponse, ...errors } } },
    async (request) => {
      const principal = await authenticate(request);
      const nonce = randomBytes(32).toString('base64');
      const expiresAt = iso(clock.nowMs() + context.nonceLifetimeMs);
      await db
        .insertInto('nonces')
        .values({ nonce, user_id: principal.userId, expires_at: expiresAt, used: 0 })
        .execute();
      return { nonce, expiresAt };
    },
  );

  app.post(
    '/sb/v1/register',
    {
      schema: {
        tags: ['southbound'],
        body: SbRegisterRequest,
        response: { 200: SbRegisterResponse, ...errors },
      },
    },
    async (request) => {
      const principal = await authenticate(request);
      const body = request.body as SbRegisterRequest;
      const now = clock.nowMs();
      // The nonce is single-use: a failed attempt uses it up too (below); a successful one
      // consumes it inside the registration's transaction (one commit, one fsync on SQLite).
      const nonceIsUsable = (from: AnyDb) =>
        useNonceQuery(from, body.nonce, principal.userId, iso(now)).then(
          (result) => Number(result.numAffectedRows ?? 0n) === 1,
        );
      const nonceInvalid = () =>
        new ApiError('NONCE_INVALID', 'the nonce is unknown, used already, or expired');
      const check = async () => {
        const neededRole = body.type === 'host' ? 'hostOwner' : 'engineOwner';
        if (!principal.roles.includes(neededRole))
          throw new ApiError('FORBIDDEN', `registering a ${body.type} needs the ${neededRole} role`);
        const zone = await zoneOfUser(principal.userId);
        const hostId = parseIpv6Address(body.hostId);
        if (!hostId) throw new ApiError('VALIDATION_FAILED', 'hostId is not an IPv6 address');
        const prefix = parseSubnetPrefix64(zone.netprefix);
        if (!prefix.every((byte, i) => hostId[i] === byte))
          throw new ApiError(
            'CGA_INVALID',
            `the host id is not under the zone's netprefix ${zone.netprefix}`,
          );
        const x25519 = Buffer.from(body.x25519PublicKey, 'base64');
        if (x25519.length !== 32) throw new ApiError('VALIDATION_FAILED', 'the X25519 key is 32 bytes');
        const rsaPublicKeyDer = Buffer.from(body.rsaPublicKey, 'base64');
        const nonce = Buffer.from(body.nonce, 'base64');
        const hostIdText = formatIpv6Address(hostId);
        const proof = await identity().checkNodeProof({
          hostId,
          cgaParameters: Buffer.from(body.cgaParameters, 'base64'),
          rsaPublicKeyDer,
          signedData: registrationSigningInput({
            nonce,
            hostId: body.hostId,
            hostname: body.hostname,
            x25519PublicKey: x25519,
          }),
          signature: Buffer.from(body.signature, 'base64'),
        });
        if (!proof.ok) throw new ApiError(proof.code, proof.reason);
        return { zone, hostId, x25519, rsaPublicKeyDer, hostIdText };
      };
      let checked: Awaited<ReturnType<typeof check>>;
      try {
        checked = await check();
      } catch (error) {
        if (!(await nonceIsUsable(db))) throw nonceInvalid();
        throw error;
      }
      const { zone, hostId, x25519, rsaPublicKeyDer, hostIdText } = checked;

      const serial = newSerial();
      const certificate = await identity().issueNodeCertificate({
        nodeType: body.type,
        serial,
        notBeforeMs: now,
        notAfterMs: now + context.certificateLifetimeMs,
        zoneId: zone.id,
        hostId,
        x25519PublicKey: x25519,
        rsaPublicKeyDer,
        name: body.hostname,
      });
      const values = {
        domain_id: principal.domainId,
        zone_id: zone.id,
        type: body.type,
        hostname: body.hostname,
        owner_user_id: principal.userId,
        host_id: hostIdText,
        locator: body.locator,
        status: 'registered',
        cga_parameters: body.cgaParameters,
        rsa_public_key: body.rsaPublicKey,
        x25519_public_key: body.x25519PublicKey,
        certificate_serial: serial.toString(),
        last_keepalive_at: iso(now),
      };
      // One transaction: the nonce consumed, the node inserted or (same host id: restart, new keys)
      // updated in one upsert that returns the row, and the audit entry.
      let nodeRow: Record<string, unknown>;
      try {
        nodeRow = await db.transaction().execute(async (trx) => {
          if (!(await nonceIsUsable(trx))) throw nonceInvalid();
          const row = (await upsertNodeQuery(trx, ...nodeColumns.map((column) => values[column]), iso(now)))
            .rows[0];
          // The host id exists in another domain: the upsert's condition left it alone.
          if (!row) throw new ApiError('CONFLICT', 'this host id is registered in another domain');
          await context.audit(trx, principal, 'register', 'nodes', Number(row.id), principal.domainId, {
            hostId: hostIdText,
            type: body.type,
            hostname: body.hostname,
          });
          return row;
        });
      } catch (error) {
        throw mapStoreError(error);
      }
      context.metrics.registrations.inc({ type: body.type });
      const nodeId = Number(nodeRow.id);
      // The token's domain name belongs to its domain id, which authenticate() checked against the
      // user (domain names never change).
      const node = toNode({ ...nodeRow, domain_name: principal.domain });
      const links = (await linksOfNodeQuery(db, nodeId)).rows;
      const { token, expiresAt } = await tokens.issue({ ...principal, nodeId }, now);
      return {
        node,
        token,
        expiresAt,
        certificate: Buffer.from(certificate).toString('base64'),
        controllerPublicKey: Buffer.from(identity().publicKey).toString('base64'),
        configuration: {
          keepaliveIntervalMs: context.keepaliveIntervalMs,
          zone: toZone(zone),
          eventsPath: '/sb/v1/events',
          links: links.map(toLink),
        },
      };
    },
  );

  app.post(
    '/sb/v1/links',
    { schema: { tags: ['southbound'], body: SbLinkRequest, response: { 200: Link, ...errors } } },
    async (request) => {
      const principal = await authenticate(request);
      const node = await requireNode(principal);
      const body = request.body as SbLinkRequest;
      const peerAddress = parseIpv6Address(body.peerHostId);
      if (!peerAddress) throw new ApiError('VALIDATION_FAILED', 'peerHostId is not an IPv6 address');
      const peer = await db
        .selectFrom('nodes')
        .selectAll()
        .where('host_id', '=', formatIpv6Address(peerAddress))
        .where('status', '=', 'registered')
        .executeTakeFirst();
      if (!peer) throw new ApiError('LINK_REFUSED', 'the peer is not a registered node');
      if (peer.id === node.id) throw new ApiError('LINK_REFUSED', 'a node cannot link to itself');
      if (node.type === 'host' && peer.type === 'host')
        throw new ApiError('LINK_REFUSED', 'hosts link to engines only (policy)');
      const [a, z] = node.id < peer.id ? [node.id, peer.id] : [peer.id, node.id];
      const [endA, endZ] =
        node.id < peer.id
          ? [body.localEndpoint, body.remoteEndpoint]
          : [body.remoteEndpoint, body.localEndpoint];
      const status = body.status ?? 'up';
      const linkId = await db.transaction().execute(async (trx) => {
        const existing = await trx
          .selectFrom('links')
          .selectAll()
          .where('node_a', '=', a)
          .where('node_z', '=', z)
          .executeTakeFirst();
        let id: number;
        if (existing) {
          if (existing.admin_state === 'down' && status === 'up')
            throw new ApiError('LINK_REFUSED', 'an administrator disabled this link');
          await trx
            .updateTable('links')
            .set({
              endpoint_a: endA,
              endpoint_z: endZ,
              status,
              ...(body.cost ? { cost: body.cost } : {}),
            })
            .where('id', '=', existing.id)
            .execute();
          id = existing.id;
        } else {
          const row = await trx
            .insertInto('links')
            .values({
              domain_id: node.domain_id,
              node_a: a,
              node_z: z,
              endpoint_a: endA,
              endpoint_z: endZ,
              cost: body.cost ?? 10,
              labels: '[]',
              admin_state: 'up',
              status,
              created_at: iso(),
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          id = Number(row.id);
        }
        await context.audit(trx, principal, 'register', 'links', id, node.domain_id, {
          peer: body.peerHostId,
          status,
        });
        return id;
      });
      await context.publishChanges([{ kind: 'topology' }]);
      return toLink(await selectRows(db, linksSpec).where('t.id', '=', linkId).executeTakeFirstOrThrow());
    },
  );

  app.post(
    '/sb/v1/keepalive',
    {
      schema: {
        tags: ['southbound'],
        body: SbKeepaliveRequest,
        response: { 200: SbKeepaliveResponse, 202: SbKeepaliveResponse, ...errors },
      },
    },
    async (request, reply) => {
      const principal = await authenticate(request);
      const node = await requireNode(principal);
      const now = iso();
      const commands = await context.store.db.transaction().execute(async (trx) => {
        await trx.updateTable('nodes').set({ last_keepalive_at: now }).where('id', '=', node.id).execute();
        const rows = await trx
          .selectFrom('commands')
          .selectAll()
          .where('node_id', '=', node.id)
          .where('delivered_at', 'is', null)
          .orderBy('id')
          .limit(100)
          .execute();
        if (rows.length > 0)
          await trx
            .updateTable('commands')
            .set({ delivered_at: now })
            .where(
              'id',
              'in',
              rows.map((row) => row.id),
            )
            .execute();
        return rows.flatMap((row) => toCommand(row, context.logger) ?? []);
      });
      return reply.status(commands.length > 0 ? 202 : 200).send({ commands });
    },
  );

  app.get('/sb/v1/events', { schema: { tags: ['southbound'] } }, async (request, reply) => {
    const principal = await authenticate(request);
    const node = await requireNode(principal);
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    const remove = context.hub.add({
      nodeId: node.id,
      write: (text) => raw.write(text),
      end: () => raw.end(),
    });
    request.raw.on('close', remove);
    raw.write(`data: ${JSON.stringify({ kind: 'ready', payload: { nodeId: node.id } })}\n\n`);
    // Commands queued while the node was away go out now.
    const pending = await db
      .selectFrom('commands')
      .select('id')
      .where('node_id', '=', node.id)
      .where('delivered_at', 'is', null)
      .execute();
    await deliverCommands(
      context,
      pending.map((row) => row.id),
    );
  });

  app.post(
    '/sb/v1/endpoints',
    {
      schema: {
        tags: ['southbound'],
        body: SbEndpointRequest,
        response: { 200: SbEndpointResponse, ...errors },
      },
    },
    async (request) => {
      const principal = await authenticate(request);
      const node = await requireNode(principal);
      const body = request.body as SbEndpointRequest;
      const now = clock.nowMs();
      const [tokenIdText, secret] = body.serviceToken.split(':');
      const tokenId = Number(tokenIdText);
      const tokenRow =
        Number.isSafeInteger(tokenId) && tokenId > 0 && secret
          ? await db.selectFrom('service_tokens').selectAll().where('id', '=', tokenId).executeTakeFirst()
          : undefined;
      if (!tokenRow || tokenRow.secret_hash !== hashSecret(secret ?? '') || tokenRow.expires_at <= iso(now))
        throw new ApiError('SERVICE_TOKEN_INVALID', 'the service token is unknown, wrong or expired');
      const service = await db
        .selectFrom('services')
        .selectAll()
        .where('id', '=', tokenRow.service_id)
        .executeTakeFirstOrThrow();
      if (service.enabled !== 1) throw new ApiError('ROLE_NOT_GRANTED', 'the service is disabled');
      const contract = await db
        .selectFrom('contracts')
        .selectAll()
        .where('domain_id', '=', service.domain_id)
        .where('name', '=', body.contract)
        .executeTakeFirst();
      if (!contract || contract.enabled !== 1)
        throw new ApiError(
          'ROLE_NOT_GRANTED',
          `no enabled contract ${body.contract} in the service's domain`,
        );
      const grants = JSON.parse(service.grants) as { contractId: number; role: string }[];
      if (!grants.some((grant) => grant.contractId === contract.id && grant.role === body.role))
        throw new ApiError(
          'ROLE_NOT_GRANTED',
          `service ${service.name} may not take role ${body.role} of ${contract.name}`,
        );
      const template = await db
        .selectFrom('templates')
        .selectAll()
        .where('id', '=', contract.template_id)
        .executeTakeFirstOrThrow();
      const templateRoles = JSON.parse(template.roles) as TemplateRole[];
      const roleIndex = templateRoles.findIndex((role) => role.name === body.role);
      const templateRole = templateRoles[roleIndex];
      const contractRole = (
        JSON.parse(contract.roles) as { name: string; variables?: Record<string, number> }[]
      ).find((role) => role.name === body.role);
      if (!templateRole || !contractRole)
        throw new ApiError('ROLE_NOT_GRANTED', `the contract has no role ${body.role}`);
      const image = JSON.parse(template.image) as SbEndpointResponse['image'];
      const logicHash = logicHashOf(Buffer.from(image.code, 'base64'));
      const serial = newSerial();
      const hostId = parseIpv6Address(node.host_id)!;
      const notAfterMs = now + context.authorizationLifetimeMs;
      const signed = identity().issueFlowAuthorization({
        serial,
        notBeforeMs: now,
        notAfterMs,
        domainId: service.domain_id,
        contractId: contract.id,
        roleId: roleIndex + 1,
        permissions: templateRole.permissions ?? 0,
        sourceHostId: hostId,
        logicHash,
      });
      const { endpointId, authorizationId, peers } = await db.transaction().execute(async (trx) => {
        const endpoint = await trx
          .insertInto('endpoints')
          .values({
            domain_id: service.domain_id,
            service_id: service.id,
            node_id: node.id,
            contract_id: contract.id,
            role: body.role,
            authorization_serial: serial.toString(),
            created_at: iso(now),
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        const authorization = await trx
          .insertInto('authorizations')
          .values({
            serial: serial.toString(),
            domain_id: service.domain_id,
            endpoint_id: Number(endpoint.id),
            contract_id: contract.id,
            role: body.role,
            role_id: roleIndex + 1,
            node_id: node.id,
            host_id: node.host_id,
            logic_hash: Buffer.from(logicHash).toString('hex'),
            not_before: iso(now),
            not_after: iso(notAfterMs),
            revoked_at: null,
            signed: Buffer.from(signed).toString('base64'),
            created_at: iso(now),
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        await context.audit(trx, principal, 'register', 'endpoints', Number(endpoint.id), service.domain_id, {
          service: service.name,
          contract: contract.name,
          role: body.role,
        });
        const peers = await context.peersOf(trx, {
          nodeId: node.id,
          contractId: contract.id,
          role: body.role,
        });
        return { endpointId: Number(endpoint.id), authorizationId: Number(authorization.id), peers };
      });
      // The peers' view changed too: a new endpoint they may reach.
      await context.publishChanges([{ kind: 'topology' }]);
      const endpoint = toEndpoint(
        await selectEndpointRows(db).where('t.id', '=', endpointId).executeTakeFirstOrThrow(),
      );
      const authorization = toAuthorization(
        await selectRows(db, { table: 'authorizations', domainColumn: 'domain_id' } as never)
          .where('t.id', '=', authorizationId)
          .executeTakeFirstOrThrow(),
      );
      return {
        endpoint,
        image,
        entry: templateRole.entry,
        variables: { ...(templateRole.variables ?? {}), ...(contractRole.variables ?? {}) },
        logicHash: Buffer.from(logicHash).toString('hex'),
        peers,
        authorization,
      };
    },
  );
}

/**
 * A stored command as the node gets it, read with the nodes' own decoder; undefined (logged) for
 * a row that does not decode, which is then delivered as nothing rather than block the queue.
 */
function toCommand(
  row: { id: number; kind: string; payload: string; created_at: string },
  logger: ControllerContext['logger'],
): NodeCommand | undefined {
  let payload: unknown;
  try {
    payload = JSON.parse(row.payload);
  } catch {}
  const decoded = decodeNodeCommand({ id: row.id, kind: row.kind, payload, createdAt: row.created_at });
  if (decoded.ok) return decoded.value;
  logger.error({ commandId: row.id, ...decoded.error }, 'stored command does not decode: dropped');
  return undefined;
}

/**
 * Pushes the given commands to the nodes connected to this replica and marks those delivered;
 * the others stay queued for the node's next keep-alive (or its replica's push).
 */
export async function deliverCommands(
  context: ControllerContext,
  commandIds: readonly number[],
): Promise<void> {
  if (commandIds.length === 0) return;
  const db = context.store.db;
  const rows = await db
    .selectFrom('commands')
    .selectAll()
    .where('id', 'in', [...commandIds])
    .where('delivered_at', 'is', null)
    .orderBy('id')
    .execute();
  // A pushed command must not reach a node before the change behind it is on stable storage.
  await context.store.durable();
  const delivered: number[] = [];
  for (const row of rows) {
    const command = toCommand(row, context.logger);
    if (!command) delivered.push(row.id);
    else if (context.hub.deliver({ kind: command.kind, nodeIds: [row.node_id], payload: command }) > 0)
      delivered.push(row.id);
  }
  if (delivered.length > 0)
    await db
      .updateTable('commands')
      .set({ delivered_at: new Date(context.clock.nowMs()).toISOString() })
      .where('id', 'in', delivered)
      .execute();
}
