/**
 * Node commands: what the controller tells an agent or an engine, in a keep-alive answer (202) or
 * on the push channel (`GET /sb/v1/events`, one event per command). One discriminated union on
 * `kind` (its schemas, `NodeCommand` and the payloads, are in schemas.ts with the rest of the
 * contract), the typed constructors the controller builds them with, and the one decoder every
 * node reads them with.
 *
 *   kind                    payload
 *   revocation              {serials: ["<unsigned 64-bit, decimal>", …], notAfter?: [ISO time | null, …],
 *                            hostIds?: ["<IPv6 host id>", …], hostsNotAfter?: [ISO time | null, …]}
 *   path-change             {endpoints: [{endpointId, peers: [Peer, …], groupKeys?: [GroupKey, …]}, …]}
 *   link-tags               {contracts: [{contractId, engineTags?: u32, links: [{peer: host id, tags: u32}, …]}, …]}
 *   link-set                {links: [{peer: host id, name, locator: "host:port", cost: 1..65535, dial: bool}, …]}
 *   refresh-configuration   {}
 *   report-statistics       {}
 *
 * The decoder never throws on input. It checks the envelope (`id`, `kind`, `createdAt`) and the
 * payload's shape and bounds, and returns a fresh value holding only the known fields (extra
 * fields are ignored, so a newer controller may add some). Two rules are per element:
 *
 * - A revocation revokes every well-formed serial it names: a serial that is not an unsigned
 *   64-bit decimal is skipped (revoking is the safe direction, so one bad element does not cancel
 *   the others), and serials come out in canonical form (`"007"` → `"7"`). Each serial's end of
 *   validity is the `notAfter` entry at the same index when that is a time, else null. Host ids
 *   of decommissioned nodes follow the same rule: one that is not IPv6 address text is skipped,
 *   each with its `hostsNotAfter` entry or null.
 * - A path-change keeps addresses and keys as text: the agent reads them (`decodePeers`) as it
 *   does for an endpoint answer, skipping a peer it cannot read. Its group keys are checked
 *   whole (role, epoch, use, a 44-character base64 key): one that is not refuses the command, as
 *   a key the agent cannot use must not silently replace the one it has.
 * - A link set is checked whole too: a peer that is not IPv6 address text, a locator that is not
 *   `host:port` with a port 1…65535, a cost outside 1…65535 or a peer named twice refuses the
 *   command, as a set replaces the previous one: a set read in part would close good links.
 */
import type { DecodeErrorCode } from '@capsule/wire';
import {
  type GroupKey,
  ID_MAX,
  type LinkSetEntry,
  type LinkSetPayload,
  type LinkTagsPayload,
  maxLinkSetLinks,
  maxLinkTagContracts,
  maxLinkTagLinks,
  maxPathChangeEndpoints,
  maxPathHops,
  maxPeers,
  maxRevocationHosts,
  maxRevocationSerials,
  type NodeCommand,
  type PathChangePayload,
  type Peer,
  type RevocationPayload,
} from './schemas';

/** The kinds of node command. */
export const nodeCommandKinds = [
  'revocation',
  'path-change',
  'link-tags',
  'link-set',
  'refresh-configuration',
  'report-statistics',
] as const;
/** One kind of node command. */
export type NodeCommandKind = NodeCommand['kind'];
/** The command of one kind. */
export type NodeCommandOf<K extends NodeCommandKind> = Extract<NodeCommand, { kind: K }>;
/** A command as the controller queues it: kind and payload (the store assigns id and time). */
export type NodeCommandBody = {
  [K in NodeCommandKind]: Pick<NodeCommandOf<K>, 'kind' | 'payload'>;
}[NodeCommandKind];

/** What the decoder reports instead of a command. */
export interface NodeCommandError {
  readonly code: Extract<DecodeErrorCode, 'BAD_FIELD' | 'UNKNOWN_TYPE' | 'LIMIT_EXCEEDED' | 'MISSING'>;
  readonly message: string;
  /** Where in the command (a JSON pointer: `/payload/endpoints/3/peers`). */
  readonly path: string;
}

/** A decoded command, or why there is none. */
export type NodeCommandResult<T = NodeCommand> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: NodeCommandError };

// ---- constructors (the controller) -------------------------------------------------------------

/**
 * A revocation of flow authorizations — each serial with the end of its authorization's validity
 * — and of decommissioned nodes (every certificate of each host id, until `notAfter`, when all
 * of them have expired).
 */
export function revocationCommand(
  revocations: readonly { serial: string; notAfter: string }[],
  hosts: readonly { hostId: string; notAfter: string }[] = [],
): Pick<NodeCommandOf<'revocation'>, 'kind' | 'payload'> {
  return {
    kind: 'revocation',
    payload: {
      serials: revocations.map((revocation) => revocation.serial),
      notAfter: revocations.map((revocation) => revocation.notAfter),
      ...(hosts.length > 0
        ? { hostIds: hosts.map((host) => host.hostId), hostsNotAfter: hosts.map((host) => host.notAfter) }
        : {}),
    },
  };
}

/** New peers (with their paths) for each of a node's endpoints. */
export function pathChangeCommand(
  endpoints: readonly { endpointId: number; peers: readonly Peer[]; groupKeys?: readonly GroupKey[] }[],
): Pick<NodeCommandOf<'path-change'>, 'kind' | 'payload'> {
  return {
    kind: 'path-change',
    payload: {
      endpoints: endpoints.map(({ endpointId, peers, groupKeys }) => ({
        endpointId,
        peers: [...peers],
        ...(groupKeys === undefined ? {} : { groupKeys: [...groupKeys] }),
      })),
    },
  };
}

/** An engine's role routes: for each contract, the tag bits of its links by peer host id. */
export function linkTagsCommand(
  contracts: readonly {
    contractId: number;
    engineTags?: number;
    links: readonly { peer: string; tags: number }[];
  }[],
): Pick<NodeCommandOf<'link-tags'>, 'kind' | 'payload'> {
  return {
    kind: 'link-tags',
    payload: {
      contracts: contracts.map(({ contractId, engineTags, links }) => ({
        contractId,
        ...(engineTags ? { engineTags } : {}),
        links: links.map(({ peer, tags }) => ({ peer, tags })),
      })),
    },
  };
}

/** The links a node must have (all of them: each set replaces the previous one). */
export function linkSetCommand(
  links: readonly LinkSetEntry[],
): Pick<NodeCommandOf<'link-set'>, 'kind' | 'payload'> {
  return {
    kind: 'link-set',
    payload: {
      links: links.map(({ peer, name, locator, cost, dial }) => ({ peer, name, locator, cost, dial })),
    },
  };
}

// ---- the decoder (agents and engines) --------------------------------------------------------

const maxTimestampLength = 40;
const maxUint64 = 0xffff_ffff_ffff_ffffn;

/** Thrown inside the decoder only, caught at its entry: input problems never escape as throws. */
class Refusal {
  constructor(readonly error: NodeCommandError) {}
}

function refuse(code: NodeCommandError['code'], path: string, message: string): never {
  throw new Refusal({ code, message, path });
}

type Json = Record<string, unknown>;

function objectAt(value: unknown, path: string): Json {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    refuse(value === undefined ? 'MISSING' : 'BAD_FIELD', path, 'not an object');
  return value as Json;
}

function arrayAt(value: unknown, path: string, maxItems: number): unknown[] {
  if (!Array.isArray(value)) refuse(value === undefined ? 'MISSING' : 'BAD_FIELD', path, 'not an array');
  if (value.length > maxItems) refuse('LIMIT_EXCEEDED', path, `more than ${maxItems} items`);
  return value;
}

function integerAt(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    refuse(value === undefined ? 'MISSING' : 'BAD_FIELD', path, `not an integer in ${min}…${max}`);
  return value;
}

function stringAt(value: unknown, path: string, maxLength: number): string {
  if (typeof value !== 'string') refuse(value === undefined ? 'MISSING' : 'BAD_FIELD', path, 'not a string');
  if (value.length > maxLength) refuse('LIMIT_EXCEEDED', path, `longer than ${maxLength} characters`);
  return value;
}

/** The canonical decimal of an unsigned 64-bit serial, or undefined. */
function serialOf(value: unknown): string | undefined {
  if (typeof value !== 'string' || !/^[0-9]{1,20}$/.test(value)) return undefined;
  const serial = BigInt(value);
  return serial <= maxUint64 ? serial.toString() : undefined;
}

/** A time as sent (ISO 8601 text that parses), or null. */
function timeOf(value: unknown): string | null {
  return typeof value === 'string' && value.length <= maxTimestampLength && Number.isFinite(Date.parse(value))
    ? value
    : null;
}

/** IPv6 address text (what `Ipv6Address` allows; the node parses it), or undefined. */
function hostIdOf(value: unknown): string | undefined {
  return typeof value === 'string' && /^[0-9A-Fa-f:]{2,45}$/.test(value) ? value.toLowerCase() : undefined;
}

function revocationPayload(value: unknown, path: string): RevocationPayload {
  const payload = objectAt(value, path);
  const serials = arrayAt(payload.serials, `${path}/serials`, maxRevocationSerials);
  const ends = Array.isArray(payload.notAfter) ? payload.notAfter : undefined;
  const out: RevocationPayload = { serials: [] };
  const notAfter: (string | null)[] = [];
  serials.forEach((element, index) => {
    const serial = serialOf(element);
    if (serial === undefined) return;
    out.serials.push(serial);
    notAfter.push(ends ? timeOf(ends[index]) : null);
  });
  if (ends) out.notAfter = notAfter;
  if (payload.hostIds !== undefined) {
    const hosts = arrayAt(payload.hostIds, `${path}/hostIds`, maxRevocationHosts);
    const hostEnds = Array.isArray(payload.hostsNotAfter) ? payload.hostsNotAfter : undefined;
    const hostIds: string[] = [];
    const hostsNotAfter: (string | null)[] = [];
    hosts.forEach((element, index) => {
      const hostId = hostIdOf(element);
      if (hostId === undefined) return;
      hostIds.push(hostId);
      hostsNotAfter.push(hostEnds ? timeOf(hostEnds[index]) : null);
    });
    out.hostIds = hostIds;
    out.hostsNotAfter = hostsNotAfter;
  }
  return out;
}

function peerAt(value: unknown, path: string): Peer {
  const peer = objectAt(value, path);
  return {
    endpointId: integerAt(peer.endpointId, `${path}/endpointId`, 1, ID_MAX),
    hostId: stringAt(peer.hostId, `${path}/hostId`, 45),
    role: stringAt(peer.role, `${path}/role`, 60),
    x25519PublicKey: stringAt(peer.x25519PublicKey, `${path}/x25519PublicKey`, 64),
    path: arrayAt(peer.path, `${path}/path`, maxPathHops).map((hop, index) =>
      stringAt(hop, `${path}/path/${index}`, 45),
    ),
    cost: integerAt(peer.cost, `${path}/cost`, -1, Number.MAX_SAFE_INTEGER),
  };
}

function groupKeyAt(value: unknown, path: string): GroupKey {
  const groupKey = objectAt(value, path);
  const role = stringAt(groupKey.role, `${path}/role`, 60);
  if (role.length === 0) refuse('BAD_FIELD', `${path}/role`, 'empty');
  const use = groupKey.use;
  if (use !== 'open' && use !== 'seal')
    refuse(use === undefined ? 'MISSING' : 'BAD_FIELD', `${path}/use`, 'not open or seal');
  const key = stringAt(groupKey.key, `${path}/key`, 44);
  if (!/^[A-Za-z0-9+/]{43}=$/.test(key)) refuse('BAD_FIELD', `${path}/key`, 'not 32 bytes of base64');
  return { role, epoch: integerAt(groupKey.epoch, `${path}/epoch`, 1, 0xffff_ffff), use, key };
}

function pathChangePayload(value: unknown, path: string): PathChangePayload {
  const payload = objectAt(value, path);
  return {
    endpoints: arrayAt(payload.endpoints, `${path}/endpoints`, maxPathChangeEndpoints).map((element, i) => {
      const at = `${path}/endpoints/${i}`;
      const endpoint = objectAt(element, at);
      return {
        endpointId: integerAt(endpoint.endpointId, `${at}/endpointId`, 1, ID_MAX),
        peers: arrayAt(endpoint.peers, `${at}/peers`, maxPeers).map((peer, j) =>
          peerAt(peer, `${at}/peers/${j}`),
        ),
        ...(endpoint.groupKeys === undefined
          ? {}
          : {
              groupKeys: arrayAt(endpoint.groupKeys, `${at}/groupKeys`, 2).map((groupKey, j) =>
                groupKeyAt(groupKey, `${at}/groupKeys/${j}`),
              ),
            }),
      };
    }),
  };
}

function linkTagsPayload(value: unknown, path: string): LinkTagsPayload {
  const payload = objectAt(value, path);
  return {
    contracts: arrayAt(payload.contracts, `${path}/contracts`, maxLinkTagContracts).map((element, i) => {
      const at = `${path}/contracts/${i}`;
      const contract = objectAt(element, at);
      const engineTags =
        contract.engineTags === undefined
          ? undefined
          : integerAt(contract.engineTags, `${at}/engineTags`, 0, 0xffff_ffff);
      return {
        contractId: integerAt(contract.contractId, `${at}/contractId`, 1, ID_MAX),
        ...(engineTags ? { engineTags } : {}),
        links: arrayAt(contract.links, `${at}/links`, maxLinkTagLinks).map((link, j) => {
          const linkAt = `${at}/links/${j}`;
          const entry = objectAt(link, linkAt);
          return {
            peer: stringAt(entry.peer, `${linkAt}/peer`, 45),
            tags: integerAt(entry.tags, `${linkAt}/tags`, 0, 0xffff_ffff),
          };
        }),
      };
    }),
  };
}

/** `host:port` (IPv4, a name, or `[IPv6]`) with a port 1…65535: what a node can dial. */
const locatorPattern = /^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253}):([0-9]{1,5})$/;

function linkSetPayload(value: unknown, path: string): LinkSetPayload {
  const payload = objectAt(value, path);
  const peers = new Set<string>();
  return {
    links: arrayAt(payload.links, `${path}/links`, maxLinkSetLinks).map((element, i) => {
      const at = `${path}/links/${i}`;
      const entry = objectAt(element, at);
      const peer = hostIdOf(entry.peer);
      if (peer === undefined)
        refuse(entry.peer === undefined ? 'MISSING' : 'BAD_FIELD', `${at}/peer`, 'not an IPv6 host id');
      if (peers.has(peer)) refuse('BAD_FIELD', `${at}/peer`, 'a peer named twice');
      peers.add(peer);
      const locator = stringAt(entry.locator, `${at}/locator`, 64);
      const port = Number(locatorPattern.exec(locator)?.[2] ?? 0);
      if (!(port >= 1 && port <= 65535)) refuse('BAD_FIELD', `${at}/locator`, 'not host:port (port 1…65535)');
      if (typeof entry.dial !== 'boolean')
        refuse(entry.dial === undefined ? 'MISSING' : 'BAD_FIELD', `${at}/dial`, 'not a boolean');
      return {
        peer,
        name: stringAt(entry.name, `${at}/name`, 253),
        locator,
        cost: integerAt(entry.cost, `${at}/cost`, 1, 65535),
        dial: entry.dial,
      };
    }),
  };
}

function isKind(value: unknown): value is NodeCommandKind {
  return typeof value === 'string' && (nodeCommandKinds as readonly string[]).includes(value);
}

function bodyOf(kind: NodeCommandKind, payload: unknown, path: string): NodeCommandBody {
  switch (kind) {
    case 'revocation':
      return { kind, payload: revocationPayload(payload, path) };
    case 'path-change':
      return { kind, payload: pathChangePayload(payload, path) };
    case 'link-tags':
      return { kind, payload: linkTagsPayload(payload, path) };
    case 'link-set':
      return { kind, payload: linkSetPayload(payload, path) };
    case 'refresh-configuration':
    case 'report-statistics':
      objectAt(payload, path);
      return { kind, payload: {} };
  }
}

function kindAt(value: unknown, path: string): NodeCommandKind {
  if (isKind(value)) return value;
  if (typeof value !== 'string') refuse(value === undefined ? 'MISSING' : 'BAD_FIELD', path, 'not a string');
  return refuse('UNKNOWN_TYPE', path, `unknown command kind ${JSON.stringify(value.slice(0, 40))}`);
}

function attempt<T>(decode: () => T): NodeCommandResult<T> {
  try {
    return { ok: true, value: decode() };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, error: error.error };
    throw error; // not an input problem: a bug
  }
}

/**
 * Decodes a node command (a parsed JSON value from a keep-alive answer or a push event). Never
 * throws on input; see the module comment for the rules.
 */
export function decodeNodeCommand(value: unknown): NodeCommandResult {
  return attempt(() => {
    const command = objectAt(value, '');
    const id = integerAt(command.id, '/id', 1, ID_MAX);
    const kind = kindAt(command.kind, '/kind');
    const createdAt = stringAt(command.createdAt, '/createdAt', maxTimestampLength);
    return { id, ...bodyOf(kind, command.payload, '/payload'), createdAt };
  });
}

/**
 * Decodes the payload of a command of `kind` (for a caller that has the kind and payload without
 * the envelope); the same rules as `decodeNodeCommand`.
 */
export function decodeNodeCommandPayload(
  kind: unknown,
  payload: unknown,
): NodeCommandResult<NodeCommandBody> {
  return attempt(() => bodyOf(kindAt(kind, '/kind'), payload, '/payload'));
}

/**
 * How long a node refuses a decommissioned host id whose end the command does not give (an
 * older controller's): a controller's default node certificate lifetime, 30 days.
 */
export const defaultHostRevocationMs = 30 * 86_400_000;

/** A revocation's decommissioned host ids (text), each with its end in ms (undefined: unknown). */
export function revokedHostsOf(
  payload: RevocationPayload,
): { hostId: string; notAfterMs: number | undefined }[] {
  return (payload.hostIds ?? []).map((hostId, index) => {
    const end = payload.hostsNotAfter?.[index];
    return { hostId, notAfterMs: end ? Date.parse(end) : undefined };
  });
}

/** A revocation's serials as numbers, each with its end of validity in ms (undefined: unknown). */
export function revocationsOf(
  payload: RevocationPayload,
): { serial: bigint; notAfterMs: number | undefined }[] {
  return payload.serials.map((serial, index) => {
    const end = payload.notAfter?.[index];
    return { serial: BigInt(serial), notAfterMs: end ? Date.parse(end) : undefined };
  });
}
