import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import {
  decodeNodeCommand,
  decodeNodeCommandPayload,
  linkSetCommand,
  linkTagsCommand,
  type NodeCommandResult,
  nodeCommandKinds,
  pathChangeCommand,
  revocationCommand,
  revocationsOf,
  revokedHostsOf,
} from './node-command';
import {
  maxLinkSetLinks,
  maxLinkTagContracts,
  maxLinkTagLinks,
  maxPathChangeEndpoints,
  maxPathHops,
  maxPeers,
  maxRevocationHosts,
  maxRevocationSerials,
  NodeCommand,
  type Peer,
} from './schemas';

const envelope = { id: 7, createdAt: '2026-11-21T12:00:00.000Z' };
const peer: Peer = {
  endpointId: 3,
  hostId: 'fd00::3',
  role: 'server',
  x25519PublicKey: Buffer.alloc(32, 1).toString('base64'),
  path: ['fd00::1', 'fd00::2', 'fd00::3'],
  cost: 20,
};

function expectRefused(result: NodeCommandResult<unknown>, code: string, path?: string) {
  expect(result.ok, JSON.stringify(result)).toBe(false);
  if (result.ok) return;
  expect(result.error.code).toBe(code);
  if (path !== undefined) expect(result.error.path).toBe(path);
  expect(result.error.message.length).toBeGreaterThan(0);
}

// ---- arbitraries of valid commands ----------------------------------------------------------

const serial = fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }).map(String);
const time = fc
  .date({ min: new Date(Date.UTC(2000, 0, 1)), max: new Date(Date.UTC(2100, 0, 1)), noInvalidDate: true })
  .map((date) => date.toISOString());
const id = fc.integer({ min: 1, max: 2_147_483_647 });
const text = (maxLength: number) => fc.string({ maxLength });
const peerArb: fc.Arbitrary<Peer> = fc.record({
  endpointId: id,
  hostId: text(45),
  role: text(60),
  x25519PublicKey: text(64),
  path: fc.array(text(45), { maxLength: 8 }),
  cost: fc.integer({ min: -1, max: 1_000_000 }),
});
const hostIdArb = fc
  .array(fc.constantFrom(...'0123456789abcdef:'), { minLength: 2, maxLength: 45 })
  .map((chars) => chars.join(''));
const groupKeyArb = fc.record({
  role: fc.constantFrom('client', 'server', 'member'),
  epoch: fc.integer({ min: 1, max: 0xffff_ffff }),
  use: fc.constantFrom('open' as const, 'seal' as const),
  key: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString('base64')),
});
const validCommand = fc.oneof(
  fc
    .tuple(
      fc.array(fc.record({ serial, notAfter: time }), { maxLength: 20 }),
      fc.array(fc.record({ hostId: hostIdArb, notAfter: time }), { maxLength: 5 }),
    )
    .map(([revocations, hosts]) => revocationCommand(revocations, hosts)),
  fc
    .array(
      fc.record(
        {
          endpointId: id,
          peers: fc.array(peerArb, { maxLength: 4 }),
          groupKeys: fc.array(groupKeyArb, { maxLength: 2 }),
        },
        { requiredKeys: ['endpointId', 'peers'] },
      ),
      { maxLength: 4 },
    )
    .map((endpoints) => pathChangeCommand(endpoints)),
  fc
    .array(
      fc.record({
        contractId: id,
        engineTags: fc.integer({ min: 1, max: 0xffff_ffff }),
        links: fc.array(fc.record({ peer: text(45), tags: fc.integer({ min: 0, max: 0xffff_ffff }) }), {
          maxLength: 4,
        }),
      }),
      { maxLength: 4 },
    )
    .map((contracts) => linkTagsCommand(contracts)),
  fc
    .uniqueArray(
      fc.record({
        peer: hostIdArb,
        name: text(253),
        locator: fc
          .tuple(
            fc.oneof(
              fc.ipV4(),
              fc.ipV6().map((address) => `[${address}]`),
              fc.domain(),
            ),
            fc.integer({ min: 1, max: 65535 }),
          )
          .map(([host, port]) => `${host}:${port}`)
          .filter((locator) => locator.length <= 64),
        cost: fc.integer({ min: 1, max: 65535 }),
        dial: fc.boolean(),
      }),
      { selector: (entry) => entry.peer, maxLength: 4 },
    )
    .map((links) => linkSetCommand(links)),
  fc.constant({ kind: 'refresh-configuration' as const, payload: {} }),
  fc.constant({ kind: 'report-statistics' as const, payload: {} }),
);
const commandArb = fc
  .tuple(id, time, validCommand)
  .map(([commandId, createdAt, body]) => ({ id: commandId, ...body, createdAt }));

describe('node commands: constructors and schemas', () => {
  it('builds commands the NodeCommand schema accepts, serials paired with their ends', () => {
    const revocation = revocationCommand([
      { serial: '12', notAfter: '2026-11-22T12:00:00.000Z' },
      { serial: '18446744073709551615', notAfter: '2026-11-23T12:00:00.000Z' },
    ]);
    expect(revocation).toEqual({
      kind: 'revocation',
      payload: {
        serials: ['12', '18446744073709551615'],
        notAfter: ['2026-11-22T12:00:00.000Z', '2026-11-23T12:00:00.000Z'],
      },
    });
    expect(Value.Check(NodeCommand, { ...envelope, ...revocation })).toBe(true);
    const change = pathChangeCommand([{ endpointId: 4, peers: [peer] }]);
    expect(change).toEqual({
      kind: 'path-change',
      payload: { endpoints: [{ endpointId: 4, peers: [peer] }] },
    });
    expect(Value.Check(NodeCommand, { ...envelope, ...change })).toBe(true);
    // The schema is a discriminated union: a payload of another kind does not pass.
    expect(Value.Check(NodeCommand, { ...envelope, kind: 'revocation', payload: change.payload })).toBe(
      false,
    );
    expect(Value.Check(NodeCommand, { ...envelope, kind: 'reboot', payload: {} })).toBe(false);
  });
});

describe('decodeNodeCommand', () => {
  it('decodes decommissioned host ids with their ends: malformed ones skipped, the rest kept', () => {
    const built = revocationCommand(
      [{ serial: '9', notAfter: '2026-11-22T12:00:00.000Z' }],
      [{ hostId: 'fd00::7', notAfter: '2026-12-21T12:00:00.000Z' }],
    );
    expect(Value.Check(NodeCommand, { ...envelope, ...built })).toBe(true);
    const result = decodeNodeCommand({
      ...envelope,
      kind: 'revocation',
      payload: {
        serials: [],
        hostIds: ['FD00::7', 'not-an-address', 42, 'fd00::8', '1'.repeat(46), { x: 1 }, 'fd00::9'],
        hostsNotAfter: ['2026-12-21T12:00:00.000Z', null, null, 'soon', null, null],
      },
    });
    if (!result.ok || result.value.kind !== 'revocation') throw new Error(JSON.stringify(result));
    expect(revokedHostsOf(result.value.payload)).toEqual([
      { hostId: 'fd00::7', notAfterMs: Date.UTC(2026, 11, 21, 12) },
      { hostId: 'fd00::8', notAfterMs: undefined },
      { hostId: 'fd00::9', notAfterMs: undefined },
    ]);
    // Without host ids the payload has none (an older controller's command).
    const plain = decodeNodeCommand({ ...envelope, kind: 'revocation', payload: { serials: ['1'] } });
    expect(plain.ok && plain.value.kind === 'revocation' && revokedHostsOf(plain.value.payload)).toEqual([]);
    // Not a list, or too long: the command is refused (its serials are not half-applied).
    expectRefused(
      decodeNodeCommand({ ...envelope, kind: 'revocation', payload: { serials: ['1'], hostIds: 'fd00::1' } }),
      'BAD_FIELD',
      '/payload/hostIds',
    );
    expectRefused(
      decodeNodeCommand({
        ...envelope,
        kind: 'revocation',
        payload: { serials: [], hostIds: Array.from({ length: maxRevocationHosts + 1 }, () => 'fd00::1') },
      }),
      'LIMIT_EXCEEDED',
      '/payload/hostIds',
    );
  });

  it('gives back every command the controller builds, unchanged (property)', () => {
    fc.assert(
      fc.property(commandArb, (command) => {
        const result = decodeNodeCommand(JSON.parse(JSON.stringify(command)));
        expect(result).toEqual({ ok: true, value: command });
      }),
      { seed: testSeed, numRuns: 400 },
    );
  });

  it('decodes each kind, and the revocations as numbers with their ends', () => {
    const result = decodeNodeCommand({
      ...envelope,
      kind: 'revocation',
      payload: { serials: ['12', '5'], notAfter: ['2026-11-21T12:00:00.000Z', null] },
    });
    expect(result.ok).toBe(true);
    if (!result.ok || result.value.kind !== 'revocation') throw new Error('not a revocation');
    expect(revocationsOf(result.value.payload)).toEqual([
      { serial: 12n, notAfterMs: Date.UTC(2026, 10, 21, 12) },
      { serial: 5n, notAfterMs: undefined },
    ]);
    for (const kind of ['refresh-configuration', 'report-statistics'] as const)
      expect(decodeNodeCommand({ ...envelope, kind, payload: {} })).toEqual({
        ok: true,
        value: { ...envelope, kind, payload: {} },
      });
    // A revocation queued before notAfter existed (older stores) still decodes.
    expect(decodeNodeCommand({ ...envelope, kind: 'revocation', payload: { serials: ['9'] } })).toEqual({
      ok: true,
      value: { ...envelope, kind: 'revocation', payload: { serials: ['9'] } },
    });
  });

  it('skips malformed serials, keeps the others in canonical form with the end at their index', () => {
    const result = decodeNodeCommandPayload('revocation', {
      serials: [
        '12',
        'x',
        '18446744073709551615',
        7,
        '123456789012345678901',
        '18446744073709551616',
        '007',
        '',
      ],
      notAfter: ['2026-11-21T12:00:00.000Z', null, 'not a time', null, null, null, 42],
    });
    expect(result).toEqual({
      ok: true,
      value: {
        kind: 'revocation',
        payload: {
          serials: ['12', '18446744073709551615', '7'],
          notAfter: ['2026-11-21T12:00:00.000Z', null, null],
        },
      },
    });
    // Ends that are not a list are no ends at all.
    expect(decodeNodeCommandPayload('revocation', { serials: ['5'], notAfter: 'soon' })).toEqual({
      ok: true,
      value: { kind: 'revocation', payload: { serials: ['5'] } },
    });
  });

  it('refuses what is not a command, naming the field', () => {
    for (const value of [null, undefined, 7, 'revocation', [], [envelope], true])
      expectRefused(decodeNodeCommand(value), value === undefined ? 'MISSING' : 'BAD_FIELD', '');
    const base = { ...envelope, kind: 'refresh-configuration', payload: {} };
    expectRefused(decodeNodeCommand({ ...base, id: 0 }), 'BAD_FIELD', '/id');
    expectRefused(decodeNodeCommand({ ...base, id: 1.5 }), 'BAD_FIELD', '/id');
    expectRefused(decodeNodeCommand({ ...base, id: '7' }), 'BAD_FIELD', '/id');
    expectRefused(decodeNodeCommand({ ...base, id: 2 ** 31 }), 'BAD_FIELD', '/id');
    expectRefused(decodeNodeCommand({ ...base, id: undefined }), 'MISSING', '/id');
    expectRefused(decodeNodeCommand({ ...base, kind: 'reboot' }), 'UNKNOWN_TYPE', '/kind');
    expectRefused(decodeNodeCommand({ ...base, kind: 'x'.repeat(100_000) }), 'UNKNOWN_TYPE', '/kind');
    expect(JSON.stringify(decodeNodeCommand({ ...base, kind: 'x'.repeat(100_000) })).length).toBeLessThan(
      300,
    );
    expectRefused(decodeNodeCommand({ ...base, kind: ['revocation'] }), 'BAD_FIELD', '/kind');
    expectRefused(decodeNodeCommand({ ...base, kind: 'toString' }), 'UNKNOWN_TYPE', '/kind');
    expectRefused(decodeNodeCommand({ ...base, createdAt: 5 }), 'BAD_FIELD', '/createdAt');
    expectRefused(decodeNodeCommand({ ...base, createdAt: 'x'.repeat(41) }), 'LIMIT_EXCEEDED', '/createdAt');
    expectRefused(decodeNodeCommand({ ...base, payload: null }), 'BAD_FIELD', '/payload');
    expectRefused(decodeNodeCommand({ ...base, payload: undefined }), 'MISSING', '/payload');
  });

  it('refuses a path-change whose group key is not a whole one (role, epoch, use, 32 bytes)', () => {
    const command = (groupKeys: unknown) =>
      decodeNodeCommand({
        ...envelope,
        kind: 'path-change',
        payload: { endpoints: [{ endpointId: 1, peers: [], groupKeys }] },
      });
    const key = { role: 'server', epoch: 2, use: 'open', key: Buffer.alloc(32, 1).toString('base64') };
    expect(command([key])).toMatchObject({
      ok: true,
      value: { payload: { endpoints: [{ groupKeys: [key] }] } },
    });
    const at = '/payload/endpoints/0/groupKeys';
    expectRefused(command('x'), 'BAD_FIELD', at);
    expectRefused(command([key, key, key]), 'LIMIT_EXCEEDED', at);
    expectRefused(command([{ ...key, use: 'both' }]), 'BAD_FIELD', `${at}/0/use`);
    expectRefused(command([{ ...key, epoch: 0 }]), 'BAD_FIELD', `${at}/0/epoch`);
    expectRefused(command([{ ...key, epoch: 2 ** 32 }]), 'BAD_FIELD', `${at}/0/epoch`);
    expectRefused(command([{ ...key, role: '' }]), 'BAD_FIELD', `${at}/0/role`);
    expectRefused(
      command([{ ...key, key: Buffer.alloc(31).toString('base64') }]),
      'BAD_FIELD',
      `${at}/0/key`,
    );
    expectRefused(command([{ ...key, key: `${'A'.repeat(44)}=` }]), 'LIMIT_EXCEEDED', `${at}/0/key`);
    expectRefused(command([{ ...key, key: undefined }]), 'MISSING', `${at}/0/key`);
  });

  it('refuses a payload of the wrong shape for its kind', () => {
    const command = (kind: string, payload: unknown) => decodeNodeCommand({ ...envelope, kind, payload });
    for (const payload of [null, [], 'serials', { serials: '1' }, { serials: {} }, { notAfter: [] }])
      expect(command('revocation', payload).ok).toBe(false);
    // A path-change's payload is not a revocation's, and the other way round.
    expectRefused(command('revocation', { endpoints: [] }), 'MISSING', '/payload/serials');
    expectRefused(command('path-change', { serials: ['1'] }), 'MISSING', '/payload/endpoints');
    const endpoints = (peers: unknown[]) => ({ endpoints: [{ endpointId: 4, peers }] });
    expectRefused(
      command('path-change', endpoints([{ ...peer, cost: '20' }])),
      'BAD_FIELD',
      '/payload/endpoints/0/peers/0/cost',
    );
    expectRefused(
      command('path-change', endpoints([{ ...peer, path: 'fd00::1' }])),
      'BAD_FIELD',
      '/payload/endpoints/0/peers/0/path',
    );
    expectRefused(
      command('path-change', endpoints([{ ...peer, path: [1] }])),
      'BAD_FIELD',
      '/payload/endpoints/0/peers/0/path/0',
    );
    expectRefused(
      command('path-change', endpoints([{ ...peer, hostId: undefined }])),
      'MISSING',
      '/payload/endpoints/0/peers/0/hostId',
    );
    expectRefused(command('path-change', endpoints([null])), 'BAD_FIELD', '/payload/endpoints/0/peers/0');
    expectRefused(
      command('path-change', { endpoints: [{ endpointId: -1, peers: [] }] }),
      'BAD_FIELD',
      '/payload/endpoints/0/endpointId',
    );
    expectRefused(command('refresh-configuration', 'now'), 'BAD_FIELD', '/payload');
    // link-tags: ids, peers and tag words checked where they are.
    const tags = (links: unknown[]) => ({ contracts: [{ contractId: 2, links }] });
    expectRefused(command('link-tags', { endpoints: [] }), 'MISSING', '/payload/contracts');
    expectRefused(
      command('link-tags', { contracts: [{ contractId: 0, links: [] }] }),
      'BAD_FIELD',
      '/payload/contracts/0/contractId',
    );
    expectRefused(command('link-tags', tags([{ peer: 'fd00::2', tags: 2 ** 32 }])), 'BAD_FIELD');
    expectRefused(
      command('link-tags', { contracts: [{ contractId: 2, engineTags: '1', links: [] }] }),
      'BAD_FIELD',
      '/payload/contracts/0/engineTags',
    );
    expectRefused(command('link-tags', tags([{ peer: 'fd00::2', tags: -1 }])), 'BAD_FIELD');
    expectRefused(
      command('link-tags', tags([{ peer: 'fd00::2', tags: 1.5 }])),
      'BAD_FIELD',
      '/payload/contracts/0/links/0/tags',
    );
    expectRefused(command('link-tags', tags([{ tags: 8 }])), 'MISSING', '/payload/contracts/0/links/0/peer');
    expectRefused(command('link-tags', tags(['fd00::2'])), 'BAD_FIELD', '/payload/contracts/0/links/0');
    const decoded = command('link-tags', tags([{ peer: 'fd00::2', tags: 0xffff_ffff, extra: 1 }]));
    expect(decoded).toEqual({
      ok: true,
      value: {
        id: 7,
        kind: 'link-tags',
        payload: { contracts: [{ contractId: 2, links: [{ peer: 'fd00::2', tags: 0xffff_ffff }] }] },
        createdAt: envelope.createdAt,
      },
    });
  });

  it('refuses oversized lists and strings', () => {
    const command = (kind: string, payload: unknown) => decodeNodeCommand({ ...envelope, kind, payload });
    expectRefused(
      command('revocation', { serials: Array.from({ length: maxRevocationSerials + 1 }, () => '1') }),
      'LIMIT_EXCEEDED',
      '/payload/serials',
    );
    expect(
      command('revocation', { serials: Array.from({ length: maxRevocationSerials }, () => '1') }).ok,
    ).toBe(true);
    expectRefused(
      command('path-change', { endpoints: Array.from({ length: maxPathChangeEndpoints + 1 }, () => ({})) }),
      'LIMIT_EXCEEDED',
      '/payload/endpoints',
    );
    const endpoints = (peers: unknown[]) => ({ endpoints: [{ endpointId: 4, peers }] });
    expectRefused(
      command('path-change', endpoints(Array.from({ length: maxPeers + 1 }, () => peer))),
      'LIMIT_EXCEEDED',
    );
    expectRefused(
      command(
        'path-change',
        endpoints([{ ...peer, path: Array.from({ length: maxPathHops + 1 }, () => 'fd00::1') }]),
      ),
      'LIMIT_EXCEEDED',
      '/payload/endpoints/0/peers/0/path',
    );
    expectRefused(command('path-change', endpoints([{ ...peer, role: 'r'.repeat(61) }])), 'LIMIT_EXCEEDED');
    expectRefused(
      command('link-tags', { contracts: Array.from({ length: maxLinkTagContracts + 1 }, () => ({})) }),
      'LIMIT_EXCEEDED',
      '/payload/contracts',
    );
    expectRefused(
      command('link-tags', {
        contracts: [{ contractId: 1, links: Array.from({ length: maxLinkTagLinks + 1 }, () => ({})) }],
      }),
      'LIMIT_EXCEEDED',
      '/payload/contracts/0/links',
    );
    expectRefused(
      command('link-tags', { contracts: [{ contractId: 1, links: [{ peer: 'f'.repeat(46), tags: 1 }] }] }),
      'LIMIT_EXCEEDED',
      '/payload/contracts/0/links/0/peer',
    );
    expectRefused(
      command('path-change', endpoints([{ ...peer, hostId: 'f'.repeat(1_000_000) }])),
      'LIMIT_EXCEEDED',
    );
  });

  it('drops extra fields everywhere, prototype keys included', () => {
    const hostile = JSON.parse(
      JSON.stringify({
        ...envelope,
        kind: 'path-change',
        extra: 1,
        payload: { endpoints: [{ endpointId: 4, peers: [{ ...peer, admin: true }], more: 'x' }], also: [] },
      }).replace('"extra":1', '"extra":1,"__proto__":{"polluted":true}'),
    );
    const result = decodeNodeCommand(hostile);
    expect(result).toEqual({
      ok: true,
      value: { ...envelope, kind: 'path-change', payload: { endpoints: [{ endpointId: 4, peers: [peer] }] } },
    });
    if (!result.ok) return;
    expect(Object.keys(result.value)).toEqual(['id', 'kind', 'payload', 'createdAt']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((result.value as unknown as Record<string, unknown>).polluted).toBeUndefined();
    expect(
      decodeNodeCommand({ ...envelope, kind: 'report-statistics', payload: { anything: [1, 2, 3] } }),
    ).toEqual({ ok: true, value: { ...envelope, kind: 'report-statistics', payload: {} } });
  });

  it('never throws, and what it accepts is well typed, on arbitrary JSON (property)', () => {
    const kinds = fc.constantFrom(...nodeCommandKinds, 'reboot', '', '__proto__');
    const anything = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      fc.record({
        id: fc.jsonValue({ maxDepth: 1 }),
        kind: kinds,
        payload: fc.jsonValue({ maxDepth: 4 }),
        createdAt: fc.jsonValue({ maxDepth: 1 }),
      }),
      fc
        .tuple(commandArb, fc.jsonValue({ maxDepth: 4 }))
        .map(([command, payload]) => ({ ...command, payload })),
      fc.record({
        id,
        kind: fc.constant('revocation'),
        payload: fc.record({
          serials: fc.array(fc.oneof(serial, fc.jsonValue({ maxDepth: 1 })), { maxLength: 10 }),
          notAfter: fc.oneof(
            fc.array(fc.oneof(time, fc.jsonValue({ maxDepth: 1 })), { maxLength: 10 }),
            fc.jsonValue({ maxDepth: 1 }),
          ),
        }),
        createdAt: time,
      }),
    );
    fc.assert(
      fc.property(anything, (value) => {
        const result = decodeNodeCommand(value);
        if (!result.ok) return;
        expect(nodeCommandKinds).toContain(result.value.kind);
        expect(Number.isInteger(result.value.id)).toBe(true);
        if (result.value.kind === 'revocation') {
          const { serials, notAfter } = result.value.payload;
          for (const s of serials) expect(BigInt(s).toString()).toBe(s);
          if (notAfter) expect(notAfter).toHaveLength(serials.length);
          expect(() => revocationsOf(result.value.payload as never)).not.toThrow();
        }
      }),
      { seed: testSeed, numRuns: 2000 },
    );
  });
});

describe('link-set commands (the links a node must have)', () => {
  const entry = {
    peer: 'fd00:1:2:3::e1',
    name: 'e1',
    locator: '10.228.0.3:7447',
    cost: 10,
    dial: true,
  };
  const decode = (links: unknown) => decodeNodeCommand({ ...envelope, kind: 'link-set', payload: { links } });

  it('decodes a set, host ids lowercased, IPv6 and name locators kept', () => {
    const result = decode([
      { ...entry, peer: 'FD00:1:2:3::E1' },
      { ...entry, peer: 'fd00::2', locator: '[fd00::9]:1', dial: false, cost: 65535 },
      { ...entry, peer: 'fd00::3', locator: 'engine-3.example:65535', cost: 1 },
    ]);
    expect(result.ok).toBe(true);
    if (!result.ok || result.value.kind !== 'link-set') return;
    expect(result.value.payload.links.map((link) => [link.peer, link.locator, link.cost, link.dial])).toEqual(
      [
        ['fd00:1:2:3::e1', '10.228.0.3:7447', 10, true],
        ['fd00::2', '[fd00::9]:1', 65535, false],
        ['fd00::3', 'engine-3.example:65535', 1, true],
      ],
    );
    expect(decode([]).ok).toBe(true);
  });

  it('refuses the whole set for one bad entry: peer, duplicate, locator, port, cost, dial, name', () => {
    expectRefused(decode([{ ...entry, peer: 'not an address' }]), 'BAD_FIELD', '/payload/links/0/peer');
    expectRefused(decode([{ ...entry, peer: undefined }]), 'MISSING', '/payload/links/0/peer');
    expectRefused(decode([entry, { ...entry }]), 'BAD_FIELD', '/payload/links/1/peer');
    expectRefused(
      decode([entry, { ...entry, peer: 'FD00:1:2:3::E1' }]),
      'BAD_FIELD',
      '/payload/links/1/peer',
    );
    for (const locator of [
      '10.0.0.1',
      '10.0.0.1:0',
      '10.0.0.1:65536',
      '10.0.0.1:99999',
      ':7447',
      'a b:1',
      '[zz]:1',
    ])
      expectRefused(decode([{ ...entry, locator }]), 'BAD_FIELD', '/payload/links/0/locator');
    expectRefused(decode([{ ...entry, locator: `${'a'.repeat(70)}:1` }]), 'LIMIT_EXCEEDED');
    expectRefused(decode([{ ...entry, locator: 7447 }]), 'BAD_FIELD', '/payload/links/0/locator');
    for (const cost of [0, -1, 65536, 1.5, '10', null])
      expectRefused(decode([{ ...entry, cost }]), 'BAD_FIELD', '/payload/links/0/cost');
    for (const dial of ['true', 1, null])
      expectRefused(decode([{ ...entry, dial }]), 'BAD_FIELD', '/payload/links/0/dial');
    expectRefused(decode([{ ...entry, dial: undefined }]), 'MISSING', '/payload/links/0/dial');
    expectRefused(decode([{ ...entry, name: 'x'.repeat(254) }]), 'LIMIT_EXCEEDED', '/payload/links/0/name');
    expectRefused(decode('all'), 'BAD_FIELD', '/payload/links');
    expectRefused(
      decodeNodeCommand({ ...envelope, kind: 'link-set', payload: {} }),
      'MISSING',
      '/payload/links',
    );
  });

  it('refuses more than maxLinkSetLinks entries', () => {
    const many = Array.from({ length: maxLinkSetLinks + 1 }, (_, i) => ({
      ...entry,
      peer: `fd00::${i.toString(16)}`,
    }));
    expectRefused(decode(many), 'LIMIT_EXCEEDED', '/payload/links');
    expect(decode(many.slice(0, maxLinkSetLinks)).ok).toBe(true);
  });

  it('never throws on mutated sets, and what it accepts keeps its bounds (property)', () => {
    const mutated = fc.array(
      fc.record(
        {
          peer: fc.oneof(hostIdArb, fc.jsonValue({ maxDepth: 1 })),
          name: fc.oneof(text(300), fc.jsonValue({ maxDepth: 1 })),
          locator: fc.oneof(
            fc.tuple(fc.ipV4(), fc.integer({ min: -10, max: 70_000 })).map(([h, p]) => `${h}:${p}`),
            fc.string({ maxLength: 80 }),
            fc.jsonValue({ maxDepth: 1 }),
          ),
          cost: fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.double(), fc.jsonValue({ maxDepth: 1 })),
          dial: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 6 },
    );
    fc.assert(
      fc.property(mutated, (links) => {
        const result = decode(links);
        if (!result.ok || result.value.kind !== 'link-set') return;
        const peers = new Set<string>();
        for (const link of result.value.payload.links) {
          expect(link.cost >= 1 && link.cost <= 65535 && Number.isInteger(link.cost)).toBe(true);
          expect(typeof link.dial).toBe('boolean');
          const port = Number(link.locator.slice(link.locator.lastIndexOf(':') + 1));
          expect(port >= 1 && port <= 65535).toBe(true);
          expect(peers.has(link.peer)).toBe(false);
          peers.add(link.peer);
        }
      }),
      { seed: testSeed, numRuns: 1000 },
    );
  });
});
