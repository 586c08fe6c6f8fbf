/**
 * The resolver: a DNS server (UDP) answering `<role>.<contract>.<domain>.capsule` names from the
 * controller's data — AAAA: the CGAs of the hosts holding that role for one of our endpoints
 * (peers, or ourselves for our own role); A: their IPv4 aliases on this host (ours for our own
 * role). A name under `.capsule` that is not known gets NXDOMAIN; anything else REFUSED (this is
 * not a recursive resolver). Malformed queries get FORMERR when a header can be read, else nothing.
 */
import { createSocket, type Socket } from 'node:dgram';
import {
  DNS_CLASS_IN,
  DNS_UDP_MESSAGE_LIMIT,
  DnsRcode,
  type DnsRecord,
  DnsType,
  decodeDnsMessage,
  encodeDnsMessage,
  writeU32,
} from '@capsule/wire';

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
}

/** Builds the answer to one query message; undefined when no answer should be sent. */
export function answerDnsQuery(
  query: Uint8Array,
  lookup: (name: string) => ResolverName | undefined,
  statistics: ResolverStatistics,
  ttlSeconds: number,
): Uint8Array | undefined {
  statistics.queries += 1;
  const decoded = decodeDnsMessage(query);
  const flagsOf = (rcode: number, isRecursionDesired: boolean) => ({
    isResponse: true,
    opcode: 0,
    isAuthoritative: true,
    isTruncated: false,
    isRecursionDesired,
    isRecursionAvailable: false,
    rcode,
  });
  if (!decoded.ok) {
    statistics.malformed += 1;
    if (query.length < 12 || (query[2]! & 0x80) !== 0) return undefined;
    const out = new Uint8Array(12);
    encodeDnsMessage(
      {
        id: (query[0]! << 8) | query[1]!,
        flags: flagsOf(DnsRcode.FORMERR, false),
        questions: [],
        answers: [],
      },
      out,
    );
    return out;
  }
  const message = decoded.value;
  if (message.flags.isResponse) {
    statistics.malformed += 1;
    return undefined;
  }
  const question = message.questions[0];
  const reply = (rcode: number, answers: DnsRecord[]) => {
    const body = {
      id: message.id,
      flags: flagsOf(rcode, message.flags.isRecursionDesired),
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
    return out.subarray(0, length);
  };
  if (message.flags.opcode !== 0 || message.questions.length !== 1 || !question) {
    statistics.refused += 1;
    return reply(message.flags.opcode !== 0 ? DnsRcode.NOTIMP : DnsRcode.FORMERR, []);
  }
  const name = question.name;
  if (question.class !== DNS_CLASS_IN || !(name === 'capsule' || name.endsWith('.capsule'))) {
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
      answers.push({ name, type: DnsType.AAAA, class: DNS_CLASS_IN, ttl: ttlSeconds, data: address });
  if (wantsA)
    for (const address of entry.ipv4) {
      const data = new Uint8Array(4);
      writeU32(data, 0, address);
      answers.push({ name, type: DnsType.A, class: DNS_CLASS_IN, ttl: ttlSeconds, data });
    }
  statistics.answered += 1;
  // A known name with no record of the asked type: NOERROR, no answers (NODATA).
  return reply(DnsRcode.NOERROR, answers);
}

/** A running resolver. */
export interface Resolver {
  readonly statistics: ResolverStatistics;
  /** The bound address and port. */
  address(): { address: string; port: number };
  close(): Promise<void>;
}

/** Starts the DNS server on `host:port` (UDP). */
export async function startResolver(
  listen: { host: string; port: number },
  lookup: (name: string) => ResolverName | undefined,
  ttlSeconds = 5,
): Promise<Resolver> {
  const statistics: ResolverStatistics = { queries: 0, answered: 0, nxdomain: 0, refused: 0, malformed: 0 };
  const socket: Socket = createSocket({ type: listen.host.includes(':') ? 'udp6' : 'udp4' });
  socket.on('message', (query, from) => {
    const answer = answerDnsQuery(query, lookup, statistics, ttlSeconds);
    if (answer) socket.send(answer, from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(listen.port, listen.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', () => {});
  return {
    statistics,
    address: () => socket.address(),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
