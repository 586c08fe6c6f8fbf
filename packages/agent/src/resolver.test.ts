/**
 * The resolver over real UDP sockets on loopback: forwarding to upstream resolvers (a real UDP
 * server in the test plays the upstream), the next upstream after a timeout, SERVFAIL when none
 * answers, forged answers refused, a flood bounded by maxOutstandingQueries, and hostile queries
 * (random bytes, mutated queries, oversized datagrams) that never crash it.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { Resolver as DnsClient } from 'node:dns/promises';
import {
  DNS_CLASS_IN,
  type DnsQuestion,
  DnsRcode,
  type DnsRecord,
  DnsType,
  decodeDnsMessage,
  encodeDnsMessage,
} from '@capsule/wire';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  answerDnsQuery,
  judgeDnsQuery,
  type Resolver,
  type ResolverName,
  type ResolverStatistics,
  startResolver,
} from './resolver';

const seed = Number(process.env.CAPSULE_TEST_SEED ?? 20_260_601);
const names = new Map<string, ResolverName>([
  [
    'db.shop.acme.capsule',
    { name: 'db.shop.acme.capsule', ipv6: [new Uint8Array(16).fill(7)], ipv4: [0x64650002] },
  ],
]);
const lookup = (name: string) => names.get(name);

/** A DNS server on loopback that answers (or not) with `respond`; records what it got. */
async function startUpstream(
  respond: (query: Buffer, from: RemoteInfo, socket: Socket) => void = () => {},
): Promise<{ port: number; socket: Socket; received: { bytes: Buffer; from: RemoteInfo }[] }> {
  const socket = createSocket('udp4');
  const received: { bytes: Buffer; from: RemoteInfo }[] = [];
  socket.on('message', (bytes, from) => {
    received.push({ bytes, from });
    respond(bytes, from, socket);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, socket, received };
}

/** The answer to `query` with one A record (192.0.2.`last`) for its question. */
function answerWithA(query: Buffer, last: number, tweak: (bytes: Buffer) => void = () => {}): Buffer {
  const decoded = decodeDnsMessage(query);
  if (!decoded.ok) throw new Error('test upstream got a bad query');
  const question = decoded.value.questions[0]!;
  const answers: DnsRecord[] = [
    {
      name: question.name,
      type: DnsType.A,
      class: DNS_CLASS_IN,
      ttl: 60,
      data: Uint8Array.of(192, 0, 2, last),
    },
  ];
  const out = Buffer.alloc(512);
  const length = encodeDnsMessage(
    {
      id: decoded.value.id,
      flags: {
        isResponse: true,
        opcode: 0,
        isAuthoritative: false,
        isTruncated: false,
        isRecursionDesired: true,
        isRecursionAvailable: true,
        rcode: 0,
      },
      questions: [question],
      answers,
    },
    out,
  );
  const bytes = out.subarray(0, length);
  tweak(bytes);
  return bytes;
}

/** A query message for `name`/`type` with id `id`. */
function query(name: string, type: number = DnsType.A, id = 0x1234): Buffer {
  return queryOf([{ name, type, class: DNS_CLASS_IN }], id);
}

/** A query message with these questions (any number, as a hostile client may send). */
function queryOf(questions: readonly DnsQuestion[], id = 0x1234): Buffer {
  const out = Buffer.alloc(512);
  const length = encodeDnsMessage(
    {
      id,
      flags: {
        isResponse: false,
        opcode: 0,
        isAuthoritative: false,
        isTruncated: false,
        isRecursionDesired: true,
        isRecursionAvailable: false,
        rcode: 0,
      },
      questions: [...questions],
      answers: [],
    },
    out,
  );
  return out.subarray(0, length);
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function resolverWith(
  upstreamPorts: number[],
  extra: { upstreamTimeoutMs?: number; maxOutstandingQueries?: number } = {},
) {
  const resolver = await startResolver(
    {
      host: '127.0.0.1',
      port: 0,
      upstreams: upstreamPorts.map((port) => ({ host: '127.0.0.1', port })),
      upstreamTimeoutMs: extra.upstreamTimeoutMs ?? 300,
      ...(extra.maxOutstandingQueries !== undefined && {
        maxOutstandingQueries: extra.maxOutstandingQueries,
      }),
    },
    lookup,
  );
  cleanups.push(() => resolver.close());
  const client = new DnsClient({ timeout: 3000, tries: 1 });
  client.setServers([`127.0.0.1:${resolver.address().port}`]);
  return { resolver, client };
}

const track = <T extends { socket: Socket }>(upstream: T) => {
  cleanups.push(() => new Promise<void>((resolve) => upstream.socket.close(() => resolve())));
  return upstream;
};

/** A raw client socket: sends datagrams to the resolver, collects what comes back. */
async function rawClient(resolver: Resolver) {
  const socket = createSocket('udp4');
  const answers: Buffer[] = [];
  socket.on('message', (bytes) => answers.push(bytes));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return {
    answers,
    send: (bytes: Uint8Array) => socket.send(bytes, resolver.address().port, '127.0.0.1'),
  };
}

const until = async (condition: () => boolean, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('resolver: names outside .capsule go upstream', () => {
  it('forwards them and returns the upstream answer with the client’s id; answers .capsule itself', async () => {
    const upstream = track(
      await startUpstream((q, from, socket) => socket.send(answerWithA(q, 7), from.port, from.address)),
    );
    const { resolver, client } = await resolverWith([upstream.port]);
    expect(await client.resolve4('www.example.test')).toEqual(['192.0.2.7']);
    expect(await client.resolve6('db.shop.acme.capsule')).toEqual(['707:707:707:707:707:707:707:707']);
    expect(upstream.received).toHaveLength(1); // .capsule never goes upstream
    expect(resolver.statistics).toMatchObject({ forwarded: 1, upstreamAnswers: 1, answered: 1, refused: 0 });
    // The forwarded query is the client's, byte for byte, but for a fresh random id.
    const raw = await rawClient(resolver);
    const sent = query('edns.example.test', DnsType.AAAA, 0xbeef);
    raw.send(sent);
    await until(() => raw.answers.length === 1);
    const forwarded = upstream.received[1]!.bytes;
    expect(forwarded.subarray(2)).toEqual(sent.subarray(2));
    expect(raw.answers[0]!.readUInt16BE(0)).toBe(0xbeef);
    expect(resolver.outstandingQueries()).toBe(0);
  });

  it('tries the next upstream after a timeout, and answers SERVFAIL when none answers', async () => {
    const silent = track(await startUpstream());
    const answering = track(
      await startUpstream((q, from, socket) => socket.send(answerWithA(q, 9), from.port, from.address)),
    );
    const { client } = await resolverWith([silent.port, answering.port], { upstreamTimeoutMs: 200 });
    expect(await client.resolve4('next.example.test')).toEqual(['192.0.2.9']);
    expect(silent.received).toHaveLength(1);

    const { resolver: lonely, client: lonelyClient } = await resolverWith([silent.port], {
      upstreamTimeoutMs: 150,
    });
    await expect(lonelyClient.resolve4('gone.example.test')).rejects.toMatchObject({ code: 'ESERVFAIL' });
    expect(lonely.statistics).toMatchObject({ forwarded: 1, upstreamFailures: 1 });
    expect(lonely.outstandingQueries()).toBe(0);
  });

  it('refuses forged answers: another source port, another question, an unknown id, a query', async () => {
    const spoofer = createSocket('udp4');
    await new Promise<void>((resolve) => spoofer.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => spoofer.close(() => resolve())));
    const upstream = track(
      await startUpstream((q, from, socket) => {
        // From the wrong port (the right id and question): a blind spoofer that guessed the id.
        spoofer.send(answerWithA(q, 66), from.port, from.address);
        // From the upstream, but for another question, an unknown id, and a query (QR clear).
        const other = answerWithA(q, 67);
        other.writeUInt8(other.readUInt8(13) ^ 0x01, 13); // the first letter of the question's name
        socket.send(other, from.port, from.address);
        socket.send(
          answerWithA(q, 68, (bytes) => bytes.writeUInt16BE((bytes.readUInt16BE(0) + 1) & 0xffff, 0)),
          from.port,
          from.address,
        );
        socket.send(
          answerWithA(q, 69, (bytes) => (bytes[2]! &= 0x7f)),
          from.port,
          from.address,
        );
        socket.send(Buffer.from([1, 2, 3]), from.port, from.address);
        setTimeout(() => socket.send(answerWithA(q, 70), from.port, from.address), 50);
      }),
    );
    const { resolver, client } = await resolverWith([upstream.port]);
    expect(await client.resolve4('forged.example.test')).toEqual(['192.0.2.70']);
    expect(resolver.statistics.upstreamRejected).toBe(5);
    expect(resolver.statistics.upstreamAnswers).toBe(1);
  });

  it('keeps at most maxOutstandingQueries waiting under a flood, and answers the rest SERVFAIL at once', async () => {
    const silent = track(await startUpstream());
    const { resolver } = await resolverWith([silent.port], {
      upstreamTimeoutMs: 400,
      maxOutstandingQueries: 16,
    });
    const raw = await rawClient(resolver);
    const flood = 300;
    // Paced in bursts of 25: a burst of 300 overflows the kernel's socket buffer (drops before
    // the resolver sees them, which would test the kernel, not the bound).
    for (let i = 0; i < flood; i += 1) {
      raw.send(query(`n${i}.example.test`, DnsType.A, i));
      if (i % 25 === 24) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await until(() => raw.answers.length >= flood - 16);
    expect(resolver.outstandingQueries()).toBeLessThanOrEqual(16);
    expect(resolver.statistics.overloaded).toBe(flood - 16);
    // The waiting ones time out into SERVFAIL too: every query gets exactly one answer.
    await until(() => raw.answers.length === flood);
    const codes = raw.answers.map((bytes) => bytes[3]! & 0x0f);
    expect(new Set(codes)).toEqual(new Set([DnsRcode.SERVFAIL]));
    expect(resolver.outstandingQueries()).toBe(0);
    expect(silent.received.length).toBe(16);
  });
});

describe('resolver: hostile queries', () => {
  const fresh = (): ResolverStatistics => ({
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

  it('never throws on random bytes or mutated queries; answers stay within 512 bytes', () => {
    const valid = query('db.shop.acme.capsule', DnsType.ANY);
    const mutated = fc
      .tuple(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(valid.length),
      )
      .map(([edits, cut]) => {
        const bytes = Buffer.from(valid.subarray(0, Math.max(cut, 1)));
        for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value;
        return bytes;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated), fc.boolean(), (bytes, canForward) => {
        const statistics = fresh();
        const verdict = judgeDnsQuery(bytes, lookup, statistics, { ttlSeconds: 5, canForward });
        if (verdict.kind === 'answer') {
          expect(verdict.bytes.length).toBeLessThanOrEqual(512);
          expect(verdict.bytes[2]! & 0x80).toBe(0x80); // a response
        }
        if (verdict.kind === 'forward') expect(verdict.question.name.endsWith('capsule')).toBe(false);
        expect(statistics.queries).toBe(1);
      }),
      { seed, numRuns: 3000 },
    );
  });

  it('does not answer responses (no reflection loops) and gives FORMERR to a readable bad header', () => {
    const statistics = fresh();
    const response = answerWithA(query('x.example.test'), 1);
    expect(answerDnsQuery(response, lookup, statistics, 5)).toBeUndefined();
    const bad = Buffer.from(query('db.shop.acme.capsule'));
    bad.writeUInt16BE(60, 4); // 60 questions in a short message
    const formerr = answerDnsQuery(bad, lookup, statistics, 5)!;
    expect(formerr[3]! & 0x0f).toBe(DnsRcode.FORMERR);
    expect(statistics.malformed).toBe(2);
  });

  it('ignores an unreadable response too, refuses other opcodes, question counts and classes, and forwards only when it may', () => {
    const statistics = fresh();
    const rcodeOf = (bytes: Uint8Array | undefined) => (bytes === undefined ? 'none' : bytes[3]! & 0x0f);
    // A response it cannot read is still a response: answering it could start a loop.
    const badResponse = Buffer.from(answerWithA(query('x.example.test'), 1));
    badResponse.writeUInt16BE(60, 4);
    expect(answerDnsQuery(badResponse, lookup, statistics, 5)).toBeUndefined();
    const status = Buffer.from(query('db.shop.acme.capsule'));
    status[2] = (2 << 3) | 1; // opcode STATUS, RD
    expect(rcodeOf(answerDnsQuery(status, lookup, statistics, 5))).toBe(DnsRcode.NOTIMP);
    const question = { name: 'db.shop.acme.capsule', type: DnsType.A, class: DNS_CLASS_IN };
    const questions = (count: number) => queryOf(new Array(count).fill(question));
    expect(rcodeOf(answerDnsQuery(questions(0), lookup, statistics, 5))).toBe(DnsRcode.FORMERR);
    expect(rcodeOf(answerDnsQuery(questions(2), lookup, statistics, 5))).toBe(DnsRcode.FORMERR);
    const chaos = Buffer.from(query('db.shop.acme.capsule'));
    chaos.writeUInt16BE(3, chaos.length - 2); // class CH
    expect(rcodeOf(answerDnsQuery(chaos, lookup, statistics, 5))).toBe(DnsRcode.REFUSED);
    // Another name: forwarded when the agent has upstreams, else REFUSED (never an open forwarder).
    const other = query('www.example.test');
    expect(judgeDnsQuery(other, lookup, statistics, { ttlSeconds: 5, canForward: true }).kind).toBe(
      'forward',
    );
    const refused = judgeDnsQuery(other, lookup, statistics, { ttlSeconds: 5, canForward: false });
    expect(refused.kind === 'answer' && rcodeOf(refused.bytes)).toBe(DnsRcode.REFUSED);
    expect(statistics).toMatchObject({ malformed: 1, refused: 5 });
  });

  it('survives oversized and empty datagrams on its socket, and still answers', async () => {
    const silent = track(await startUpstream());
    const { resolver, client } = await resolverWith([silent.port]);
    const raw = await rawClient(resolver);
    raw.send(Buffer.alloc(0));
    raw.send(Buffer.alloc(65_000, 0xff));
    const huge = Buffer.alloc(60_000);
    query('db.shop.acme.capsule').copy(huge);
    raw.send(huge);
    for (let i = 0; i < 200; i += 1) {
      raw.send(Buffer.from(Array.from({ length: 40 }, (_, j) => (i * 31 + j * 7) & 0xff)));
      if (i % 25 === 24) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await until(() => resolver.statistics.queries >= 202);
    expect(await client.resolve6('db.shop.acme.capsule')).toEqual(['707:707:707:707:707:707:707:707']);
  });
});
