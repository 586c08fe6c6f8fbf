/**
 * The contract's schemas as the controller validates with them: request bodies are closed (no
 * unknown fields), strings and lists are bounded, names and addresses keep to their patterns, and
 * the registration signing input has its documented layout.
 */
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import * as schemas from './schemas';

const { registrationSigningInput } = schemas;

/** Every exported request schema: bodies, queries and path parameters the controller validates. */
const requestSchemas = Object.entries(schemas).filter(
  ([name, value]) =>
    typeof value === 'object' &&
    value !== null &&
    'type' in value &&
    (/(Create|Patch|Request)$/.test(name) || name === 'ListQuery' || name === 'IdParams'),
) as [string, TSchema & { additionalProperties?: unknown }][];

describe('request schemas', () => {
  it('are all closed objects: an unknown field is refused', () => {
    expect(requestSchemas.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'TokenRequest',
        'UserCreate',
        'SbRegisterRequest',
        'SbEndpointRequest',
        'LinkPatch',
      ]),
    );
    for (const [name, schema] of requestSchemas) expect(schema.additionalProperties, name).toBe(false);
    const examples: [TSchema, object][] = [
      [schemas.TokenRequest, { domain: 'd', username: 'u', password: 'p' }],
      [schemas.DomainCreate, { name: 'shop', kind: 'application' }],
      [
        schemas.SbLinkRequest,
        { peerHostId: 'fd00::1', localEndpoint: '192.0.2.1:1', remoteEndpoint: '192.0.2.2:2' },
      ],
      [schemas.SbEndpointRequest, { serviceToken: '1:secret', contract: 'shop', role: 'client' }],
      [schemas.ListQuery, { limit: 5 }],
    ];
    for (const [schema, example] of examples) {
      expect(Value.Check(schema, example), JSON.stringify(example)).toBe(true);
      expect(Value.Check(schema, { ...example, unexpected: 1 }), JSON.stringify(example)).toBe(false);
    }
  });

  it('bound every string and list a client sends', () => {
    /** Paths of unbounded strings and arrays in a schema. */
    const unbounded = (schema: TSchema, path: string): string[] => {
      const node = schema as Record<string, unknown>;
      const out: string[] = [];
      if (
        node.type === 'string' &&
        node.maxLength === undefined &&
        node.const === undefined &&
        node.enum === undefined
      )
        out.push(path);
      if (node.type === 'array' && node.maxItems === undefined) out.push(path);
      for (const [key, sub] of Object.entries((node.properties as Record<string, TSchema>) ?? {}))
        out.push(...unbounded(sub, `${path}.${key}`));
      if (node.items) out.push(...unbounded(node.items as TSchema, `${path}[]`));
      for (const member of (node.anyOf as TSchema[]) ?? []) out.push(...unbounded(member, path));
      if (node.patternProperties)
        for (const sub of Object.values(node.patternProperties as Record<string, TSchema>))
          out.push(...unbounded(sub, `${path}{}`));
      return out;
    };
    // The walk finds what it looks for (else the check below would pass for nothing).
    const loose = schemas.ListOf(schemas.Description) as unknown as TSchema;
    expect(unbounded(loose, 'loose')).toEqual(['loose.items']);
    expect(unbounded(schemas.ErrorBody, 'ErrorBody')).toEqual(['ErrorBody.code', 'ErrorBody.message']);
    expect(requestSchemas.flatMap(([name, schema]) => unbounded(schema, name))).toEqual([]);
  });

  it('keep names, netprefixes, locators and base64 to their patterns', () => {
    const check = (schema: TSchema, good: string[], bad: string[]) => {
      for (const value of good) expect(Value.Check(schema, value), value).toBe(true);
      for (const value of bad) expect(Value.Check(schema, value), value).toBe(false);
    };
    check(
      schemas.Name,
      ['a', 'web-1', 'A.b_c', 'x'.repeat(60)],
      ['', '-a', '.a', 'a b', 'a/b', "a'", 'x'.repeat(61), 'é'],
    );
    check(
      schemas.Netprefix,
      ['fd00:1:2:3::/64'],
      ['fd00::/48', 'fd00::', '10.0.0.0/64', `${'f'.repeat(50)}/64`],
    );
    check(
      schemas.Locator,
      ['192.0.2.1:7447', '[fd00::1]:1', 'host.example:80'],
      ['192.0.2.1', ':80', 'a:b', 'a:123456'],
    );
    check(schemas.Base64(8), ['', 'AAAA', 'AA==', 'ab+/'], ['AA=A', 'A A', 'AAAAAAAAA', '%%%%']);
    check(
      schemas.SerialText,
      ['0', '18446744073709551615'],
      ['', '-1', '1.5', '1e3', '123456789012345678901'],
    );
  });

  it('refuse arbitrary JSON as a registration, and never throw on it (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => {
        expect(Value.Check(schemas.SbRegisterRequest, value)).toBe(false);
      }),
      { seed: testSeed, numRuns: 500 },
    );
  });
});

describe('registrationSigningInput', () => {
  it('is "capsule-register-v2\\0" ‖ nonce ‖ "\\0" host id (lower case) "\\0" hostname "\\0" locator "\\0" ‖ X25519 key', () => {
    const nonce = Uint8Array.of(1, 2, 3);
    const key = new Uint8Array(32).fill(9);
    const input = registrationSigningInput({
      nonce,
      hostId: 'FD00::A',
      hostname: 'h1',
      locator: '192.0.2.7:7447',
      x25519PublicKey: key,
    });
    const expected = Buffer.concat([
      Buffer.from('capsule-register-v2\0'),
      Buffer.from(nonce),
      Buffer.from('\0fd00::a\0h1\x00192.0.2.7:7447\0'),
      Buffer.from(key),
    ]);
    expect(Buffer.from(input)).toEqual(expected);
  });

  it('differs whenever a field differs, the locator included (fixed-size nonce and key, as the controller issues them)', () => {
    const field = fc.record({
      nonce: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      hostId: fc.constantFrom('fd00::1', 'fd00::2', 'fd00::12'),
      hostname: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,20}$/),
      locator: fc.constantFrom('192.0.2.1:7447', '192.0.2.1:7448', '[fd00::1]:7447', 'e1:7447'),
      x25519PublicKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    });
    fc.assert(
      fc.property(field, field, (a, b) => {
        const same =
          Buffer.from(a.nonce).equals(Buffer.from(b.nonce)) &&
          a.hostId === b.hostId &&
          a.hostname === b.hostname &&
          a.locator === b.locator &&
          Buffer.from(a.x25519PublicKey).equals(Buffer.from(b.x25519PublicKey));
        expect(
          Buffer.from(registrationSigningInput(a)).equals(Buffer.from(registrationSigningInput(b))),
        ).toBe(same);
      }),
      { seed: testSeed, numRuns: 500 },
    );
  });
});
