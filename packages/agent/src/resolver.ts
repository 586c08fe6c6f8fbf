/**
 * The resolver: a DNS server (UDP) for the host. Names under `.capsule` it answers itself from the
 * controller's data:
 *
 * - `<role>.<contract>.<domain>.capsule`: AAAA = the CGAs of the hosts holding that role for one
 *   of our endpoints (peers, or ourselves for our own role); A = their IPv4 aliases on this host
 *   (ours for our own role). The addresses unicast flows (PointToPoint and every program that
 *   follows the controller's PATH) reach each member at.
 * - `role.<role>.<contract>.<domain>.capsule`: AAAA = the role's *role address* (flows.ts
 *   `roleAddress`: the role as a group, whose contract program picks the member — anycast — or
 *   copies to every member — multicast); no A (role-addressed traffic is IPv6 only).
 *
 * An unknown `.capsule` name gets NXDOMAIN. Every other name is forwarded to the upstream
 * resolvers (the host's own, from its resolv.conf as the CLI read it), one after the other, each
 * given `upstreamTimeoutMs`; the answer goes back to the client with its own id, or SERVFAIL when
 * none answered. At most `maxOutstandingQueries` forwarded queries wait at once (more: SERVFAIL at
 * once, counted `overloaded`), so a flood costs bounded memory. An upstream answer is taken only
 * from the address it was sent to, with the id it was sent with (random per query) and the same
 * question; anything else is counted `upstreamRejected` and dropped. Without upstreams, other
 * names get REFUSED. Malformed queries get FORMERR when a header can be read, else nothing.
 *
 * UDP only: a client that retries a truncated (TC) answer over TCP does not reach this resolver.
 */
import { randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import {
  DNS_CLASS_IN,
  DNS_UDP_MESSAGE_LIMIT,
  type DnsQuestion,
  DnsRcode,
  type DnsRecord,
  DnsType,
  decodeDnsMessage,
  encodeDnsMessage,
  writeU32,
} from '@capsule/wire';
import { type LocalEndpoint, roleAddress } from './flows';

/** One name the resolver answers. */
export interface ResolverName {
  name: string;
  /** 16-byte addresses. */
  ipv6: Uint8Array[];
  /** Host-order IPv4 numbers. */
  ipv4: number[];
}

/** Counters (the REST API's resolver state). */
export interface ResolverStatistics {
  queries: number;
  answered: number;
  nxdomain: number;
  refused: number;
  malformed: number;
  /** Queries sent on to an upstream resolver. */
  forwarded: number;
  /** Upstream answers passed back to the client. */
  upstreamAnswers: number;
  /** Forwarded queries no upstream answered in time (the client got SERVFAIL). */
  upstreamFailures: number;
  /** Datagrams on the upstream socket that were not the answer to a waiting query. */
  upstreamRejected: number;
  /** Queries refused with SERVFAIL because `maxOutstandingQueries` were waiting already. */
  overloaded: number;
}

/** Where the resolver listens and how it forwards; defaults in `defaultResolverOptions`. */
export interface ResolverOptions {
  host: string;
  port: number;
  /** TTL of the `.capsule` answers. */
  ttlSeconds: number;
  /** Resolvers for every name outside `.capsule`, tried in order; none: such names are REFUSED. */
  upstreams: { host: string; port: number }[];
  /** How long each upstream has to answer before the next is tried. */
  upstreamTimeoutMs: number;
  /** Forwarded queries waiting for an upstream at most. */
  maxOutstandingQueries: number;
}

export const defaultResolverOptions: ResolverOptions = {
  host: '127.0.0.53',
  port: 53,
  ttlSeconds: 5,
  upstreams: [],
  upstreamTimeoutMs: 2000,
  maxOutstandingQueries: 256,
};

/** The label that asks for a role's role address: `role.<role>.<contract>.<domain>.capsule`. */
export const ROLE_ADDRESS_LABEL = 'role';

/**
 * The names of our endpoints' contracts (see the module comment): members by role, and role
 * addresses under `role.`. `aliasOf` gives a peer's IPv4 alias on this host (0: none).
 */
export function resolverNamesOf(
  endpoints: Iterable<LocalEndpoint>,
  own: { hostId: Uint8Array; ipv4: number },
  aliasOf: (hostId: Uint8Array) => number,
): Map<string, ResolverName> {
  const names = new Map<string, ResolverName>();
  const same = (a: Uint8Array, b: Uint8Array) => a.every((byte, i) => byte === b[i]);
  const add = (name: string, ipv6: Uint8Array, ipv4: number) => {
    const entry = names.get(name) ?? { name, ipv6: [], ipv4: [] };
    if (!entry.ipv6.some((address) => same(address, ipv6))) entry.ipv6.push(ipv6);
    if (ipv4 !== 0 && !entry.ipv4.includes(ipv4)) entry.ipv4.push(ipv4);
    names.set(name, entry);
  };
  for (const endpoint of endpoints) {
    const { spec } = endpoint;
    const nameOf = (role: string) => `${role}.${spec.contract}.${spec.domain}.capsule`.toLowerCase();
    add(endpoint.dnsName, own.hostId, own.ipv4);
    add(`${ROLE_ADDRESS_LABEL}.${nameOf(spec.role)}`, roleAddress(own.hostId, spec.contractId, spec.role), 0);
    for (const peer of endpoint.peers) {
      add(nameOf(peer.role), peer.hostId, aliasOf(peer.hostId));
      add(
        `${ROLE_ADDRESS_LABEL}.${nameOf(peer.role)}`,
        roleAddress(own.hostId, spec.contractId, peer.role),
        0,
      );
    }
  }
  return names;
}

/** What to do with one query. */
export type DnsQueryVerdict =
  | { kind: 'answer'; bytes: Uint8Array }
  | { kind: 'ignore' }
  /** A name outside `.capsule`: forward the query (its id and question, to check the answer). */
  | { kind: 'forward'; id: number; question: DnsQuestion };

const flagsOf = (rcode: number, isRecursionDesired: boolean, isRecursionAvailable: boolean) => ({
  isResponse: true,
  opcode: 0,
  isAuthoritative: true,
  isTruncated: false,
  isRecursionDesired,
  isRecursionAvailable,
  rcode,
});

/** An answer with `rcode` and no records to a query whose header and question are `id`, `question`. */
function bareAnswer(id: number, question: DnsQuestion | undefined, rcode: number, canForward: boolean) {
  const out = new Uint8Array(DNS_UDP_MESSAGE_LIMIT);
  const length = encodeDnsMessage(
    { id, flags: flagsOf(rcode, true, canForward), questions: question ? [question] : [], answers: [] },
    out,
  );
  return out.subarray(0, length);
}

/**
 * Judges one query message: the answer (a `.capsule` name, or an error), nothing (unreadable), or
 * `forward` (another name, when `canForward`; else REFUSED). Never throws on input.
 */
export function judgeDnsQuery(
  query: Uint8Array,
  lookup: (name: string) => ResolverName | undefined,
  statistics: ResolverStatistics,
  options: { ttlSeconds: number; canForward: boolean },
): DnsQueryVerdict {
  statistics.queries += 1;
  const decoded = decodeDnsMessage(query);
  if (!decoded.ok) {
    statistics.malformed += 1;
    if (query.length < 12 || (query[2]! & 0x80) !== 0) return { kind: 'ignore' };
    const out = new Uint8Array(12);
    encodeDnsMessage(
      {
        id: (query[0]! << 8) | query[1]!,
        flags: flagsOf(DnsRcode.FORMERR, false, options.canForward),
        questions: [],
        answers: [],
      },
      out,
    );
    return { kind: 'answer', bytes: out };
  }
  const message = decoded.value;
  if (message.flags.isResponse) {
    statistics.malformed += 1;
    return { kind: 'ignore' };
  }
  const question = message.questions[0];
  const reply = (rcode: number, answers: DnsRecord[]) => {
    const body = {
      id: message.id,
      flags: flagsOf(rcode, message.flags.isRecursionDesired, options.canForward),
      questions: question ? [question] : [],
      answers,
    };
    const out = new Uint8Array(DNS_UDP_MESSAGE_LIMIT);
    let length: number;
    try {
      length = encodeDnsMessage(body, out);
    } catch {
      // Too many answers for 512 bytes: truncate (TC) with none, as RFC 1035 4.2.1 allows.
      length = encodeDnsMessage({ ...body, answers: [], flags: { ...body.flags, isTruncated: true } }, out);
    }
    return { kind: 'answer' as const, bytes: out.subarray(0, length) };
  };
  if (message.flags.opcode !== 0 || message.questions.length !== 1 || !question) {
    statistics.refused += 1;
    return reply(message.flags.opcode !== 0 ? DnsRcode.NOTIMP : DnsRcode.FORMERR, []);
  }
  const name = question.name;
  if (!(name === 'capsule' || name.endsWith('.capsule'))) {
    if (options.canForward) return { kind: 'forward', id: message.id, question };
    statistics.refused += 1;
    return reply(DnsRcode.REFUSED, []);
  }
  if (question.class !== DNS_CLASS_IN) {
    statistics.refused += 1;
    return reply(DnsRcode.REFUSED, []);
  }
  const entry = lookup(name);
  if (!entry) {
    statistics.nxdomain += 1;
    return reply(DnsRcode.NXDOMAIN, []);
  }
  const answers: DnsRecord[] = [];
  const wantsAaaa = question.type === DnsType.AAAA || question.type === DnsType.ANY;
  const wantsA = question.type === DnsType.A || question.type === DnsType.ANY;
  if (wantsAaaa)
    for (const address of entry.ipv6)
      answers.push({ name, type: DnsType.AAAA, class: DNS_CLASS_IN, ttl: options.ttlSeconds, data: address });
  if (wantsA)
    for (const address of entry.ipv4) {
      const data = new Uint8Array(4);
      writeU32(data, 0, address);
      answers.push({ name, type: DnsType.A, class: DNS_CLASS_IN, ttl: options.ttlSeconds, data });
    }
  statistics.answered += 1;
  // A known name with no record of the asked type: NOERROR, no answers (NODATA).
  return reply(DnsRcode.NOERROR, answers);
}

/** Builds the answer to one query message without forwarding; undefined when none should be sent. */
export function answerDnsQuery(
  query: Uint8Array,
  lookup: (name: string) => ResolverName | undefined,
  statistics: ResolverStatistics,
  ttlSeconds: number,
): Uint8Array | undefined {
  const verdict = judgeDnsQuery(query, lookup, statistics, { ttlSeconds, canForward: false });
  return verdict.kind === 'answer' ? verdict.bytes : undefined;
}

/** A running resolver. */
export interface Resolver {
  readonly statistics: ResolverStatistics;
  /** The bound address and port. */
  address(): { address: string; port: number };
  /** Forwarded queries waiting for an upstream now. */
  outstandingQueries(): number;
  close(): Promise<void>;
}

/** A forwarded query waiting for an upstream's answer (keyed by the id it was sent with). */
interface Pending {
  client: { address: string; port: number };
  clientId: number;
  question: DnsQuestion;
  /** The query as sent upstream (our id in its first two bytes). */
  bytes: Buffer;
  upstream: number;
  timer: NodeJS.Timeout | undefined;
}

const newStatistics = (): ResolverStatistics => ({
  queries: 0,
  answered: 0,
  nxdomain: 0,
  refused: 0,
  malformed: 0,
  forwarded: 0,
  upstreamAnswers: 0,
  upstreamFailures: 0,
  upstreamRejected: 0,
  overloaded: 0,
});

const bindSocket = (socket: Socket, port: number, host: string) =>
  new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });

/** Starts the DNS server on `options.host:port` (UDP), forwarding to `options.upstreams`. */
export async function startResolver(
  options: Partial<ResolverOptions> & { host: string; port: number },
  lookup: (name: string) => ResolverName | undefined,
): Promise<Resolver> {
  const settings: ResolverOptions = { ...defaultResolverOptions, ...options };
  const statistics = newStatistics();
  const canForward = settings.upstreams.length > 0;
  const socket: Socket = createSocket({ type: settings.host.includes(':') ? 'udp6' : 'udp4' });
  const pending = new Map<number, Pending>();
  // One socket per upstream address family, on a random ephemeral port, opened once.
  const upstreamSockets = new Map<'udp4' | 'udp6', Socket>();
  const familyOf = (host: string) => (host.includes(':') ? 'udp6' : 'udp4');

  const sendToClient = (bytes: Uint8Array, client: { address: string; port: number }) =>
    socket.send(bytes, client.port, client.address);

  const fail = (id: number) => {
    const entry = pending.get(id);
    if (!entry) return;
    pending.delete(id);
    statistics.upstreamFailures += 1;
    sendToClient(bareAnswer(entry.clientId, entry.question, DnsRcode.SERVFAIL, true), entry.client);
  };

  /** Sends a waiting query to its current upstream, and arms the timer that moves to the next. */
  const sendUpstream = (id: number) => {
    const entry = pending.get(id);
    if (!entry) return;
    const upstream = settings.upstreams[entry.upstream]!;
    upstreamSockets.get(familyOf(upstream.host))?.send(entry.bytes, upstream.port, upstream.host);
    entry.timer = setTimeout(() => {
      entry.upstream += 1;
      if (entry.upstream < settings.upstreams.length) sendUpstream(id);
      else fail(id);
    }, settings.upstreamTimeoutMs);
    entry.timer.unref();
  };

  const onUpstreamAnswer = (message: Buffer, from: RemoteInfo) => {
    const id = message.length >= 12 ? message.readUInt16BE(0) : -1;
    const entry = pending.get(id);
    const upstream = entry ? settings.upstreams[entry.upstream] : undefined;
    const decoded = entry ? decodeDnsMessage(message) : undefined;
    const question = decoded?.ok ? decoded.value.questions[0] : undefined;
    if (
      !entry ||
      !upstream ||
      from.address !== upstream.host ||
      from.port !== upstream.port ||
      !decoded?.ok ||
      !decoded.value.flags.isResponse ||
      decoded.value.questions.length !== 1 ||
      question?.name !== entry.question.name ||
      question.type !== entry.question.type ||
      question.class !== entry.question.class
    ) {
      statistics.upstreamRejected += 1;
      return;
    }
    clearTimeout(entry.timer);
    pending.delete(id);
    const answer = Buffer.from(message);
    answer.writeUInt16BE(entry.clientId, 0);
    statistics.upstreamAnswers += 1;
    sendToClient(answer, entry.client);
  };

  const forward = (query: Buffer, from: RemoteInfo, clientId: number, question: DnsQuestion) => {
    let id = -1;
    // A random id not in use (a waiting query's id is never reused while it waits).
    for (let attempt = 0; attempt < 8 && id < 0; attempt += 1) {
      const candidate = randomInt(0, 0x10000);
      if (!pending.has(candidate)) id = candidate;
    }
    if (pending.size >= settings.maxOutstandingQueries || id < 0) {
      statistics.overloaded += 1;
      sendToClient(bareAnswer(clientId, question, DnsRcode.SERVFAIL, true), from);
      return;
    }
    const bytes = Buffer.from(query);
    bytes.writeUInt16BE(id, 0);
    statistics.forwarded += 1;
    pending.set(id, {
      client: { address: from.address, port: from.port },
      clientId,
      question,
      bytes,
      upstream: 0,
      timer: undefined,
    });
    sendUpstream(id);
  };

  socket.on('message', (query, from) => {
    const verdict = judgeDnsQuery(query, lookup, statistics, { ttlSeconds: settings.ttlSeconds, canForward });
    if (verdict.kind === 'answer') sendToClient(verdict.bytes, from);
    else if (verdict.kind === 'forward') forward(query, from, verdict.id, verdict.question);
  });
  await bindSocket(socket, settings.port, settings.host);
  socket.on('error', () => {});
  try {
    for (const upstream of settings.upstreams) {
      const family = familyOf(upstream.host);
      if (upstreamSockets.has(family)) continue;
      const upstreamSocket = createSocket({ type: family });
      upstreamSocket.on('message', onUpstreamAnswer);
      await bindSocket(upstreamSocket, 0, family === 'udp6' ? '::' : '0.0.0.0');
      upstreamSocket.on('error', () => {});
      upstreamSockets.set(family, upstreamSocket);
    }
  } catch (error) {
    socket.close();
    for (const upstreamSocket of upstreamSockets.values()) upstreamSocket.close();
    throw error;
  }
  const close = (target: Socket) => new Promise<void>((resolve) => target.close(() => resolve()));
  return {
    statistics,
    address: () => socket.address(),
    outstandingQueries: () => pending.size,
    async close() {
      for (const entry of pending.values()) clearTimeout(entry.timer);
      pending.clear();
      await Promise.all([close(socket), ...[...upstreamSockets.values()].map(close)]);
    },
  };
}
