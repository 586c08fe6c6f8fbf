import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DNS_CLASS_IN,
  type DnsMessage,
  DnsRcode,
  DnsType,
  decodeDnsMessage,
  dnsMessageLength,
  encodeDnsMessage,
} from './dns-message';

/** A query as `dig web.shop.acme.capsule AAAA` sends it (ID 0x1234, RD, EDNS OPT in additional). */
const digQuery = Uint8Array.from([
  0x12, 0x34, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 3, 0x77, 0x65, 0x62, 4, 0x73, 0x68,
  0x6f, 0x70, 4, 0x61, 0x63, 0x6d, 0x65, 7, 0x63, 0x61, 0x70, 0x73, 0x75, 0x6c, 0x65, 0, 0x00, 0x1c, 0x00,
  0x01,
  // OPT: root name, type 41, UDP size 1232, ext rcode/flags 0, rdlength 0
  0, 0x00, 0x29, 0x04, 0xd0, 0, 0, 0, 0, 0, 0,
]);

describe('DNS message codec', () => {
  it('decodes a real client query (flags, question, EDNS counted)', () => {
    const result = decodeDnsMessage(digQuery);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.id).toBe(0x1234);
    expect(result.value.flags).toMatchObject({
      isResponse: false,
      opcode: 0,
      isRecursionDesired: true,
      rcode: 0,
    });
    expect(result.value.questions).toEqual([{ name: 'web.shop.acme.capsule', type: DnsType.AAAA, class: 1 }]);
    expect(result.value.additionalCount).toBe(1);
  });

  it('encodes an answer with the exact bytes RFC 1035 lays out', () => {
    const message: DnsMessage = {
      id: 0xbeef,
      flags: {
        isResponse: true,
        opcode: 0,
        isAuthoritative: true,
        isTruncated: false,
        isRecursionDesired: true,
        isRecursionAvailable: false,
        rcode: DnsRcode.NOERROR,
      },
      questions: [{ name: 'a.b', type: DnsType.A, class: DNS_CLASS_IN }],
      answers: [
        { name: 'a.b', type: DnsType.A, class: DNS_CLASS_IN, ttl: 30, data: Uint8Array.from([10, 0, 0, 1]) },
      ],
    };
    const out = new Uint8Array(dnsMessageLength(message));
    expect(encodeDnsMessage(message, out)).toBe(out.length);
    expect([...out]).toEqual([
      0xbe, 0xef, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0x61, 1, 0x62, 0, 0, 1, 0, 1, 1, 0x61, 1, 0x62, 0, 0,
      1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1,
    ]);
  });

  it('follows backward compression pointers and refuses loops and forward pointers', () => {
    // Answer name is a pointer to the question name at offset 12.
    const bytes = Uint8Array.from([
      0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0x78, 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0,
      4, 1, 2, 3, 4,
    ]);
    const result = decodeDnsMessage(bytes);
    expect(result.ok && result.value.answers[0]!.name).toBe('x');
    const loop = Uint8Array.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    expect(decodeDnsMessage(loop)).toMatchObject({ ok: false, error: { code: 'BAD_FIELD' } });
  });

  it('refuses names that DNS cannot carry when encoding', () => {
    const base = { id: 1, flags: digFlags(), answers: [] };
    const out = new Uint8Array(600);
    expect(() =>
      encodeDnsMessage({ ...base, questions: [{ name: `${'a'.repeat(64)}.b`, type: 1, class: 1 }] }, out),
    ).toThrow(/1\.\.63/);
    expect(() =>
      encodeDnsMessage({ ...base, questions: [{ name: 'a..b', type: 1, class: 1 }] }, out),
    ).toThrow();
    const long = Array.from({ length: 10 }, () => 'x'.repeat(30)).join('.');
    expect(() => encodeDnsMessage({ ...base, questions: [{ name: long, type: 1, class: 1 }] }, out)).toThrow(
      /255/,
    );
  });

  const label = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
  const nameArb = fc.array(label, { minLength: 0, maxLength: 5 }).map((labels) => labels.join('.'));
  const messageArb: fc.Arbitrary<DnsMessage> = fc.record({
    id: fc.integer({ min: 0, max: 0xffff }),
    flags: fc.record({
      isResponse: fc.boolean(),
      opcode: fc.integer({ min: 0, max: 15 }),
      isAuthoritative: fc.boolean(),
      isTruncated: fc.boolean(),
      isRecursionDesired: fc.boolean(),
      isRecursionAvailable: fc.boolean(),
      rcode: fc.integer({ min: 0, max: 15 }),
    }),
    questions: fc.array(
      fc.record({
        name: nameArb,
        type: fc.integer({ min: 0, max: 0xffff }),
        class: fc.integer({ min: 0, max: 0xffff }),
      }),
      { maxLength: 3 },
    ),
    answers: fc.array(
      fc.oneof(
        fc.record({
          name: nameArb,
          type: fc.constant(DnsType.AAAA),
          class: fc.constant(1),
          ttl: fc.nat(),
          data: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        }),
        fc.record({
          name: nameArb,
          type: fc.constant(DnsType.A),
          class: fc.constant(1),
          ttl: fc.nat(),
          data: fc.uint8Array({ minLength: 4, maxLength: 4 }),
        }),
        fc.record({
          name: nameArb,
          type: fc.constant(DnsType.TXT),
          class: fc.constant(1),
          ttl: fc.nat(),
          data: fc.uint8Array({ maxLength: 40 }),
        }),
      ),
      { maxLength: 3 },
    ),
  });

  it('round-trips every message it encodes (property)', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const out = new Uint8Array(dnsMessageLength(message));
        encodeDnsMessage(message, out);
        const result = decodeDnsMessage(out);
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        expect(result.value.id).toBe(message.id);
        expect(result.value.flags).toEqual(message.flags);
        expect(result.value.questions).toEqual(message.questions);
        expect(result.value.answers.map((a) => ({ ...a, data: [...a.data] }))).toEqual(
          message.answers.map((a) => ({ ...a, data: [...a.data] })),
        );
      }),
      { seed: testSeed, numRuns: 2000 },
    );
  });

  it('never throws on 100,000 hostile inputs (random bytes and mutated valid messages)', () => {
    const valid = fc.sample(messageArb, { seed: testSeed, numRuns: 200 }).map((message) => {
      const out = new Uint8Array(dnsMessageLength(message));
      encodeDnsMessage(message, out);
      return out;
    });
    valid.push(digQuery);
    let state = testSeed >>> 0;
    const random = () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state;
    };
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 100_000; i += 1) {
      let input: Uint8Array;
      if (i % 2 === 0) {
        input = new Uint8Array(random() % 80);
        for (let j = 0; j < input.length; j += 1) input[j] = random() & 0xff;
        if (input.length >= 12 && i % 4 === 0) {
          // Plausible counts so the section decoders are reached.
          input[4] = 0;
          input[5] = random() % 3;
          input[6] = 0;
          input[7] = random() % 3;
        }
      } else {
        const source = valid[random() % valid.length]!;
        input = source.slice(0, source.length - (random() % 4 === 0 ? random() % (source.length + 1) : 0));
        const flips = 1 + (random() % 4);
        for (let f = 0; f < flips && input.length > 0; f += 1)
          input[random() % input.length] = random() & 0xff;
      }
      const result = decodeDnsMessage(input);
      if (result.ok) accepted += 1;
      else refused += 1;
    }
    expect(accepted + refused).toBe(100_000);
    expect(accepted).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(1000);
  });
});

function digFlags() {
  return {
    isResponse: false,
    opcode: 0,
    isAuthoritative: false,
    isTruncated: false,
    isRecursionDesired: true,
    isRecursionAvailable: false,
    rcode: 0,
  };
}
