/**
 * Node registration, the southbound use cases before a node has a node token:
 *
 *   login (node user) → profile with its scope (zone, netprefix)
 *   nonce → 32 random bytes, single-use, stored (any replica accepts it)
 *   register (CGA + keys + RSA signature over the nonce, host id, name, locator and X25519 key;
 *     RSA ≥ 2048 bits, no small-order X25519 key) → node certificate, controller key,
 *     configuration, node token
 */
import { randomBytes } from 'node:crypto';
import {
  ApiError,
  maxRevocationHosts,
  maxRevocationSerials,
  registrationSigningInput,
  revocationCommand,
  type SbLoginResponse,
  type SbNonceResponse,
  type SbRegisterRequest,
  type SbRegisterResponse,
} from '@capsule/api';
import {
  formatIpv6Address,
  isWeakX25519PublicKey,
  parseIpv6Address,
  parseSubnetPrefix64,
} from '@capsule/identity';
import type { Principal } from '../auth';
import { computeLinkSets } from '../link-sets';
import { type Db, type NodeRow, selectLinkRows, toLink, toNode, toZone } from '../rows';
import { mapStoreError } from '../store/open-store';
import { prepareQuery } from '../store/prepared-query';
import { requireIdentity, type SouthboundServices, zoneOfUser } from './services';

const iso = (ms: number) => new Date(ms).toISOString();

/** A random unsigned 63-bit serial (positive as a signed 64-bit too). */
export function newSerial(): bigint {
  return randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
}

/** A node user's login answer (the credentials were checked): node token and profile. */
export async function nodeLogin(
  db: Db,
  principal: Principal,
  services: Pick<SouthboundServices, 'tokens' | 'clock'>,
): Promise<SbLoginResponse> {
  const zone = await zoneOfUser(db, principal.userId);
  const { token, expiresAt } = await services.tokens.issue(principal, services.clock.nowMs());
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
}

/** A fresh registration nonce for the node user, stored for `nonceLifetimeMs`. */
export async function issueNonce(
  db: Db,
  principal: Principal,
  services: Pick<SouthboundServices, 'clock' | 'nonceLifetimeMs'>,
): Promise<SbNonceResponse> {
  const nonce = randomBytes(32).toString('base64');
  const expiresAt = iso(services.clock.nowMs() + services.nonceLifetimeMs);
  await db
    .insertInto('nonces')
    .values({ nonce, user_id: principal.userId, expires_at: expiresAt, used: 0 })
    .execute();
  return { nonce, expiresAt };
}

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

/**
 * Inserts a registering node, or updates the node with its host id when that node is in the same
 * domain (restart, new keys); returns the row, or none when the host id is another domain's.
 * Values: domain id, zone id, type, hostname, owner, host id, locator, status, CGA parameters,
 * RSA key, X25519 key, certificate serial, last keep-alive; then created_at.
 */
const upsertNodeQuery = prepareQuery((db, p) => {
  const values = {
    domain_id: p(0),
    zone_id: p(1),
    type: p(2),
    hostname: p(3),
    owner_user_id: p(4),
    host_id: p(5),
    locator: p(6),
    status: p(7),
    cga_parameters: p(8),
    rsa_public_key: p(9),
    x25519_public_key: p(10),
    certificate_serial: p(11),
    last_keepalive_at: p(12),
  };
  return db
    .insertInto('nodes')
    .values({ ...values, created_at: p(13) })
    .onConflict((conflict) =>
      conflict.column('host_id').doUpdateSet(values).whereRef('nodes.domain_id', '=', 'excluded.domain_id'),
    )
    .returningAll();
});

/** The links of a node, with their domain names. */
const linksOfNodeQuery = prepareQuery((db, p) =>
  selectLinkRows(db).where((eb) => eb.or([eb('t.node_a', '=', p(0)), eb('t.node_z', '=', p(0))])),
);

const nonceInvalid = () => new ApiError('NONCE_INVALID', 'the nonce is unknown, used already, or expired');

/**
 * What a node that registers (first start, or a restart that lost its memory) must know of past
 * revocations: an engine every authorization revoked and not yet expired, every node the
 * decommissioned host ids still refused. Queued for it in the registration's transaction.
 */
async function queueRevocationCatchUp(
  trx: Db,
  nodeId: number,
  type: SbRegisterRequest['type'],
  nowMs: number,
  services: Pick<SouthboundServices, 'queueCommands'>,
): Promise<number[]> {
  const at = iso(nowMs);
  const serials =
    type === 'engine'
      ? await trx
          .selectFrom('authorizations')
          .select(['serial', 'not_after'])
          .where('revoked_at', 'is not', null)
          .where('not_after', '>', at)
          .orderBy('id')
          .execute()
      : [];
  const hosts = await trx
    .selectFrom('decommissioned_hosts')
    .select(['host_id', 'until'])
    .where('until', '>', at)
    .orderBy('host_id')
    .execute();
  const ids: number[] = [];
  const chunks = Math.max(
    Math.ceil(serials.length / maxRevocationSerials),
    Math.ceil(hosts.length / maxRevocationHosts),
  );
  for (let i = 0; i < chunks; i += 1)
    ids.push(
      ...(await services.queueCommands(
        trx,
        [nodeId],
        revocationCommand(
          serials
            .slice(i * maxRevocationSerials, (i + 1) * maxRevocationSerials)
            .map((row) => ({ serial: row.serial, notAfter: row.not_after })),
          hosts
            .slice(i * maxRevocationHosts, (i + 1) * maxRevocationHosts)
            .map((row) => ({ hostId: row.host_id, notAfter: row.until })),
        ),
      )),
    );
  return ids;
}

/**
 * Registers a node: checks the nonce, the role for the node type, the host id against the zone's
 * netprefix, the CGA and the RSA signature; issues the node certificate; inserts or updates the
 * node with its audit entry in one transaction (which also uses the nonce up); answers with the
 * certificate, the controller key, the configuration and a node token. The nonce is single-use:
 * a failed attempt uses it up too. The crypto runs outside any transaction (on libuv's pool), so
 * concurrent registrations do not queue behind it.
 */
export async function registerNode(
  db: Db,
  input: { principal: Principal; request: SbRegisterRequest },
  services: SouthboundServices,
): Promise<SbRegisterResponse> {
  const { principal, request } = input;
  const now = services.clock.nowMs();
  const identity = () => requireIdentity(services);
  const nonceIsUsable = (from: Db) =>
    useNonceQuery(from, request.nonce, principal.userId, iso(now)).then(
      (result) => Number(result.numAffectedRows ?? 0n) === 1,
    );
  const check = async () => {
    const neededRole = request.type === 'host' ? 'hostOwner' : 'engineOwner';
    if (!principal.roles.includes(neededRole))
      throw new ApiError('FORBIDDEN', `registering a ${request.type} needs the ${neededRole} role`);
    const zone = await zoneOfUser(db, principal.userId);
    const hostId = parseIpv6Address(request.hostId);
    if (!hostId) throw new ApiError('VALIDATION_FAILED', 'hostId is not an IPv6 address');
    const prefix = parseSubnetPrefix64(zone.netprefix);
    if (!prefix.every((byte, i) => hostId[i] === byte))
      throw new ApiError('CGA_INVALID', `the host id is not under the zone's netprefix ${zone.netprefix}`);
    const decommissioned = await db
      .selectFrom('decommissioned_hosts')
      .select('until')
      .where('host_id', '=', formatIpv6Address(hostId))
      .executeTakeFirst();
    if (decommissioned && decommissioned.until > iso(now))
      throw new ApiError('FORBIDDEN', `this host id was decommissioned (until ${decommissioned.until})`);
    const x25519 = Buffer.from(request.x25519PublicKey, 'base64');
    if (x25519.length !== 32) throw new ApiError('VALIDATION_FAILED', 'the X25519 key is 32 bytes');
    // A small-order key gives every neighbor the all-zero link secret: refused before it is
    // certified and handed to the node's peers.
    if (isWeakX25519PublicKey(x25519))
      throw new ApiError('WEAK_KEY', 'the X25519 key is a point of small order (all-zero shared secret)');
    const rsaPublicKeyDer = Buffer.from(request.rsaPublicKey, 'base64');
    const proof = await identity().checkNodeProof({
      hostId,
      cgaParameters: Buffer.from(request.cgaParameters, 'base64'),
      rsaPublicKeyDer,
      signedData: registrationSigningInput({
        nonce: Buffer.from(request.nonce, 'base64'),
        hostId: request.hostId,
        hostname: request.hostname,
        locator: request.locator,
        x25519PublicKey: x25519,
      }),
      signature: Buffer.from(request.signature, 'base64'),
    });
    if (!proof.ok) throw new ApiError(proof.code, proof.reason);
    return { zone, hostId, x25519, rsaPublicKeyDer, hostIdText: formatIpv6Address(hostId) };
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
    nodeType: request.type,
    serial,
    notBeforeMs: now,
    notAfterMs: now + services.certificateLifetimeMs,
    zoneId: zone.id,
    hostId,
    x25519PublicKey: x25519,
    rsaPublicKeyDer,
    name: request.hostname,
  });
  // One transaction: the nonce consumed, the node inserted or (same host id: restart, new keys)
  // updated in one upsert that returns the row, and the audit entry.
  let nodeRow: Omit<NodeRow, 'domain_name'>;
  let catchUpCommandIds: number[] = [];
  try {
    nodeRow = await db.transaction().execute(async (trx) => {
      if (!(await nonceIsUsable(trx))) throw nonceInvalid();
      const { rows } = await upsertNodeQuery(
        trx,
        principal.domainId,
        zone.id,
        request.type,
        request.hostname,
        principal.userId,
        hostIdText,
        request.locator,
        'registered',
        request.cgaParameters,
        request.rsaPublicKey,
        request.x25519PublicKey,
        serial.toString(),
        iso(now),
        iso(now),
      );
      const row = rows[0];
      // The host id exists in another domain: the upsert's condition left it alone.
      if (!row) throw new ApiError('CONFLICT', 'this host id is registered in another domain');
      await services.audit(trx, principal, 'register', 'nodes', row.id, principal.domainId, {
        hostId: hostIdText,
        type: request.type,
        hostname: request.hostname,
      });
      catchUpCommandIds = await queueRevocationCatchUp(trx, row.id, request.type, now, services);
      return row;
    });
  } catch (error) {
    throw mapStoreError(error);
  }
  services.metrics.registrations.inc({ type: request.type });
  // Its peers learn where it is now (a declared link, a zone's mesh); it gets its own set too.
  await services.publishChanges([
    { kind: 'revocation', payload: { commandIds: catchUpCommandIds } },
    // A host is in no other node's set: only its own changes.
    { kind: 'links', ...(request.type === 'host' ? { linkSetNodes: [nodeRow.id] } : {}) },
  ]);
  // The token's domain name belongs to its domain id, which authentication checked against the
  // user (domain names never change).
  const node = toNode({ ...nodeRow, domain_name: principal.domain });
  const links = (await linksOfNodeQuery(db, node.id)).rows;
  const linkSet = (await computeLinkSets(db, [node.id])).get(node.id) ?? [];
  const { token, expiresAt } = await services.tokens.issue({ ...principal, nodeId: node.id }, now);
  return {
    node,
    token,
    expiresAt,
    certificate: Buffer.from(certificate).toString('base64'),
    controllerPublicKey: Buffer.from(identity().publicKey).toString('base64'),
    controllerKeys: identity().trustedKeys(),
    configuration: {
      keepaliveIntervalMs: services.keepaliveIntervalMs,
      zone: toZone(zone),
      eventsPath: '/sb/v1/events',
      links: links.map(toLink),
      linkSet: { links: linkSet },
    },
  };
}
