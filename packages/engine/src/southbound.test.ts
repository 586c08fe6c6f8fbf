import type { SbLinkRequest, SouthboundClient } from '@capsule/api';
import type { LinkInfo } from '@capsule/overlay';
import { createManualClock } from '@capsule/testkit';
import { describe, expect, it } from 'vitest';
import { createControllerHooks, revocationsOfCommand } from './southbound';

/** The link reports an engine makes, through a client that records them (and fails when told to). */
function hooksRecording() {
  const reports: SbLinkRequest[] = [];
  const contractTags: unknown[] = [];
  let refuseNext = false;
  const client = {
    registerLink: async (body: SbLinkRequest) => {
      reports.push(body);
      if (refuseNext) {
        refuseNext = false;
        throw new Error('controller unreachable');
      }
      return {};
    },
  } as unknown as SouthboundClient;
  const warnings: string[] = [];
  const hooks = createControllerHooks(
    { locator: '10.0.0.3:7447' },
    {
      client,
      clock: { nowMs: () => 0, setInterval: () => () => {} } as never,
      logger: { warn: (_fields: unknown, message: string) => warnings.push(message) } as never,
      counters: () => ({}) as never,
      revoke: () => {},
      refreshLinks: () => {},
      setContractTags: (contracts) => contractTags.push(contracts),
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
  return { hooks, link, reports, warnings, contractTags, settle, refuse: () => (refuseNext = true) };
}

describe('engine link reports to the controller', () => {
  it('registers a link once when it comes up, reports it down once, and up again', async () => {
    const { hooks, link, reports, settle } = hooksRecording();
    hooks.onLinkChange(link('handshaking'));
    hooks.onLinkChange(link('up'));
    hooks.onLinkChange(link('up'));
    hooks.onLinkChange(link('down'));
    hooks.onLinkChange(link('down'));
    hooks.onLinkChange(link('up'));
    await settle();
    expect(reports.map((report) => report.status ?? 'up')).toEqual(['up', 'down', 'up']);
    expect(reports[0]).toMatchObject({
      localEndpoint: '10.0.0.3:7447',
      remoteEndpoint: '10.0.0.4:7447',
      cost: 20,
    });
  });

  it('tries a refused up registration again at the next up, and logs the refusal', async () => {
    const { hooks, link, reports, warnings, settle, refuse } = hooksRecording();
    refuse();
    hooks.onLinkChange(link('up'));
    await settle();
    hooks.onLinkChange(link('up'));
    await settle();
    expect(reports.map((report) => report.status ?? 'up')).toEqual(['up', 'up']);
    expect(warnings).toEqual(['link report refused']);
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
