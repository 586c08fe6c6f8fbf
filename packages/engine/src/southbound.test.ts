import type { SbLinkRequest, SouthboundClient } from '@capsule/api';
import type { LinkInfo } from '@capsule/overlay';
import { createManualClock, testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createControllerHooks,
  type EngineLinkSet,
  linkSetOfCommand,
  revocationsOfCommand,
} from './southbound';

/** The link reports an engine makes, through a client that records them (and fails when told to). */
function hooksRecording() {
  const reports: SbLinkRequest[] = [];
  const contractTags: unknown[] = [];
  const linkSets: EngineLinkSet[] = [];
  /** The failure of the next report: a network failure (no code) or the controller's refusal. */
  let failNext: Error | undefined;
  const client = {
    registerLink: async (body: SbLinkRequest) => {
      reports.push(body);
      const failure = failNext;
      failNext = undefined;
      if (failure) throw failure;
      return {};
    },
  } as unknown as SouthboundClient;
  const clock = createManualClock(Date.UTC(2027, 0, 15));
  const warnings: string[] = [];
  const hooks = createControllerHooks(
    { locator: '10.0.0.3:7447' },
    {
      client,
      clock,
      logger: { warn: (_fields: unknown, message: string) => warnings.push(message) } as never,
      counters: () => ({}) as never,
      revoke: () => {},
      refreshLinks: () => {},
      setContractTags: (contracts) => contractTags.push(contracts),
      setLinkSet: (set) => linkSets.push(set),
      linkCost: () => 20,
    },
  );
  const link = (state: LinkInfo['state']) =>
    ({
      id: 1,
      peerHostId: new Uint8Array(16).fill(0xfd, 0, 1),
      peerUnderlay: { host: '10.0.0.4', port: 7447 },
      state,
    }) as unknown as LinkInfo;
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return {
    hooks,
    link,
    reports,
    warnings,
    contractTags,
    linkSets,
    settle,
    clock,
    /** The next report fails as the controller refusing it (LINK_REFUSED) would. */
    refuse: () => (failNext = Object.assign(new Error('refused'), { code: 'LINK_REFUSED', status: 403 })),
    /** The next report fails as an unreachable controller would (no answer). */
    fail: () => (failNext = Object.assign(new Error('controller unreachable'), { code: 'UNAVAILABLE' })),
  };
}

describe('engine link reports to the controller', () => {
  it('registers a link once when it comes up, reports it down once, and up again', async () => {
    const { hooks, link, reports, settle } = hooksRecording();
    hooks.onLinkChange(link('handshaking'));
    hooks.onLinkChange(link('up'));
    hooks.onLinkChange(link('up'));
    await settle();
    hooks.onLinkChange(link('down'));
    hooks.onLinkChange(link('down'));
    await settle();
    hooks.onLinkChange(link('up'));
    await settle();
    expect(reports.map((report) => report.status ?? 'up')).toEqual(['up', 'down', 'up']);
    expect(reports[0]).toMatchObject({
      localEndpoint: '10.0.0.3:7447',
      remoteEndpoint: '10.0.0.4:7447',
      cost: 20,
    });
  });

  it('sends a down only once the up before it was answered; the latest of those waiting goes', async () => {
    const { hooks, link, reports, settle } = hooksRecording();
    hooks.onLinkChange(link('up'));
    hooks.onLinkChange(link('down'));
    expect(reports.map((report) => report.status ?? 'up')).toEqual(['up']); // the down waits
    await settle();
    expect(reports.map((report) => report.status ?? 'up')).toEqual(['up', 'down']);
    hooks.onLinkChange(link('up'));
    hooks.onLinkChange(link('down'));
    hooks.onLinkChange(link('up'));
    await settle();
    // The up in flight, then only the latest of the two that waited behind it.
    expect(reports.map((report) => report.status ?? 'up')).toEqual(['up', 'down', 'up', 'up']);
  });

  it('a refused up does not forget a newer up of the same link: its down is still reported', async () => {
    const { hooks, link, reports, settle, refuse } = hooksRecording();
    refuse();
    hooks.onLinkChange(link('up')); // in flight, then refused
    hooks.onLinkChange(link('down'));
    hooks.onLinkChange(link('up')); // waits (the down it replaced is never sent), then registered
    await settle();
    await settle();
    hooks.onLinkChange(link('down'));
    await settle();
    expect(reports.map((report) => report.status ?? 'up')).toEqual(['up', 'up', 'down']);
  });

  it('tries a refused up registration again at the next up, and logs the refusal', async () => {
    const { hooks, link, reports, warnings, settle, refuse, clock } = hooksRecording();
    refuse();
    hooks.onLinkChange(link('up'));
    await settle();
    clock.advance(60_000); // a refusal is final: not tried again by itself
    await settle();
    expect(reports).toHaveLength(1);
    hooks.onLinkChange(link('up'));
    await settle();
    expect(reports.map((report) => report.status ?? 'up')).toEqual(['up', 'up']);
    expect(warnings).toEqual(['link report refused']);
  });

  it('tries a down report that failed (the controller unreachable) again until it is answered', async () => {
    const { hooks, link, reports, warnings, settle, fail, clock } = hooksRecording();
    hooks.onLinkChange(link('up'));
    await settle();
    fail();
    hooks.onLinkChange(link('down'));
    await settle();
    expect(reports.map((report) => report.status ?? 'up')).toEqual(['up', 'down']);
    fail();
    clock.advance(1000); // the first retry, 1 s later: fails again
    await settle();
    clock.advance(1999);
    await settle();
    expect(reports).toHaveLength(3); // the next waits 2 s
    clock.advance(1);
    await settle();
    expect(reports.map((report) => report.status ?? 'up')).toEqual(['up', 'down', 'down', 'down']);
    clock.advance(60_000); // answered: nothing more
    await settle();
    expect(reports).toHaveLength(4);
    expect(warnings).toEqual(['link report failed; retrying', 'link report failed; retrying']);
  });
});

describe('link-tags commands', () => {
  it('hands the decoded role routes to the engine, and refuses a malformed command without a change', () => {
    const { hooks, warnings, contractTags } = hooksRecording();
    const payload = { contracts: [{ contractId: 3, links: [{ peer: 'fd00::2', tags: 8 }], extra: 1 }] };
    hooks.obey({ kind: 'link-tags', payload } as never);
    expect(contractTags).toEqual([[{ contractId: 3, links: [{ peer: 'fd00::2', tags: 8 }] }]]);
    for (const bad of [null, { contracts: 'all' }, { contracts: [{ contractId: 3, links: [{ peer: 1 }] }] }])
      hooks.obey({ kind: 'link-tags', payload: bad } as never);
    expect(contractTags).toHaveLength(1);
    expect(warnings).toEqual([
      'link-tags command refused',
      'link-tags command refused',
      'link-tags command refused',
    ]);
  });
});

describe('revocation commands', () => {
  it('reads serials with their ends, skipping malformed serials and ignoring malformed ends', () => {
    const revocation = (payload: unknown) => revocationsOfCommand({ kind: 'revocation', payload });
    expect(
      revocation({
        serials: ['12', 'x', '18446744073709551615', 7, '123456789012345678901'],
        notAfter: ['2026-11-21T12:00:00.000Z', null, 'not a time'],
      }),
    ).toEqual([
      { serial: 12n, notAfterMs: Date.UTC(2026, 10, 21, 12) },
      { serial: 18446744073709551615n, notAfterMs: undefined },
    ]);
    expect(revocation({ serials: ['5'], notAfter: 'soon' })).toEqual([{ serial: 5n, notAfterMs: undefined }]);
    for (const payload of [null, undefined, 'serials', { serials: '1' }, { serials: {} }, []])
      expect(revocation(payload)).toEqual([]);
    expect(revocationsOfCommand({ kind: 'path-change', payload: { serials: ['1'] } })).toEqual([]);
  });
});

describe('keep-alives the controller refuses', () => {
  /** Hooks on a manual clock whose client refuses keep-alives with `code` until told otherwise. */
  function refusingHooks(code: string | undefined) {
    const clock = createManualClock(Date.UTC(2027, 0, 15));
    let refusal = code;
    let keepalives = 0;
    let renewalChecks = 0;
    const reconnects: number[] = [];
    const client = {
      keepalive: async () => {
        keepalives += 1;
        if (refusal !== undefined)
          throw Object.assign(new Error(`refused: ${refusal}`), { code: refusal, status: 401 });
        return { commands: [] };
      },
      events: async () => {}, // the push channel opens at once (and never ends)
    } as unknown as SouthboundClient;
    const hooks = createControllerHooks(
      { locator: '10.0.0.3:7447', keepaliveIntervalMs: 30_000 },
      {
        client,
        clock,
        logger: { warn() {}, info() {}, debug() {}, error() {} },
        counters: () => ({ verdicts: {} }) as never,
        revoke: () => {},
        refreshLinks: () => {},
        setContractTags: () => {},
        renewCertificate: async () => {
          renewalChecks += 1;
        },
        reregister: async () => {
          reconnects.push(clock.nowMs());
          refusal = undefined; // a new registration brings a new token
        },
      },
    );
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    return {
      clock,
      hooks,
      settle,
      get keepalives() {
        return keepalives;
      },
      get renewalChecks() {
        return renewalChecks;
      },
      reconnects,
    };
  }

  it('registers again when the token ran out, and the next keep-alive goes through (renewals checked again)', async () => {
    const run = refusingHooks('UNAUTHENTICATED');
    const stop = run.hooks.start();
    await run.settle();
    expect(run.reconnects).toHaveLength(1);
    expect(run.renewalChecks).toBe(0);
    run.clock.advance(30_000);
    await run.settle();
    expect(run.keepalives).toBe(2);
    expect(run.renewalChecks).toBe(1);
    expect(run.reconnects).toHaveLength(1);
    stop();
  });

  it('registers again when the controller forgot the node; not for other failures', async () => {
    const forgot = refusingHooks('NODE_NOT_REGISTERED');
    forgot.hooks.start()();
    await forgot.settle();
    expect(forgot.reconnects).toHaveLength(1);
    for (const code of ['UNAVAILABLE', 'INTERNAL', undefined]) {
      const failing = refusingHooks(code ?? 'ECONNREFUSED');
      const stop = failing.hooks.start();
      await failing.settle();
      failing.clock.advance(30_000);
      await failing.settle();
      expect(failing.keepalives, String(code)).toBe(2);
      expect(failing.reconnects, String(code)).toEqual([]);
      stop();
    }
  });
});

describe('link-set commands (the links the controller wants)', () => {
  const entry = { peer: 'fd00:ca:1ab::e2', name: 'e2', locator: '10.228.0.4:7447', cost: 10, dial: true };

  it('hands the engine the links to dial and the costs by peer', () => {
    const { hooks, linkSets } = hooksRecording();
    hooks.obey({
      kind: 'link-set',
      payload: {
        links: [entry, { ...entry, peer: 'FD00:CA:1AB::E3', locator: '[fd00::3]:9', cost: 3, dial: false }],
      },
    });
    expect(linkSets).toHaveLength(1);
    expect(linkSets[0]!.links.map((link) => [link.underlay, link.dial])).toEqual([
      [{ host: '10.228.0.4', port: 7447 }, true],
      [{ host: 'fd00::3', port: 9 }, false],
    ]);
    expect([...linkSets[0]!.costs]).toEqual([
      ['fd00:ca:1ab::e2', 10],
      ['fd00:ca:1ab::e3', 3],
    ]);
    hooks.obey({ kind: 'link-set', payload: { links: [] } });
    expect(linkSets[1]!.links).toEqual([]);
  });

  it('follows a set pushed, not an older one a keep-alive brings after it; counts from the start again after registering anew', async () => {
    const command = (id: number, links: unknown[]) => ({
      id,
      kind: 'link-set',
      payload: { links },
      createdAt: '2027-01-15T00:00:00.000Z',
    });
    const clock = createManualClock(Date.UTC(2027, 0, 15));
    const linkSets: EngineLinkSet[] = [];
    const warnings: string[] = [];
    let answers: unknown[][] = [[command(5, [entry]), command(7, []), command(4, [entry])]];
    let refuse = false;
    const client = {
      keepalive: async () => {
        if (refuse) throw Object.assign(new Error('refused'), { code: 'NODE_NOT_REGISTERED', status: 404 });
        return { commands: answers.shift() ?? [] };
      },
      // The push channel brings the set of 7 first; then a malformed command, refused.
      events: async (onEvent: (event: { kind: string; payload: unknown }) => void) => {
        onEvent({ kind: 'link-set', payload: command(7, []) });
        onEvent({ kind: 'link-set', payload: { id: 'eight', kind: 'link-set', payload: { links: [] } } });
      },
    } as unknown as SouthboundClient;
    const hooks = createControllerHooks(
      { locator: '10.0.0.3:7447', keepaliveIntervalMs: 30_000 },
      {
        client,
        clock,
        logger: {
          warn: (_fields: unknown, message: string) => warnings.push(message),
          info() {},
          debug() {},
          error() {},
        } as never,
        counters: () => ({ verdicts: {} }) as never,
        revoke: () => {},
        refreshLinks: () => {},
        setContractTags: () => {},
        setLinkSet: (set) => linkSets.push(set),
        reregister: async () => {
          refuse = false;
        },
      },
    );
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    const stop = hooks.start();
    await settle();
    await settle();
    // The push's 7 (empty); the keep-alive's 5 and 4 older, its 7 the same one: none applied.
    expect(linkSets.map((set) => set.links.length)).toEqual([0]);
    expect(warnings).toContain('controller command refused');
    // Registered anew (the controller lost the node: a restored store may count from lower).
    refuse = true;
    clock.advance(30_000);
    await settle();
    await settle();
    answers = [[command(3, [entry])]];
    clock.advance(30_000);
    await settle();
    await settle();
    expect(linkSets.map((set) => set.links.length)).toEqual([0, 1]);
    stop();
  });

  it('refuses a malformed set whole and keeps the previous one (nothing handed over, a warning)', () => {
    const { hooks, linkSets, warnings } = hooksRecording();
    for (const payload of [
      undefined,
      { links: 'all' },
      { links: [{ ...entry, peer: '::::::::::' }] }, // passes the text check, not an address
      { links: [{ ...entry, peer: 'fd00::1:2:3:4:5:6:7:8' }] },
      { links: [{ ...entry, locator: '10.0.0.1:0' }] },
      { links: [{ ...entry, cost: 0 }] },
      { links: [entry, entry] },
      { links: [{ ...entry, dial: 'yes' }] },
    ])
      hooks.obey({ kind: 'link-set', payload: payload as never });
    expect(linkSets).toEqual([]);
    expect(warnings.filter((w) => w.startsWith('link-set command refused'))).toHaveLength(8);
  });

  it('never throws on arbitrary payloads; what it takes has parsed addresses (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue({ maxDepth: 4 }),
          fc.record({
            links: fc.array(
              fc.record({
                peer: fc.oneof(fc.ipV6(), fc.string({ maxLength: 50 })),
                name: fc.string({ maxLength: 10 }),
                locator: fc.oneof(
                  fc.tuple(fc.ipV4(), fc.integer({ min: -1, max: 70_000 })).map(([h, p]) => `${h}:${p}`),
                  fc.string({ maxLength: 70 }),
                ),
                cost: fc.integer({ min: -1, max: 70_000 }),
                dial: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
              }),
              { maxLength: 5 },
            ),
          }),
        ),
        (payload) => {
          const set = linkSetOfCommand({ kind: 'link-set', payload });
          if (!set) return;
          for (const link of set.links) {
            expect(link.peerHostId).toHaveLength(16);
            expect(link.underlay.port >= 1 && link.underlay.port <= 65535).toBe(true);
          }
          for (const cost of set.costs.values()) expect(cost >= 1 && cost <= 65535).toBe(true);
        },
      ),
      { seed: testSeed, numRuns: 1000 },
    );
  });
});
