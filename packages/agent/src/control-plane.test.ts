/**
 * The session reads every controller command with @capsule/api's decoder, from a keep-alive answer
 * and from the push channel alike: a command that does not decode is refused with a warning and
 * the next ones still arrive, each once. The controller here is a hostile stand-in (fetch). And an
 * endpoint answer becomes the CODE and DATA chunks the endpoint sends (decodeEndpoint).
 */
import { generateKeyPairSync } from 'node:crypto';
import type { NodeCommand, SbEndpointResponse } from '@capsule/api';
import { describe, expect, it } from 'vitest';
import { ControlPlane, decodeEndpoint } from './control-plane';

const createdAt = '2026-11-21T12:00:00.000Z';
const revocation = {
  id: 9,
  kind: 'revocation',
  payload: { serials: ['0042', 'x'], notAfter: [createdAt, createdAt] },
  createdAt,
};
const hostile: unknown[] = [
  null,
  { id: 'nine', kind: 'revocation', payload: { serials: [] }, createdAt },
  { id: 3, kind: 'reboot', payload: {}, createdAt },
  { id: 4, kind: 'path-change', payload: { endpoints: [{ endpointId: 1, peers: 'all' }] }, createdAt },
  { id: 5, kind: 'revocation', payload: { serials: Array.from({ length: 5000 }, () => '1') }, createdAt },
];

function session(answer: (path: string) => Response, pushRetryMs?: number) {
  const commands: NodeCommand[] = [];
  const warnings: Record<string, unknown>[] = [];
  const control = new ControlPlane(
    {
      controllerUrl: 'http://controller.invalid',
      credentials: { domain: 'd', username: 'u', password: 'p' },
      hostName: 'h',
      locator: '127.0.0.1:1',
      ...(pushRetryMs === undefined ? {} : { pushRetryMs }),
    },
    {
      onCommand: (command) => commands.push(command),
      log: (level, message, fields) => {
        if (level === 'warn' && message === 'controller command refused') warnings.push(fields ?? {});
      },
    },
    { fetch: async (input) => answer(new URL(String(input)).pathname) },
  );
  return { control, commands, warnings };
}

const decodedRevocation = {
  ...revocation,
  payload: { serials: ['42'], notAfter: [createdAt] },
};

describe('controller commands in the session', () => {
  it('decodes keep-alive commands, refuses the malformed ones and hands each good one on once', async () => {
    const { control, commands, warnings } = session(() =>
      Response.json({ commands: [...hostile, revocation, revocation] }, { status: 202 }),
    );
    expect(await control.keepalive({})).toBe(202);
    expect(commands).toEqual([decodedRevocation]);
    expect(warnings.map((warning) => warning.code)).toEqual([
      'BAD_FIELD',
      'BAD_FIELD',
      'UNKNOWN_TYPE',
      'BAD_FIELD',
      'LIMIT_EXCEEDED',
    ]);
  });

  it('decodes pushed commands the same way', async () => {
    const frames = [
      { kind: 'ready', payload: { nodeId: 1 } },
      ...hostile.map((payload) => ({ kind: 'x', payload })),
    ]
      .concat([{ kind: 'revocation', payload: revocation }])
      .map((event) => `data: ${JSON.stringify(event)}\n\n`)
      .join('');
    const { control, commands, warnings } = session(
      () => new Response(frames, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
    );
    await control.openPush();
    await expect.poll(() => commands.length).toBe(1);
    expect(commands).toEqual([decodedRevocation]);
    expect(warnings).toHaveLength(hostile.length);
    control.closePush();
  });

  it('applies a link set pushed, and not an older one a keep-alive answer brings after it (nor the same one again)', async () => {
    const linkSet = (id: number, peer: string) => ({
      id,
      kind: 'link-set',
      payload: { links: [{ peer, name: 'e', locator: '127.0.0.1:4000', cost: 10, dial: true }] },
      createdAt,
    });
    const pushed =
      `data: ${JSON.stringify({ kind: 'ready', payload: { nodeId: 1 } })}\n\n` +
      `data: ${JSON.stringify({ kind: 'link-set', payload: linkSet(7, 'fd00::7') })}\n\n`;
    const { control, commands } = session((path) =>
      path.endsWith('/events')
        ? new Response(pushed, { status: 200, headers: { 'content-type': 'text/event-stream' } })
        : Response.json(
            { commands: [linkSet(5, 'fd00::5'), { ...revocation, id: 4 }, linkSet(7, 'fd00::7')] },
            { status: 202 },
          ),
    );
    await control.openPush();
    await expect.poll(() => commands.length).toBe(1);
    control.closePush();
    expect(await control.keepalive({})).toBe(202);
    // The set of 7 stays the one applied; the older revocation still applies (revocations add up).
    expect(commands.map((command) => [command.kind, command.id])).toEqual([
      ['link-set', 7],
      ['revocation', 4],
    ]);
    expect(control.commandOrder.refused).toEqual({ duplicate: 1, stale: 1 });
  });

  it('starts the command order again at a registration (its answer is the baseline: a restored controller may count from lower)', async () => {
    const linkSet = (id: number) => ({ id, kind: 'link-set', payload: { links: [] }, createdAt });
    let answer: unknown[] = [];
    const { control, commands } = session((path) => {
      if (path.endsWith('/nonce')) return Response.json({ nonce: Buffer.alloc(32).toString('base64') });
      if (path.endsWith('/register')) return Response.json({ token: 't', node: { id: 1 } });
      return Response.json({ commands: answer }, { status: 202 });
    });
    answer = [linkSet(7), linkSet(5)];
    await control.keepalive({});
    expect(commands.map((command) => command.id)).toEqual([7]);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    await control.register(
      {
        rsaPrivateKey: privateKey,
        rsaPublicKeyDer: publicKey.export({ type: 'spki', format: 'der' }),
        x25519PublicKeyRaw: new Uint8Array(32),
      } as never,
      { addressText: 'fd00::1', parametersBytes: new Uint8Array(8) } as never,
    );
    answer = [linkSet(3)];
    await control.keepalive({});
    expect(commands.map((command) => command.id)).toEqual([7, 3]);
  });

  it('reopens a push channel the controller closed, also through the 503 of a controller closing down', async () => {
    const ready = 'data: {"kind":"ready","payload":{"nodeId":1}}\n\n';
    const sse = (body: ReadableStream<Uint8Array> | string) =>
      new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    let opened = 0;
    const { control } = session(() => {
      opened += 1;
      if (opened === 1) return sse(ready); // ends at once: the controller stopped
      // What fastify answers while it closes (no API code).
      if (opened === 2)
        return new Response(
          '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}',
          {
            status: 503,
          },
        );
      return sse(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(ready)); // and stays open
          },
        }),
      );
    }, 20);
    await control.openPush();
    await expect.poll(() => control.pushReopens, { timeout: 5000 }).toBe(1);
    expect(opened).toBe(3);
    expect(control.isPushOpen).toBe(true);
    control.closePush();
  });
});

const code = Buffer.from([0x13, 0x05, 0x10, 0x00, 0x73, 0x00, 0x10, 0x00, 0x13, 0x05, 0x20, 0x00]);
const answer = (entry: string, variables: Record<string, number>): SbEndpointResponse => ({
  endpoint: {
    id: 9,
    domain: 'acme',
    domainId: 2,
    serviceId: 3,
    nodeId: 4,
    contractId: 5,
    role: 'client',
    hostId: 'fd00::1',
    authorizationSerial: '77',
    createdAt: '2026-01-01T00:00:00.000Z',
  },
  image: {
    code: code.toString('base64'),
    entries: { server: 8, client: 4, relay: 0 },
    dataSize: 8,
    data: Buffer.from([1, 0, 0, 0, 2, 0, 0, 0]).toString('base64'),
    layout: [
      { name: 'port', offset: 0, size: 4, type: 'int' },
      { name: 'mode', offset: 4, size: 2, type: 'short' },
    ],
  },
  entry,
  variables,
  logicHash: 'ab'.repeat(32),
  peers: [],
  groupKeys: [{ role: 'client', epoch: 3, use: 'open', key: Buffer.alloc(32, 7).toString('base64') }],
  authorization: {
    id: 1,
    serial: '77',
    domain: 'acme',
    domainId: 2,
    endpointId: 9,
    contractId: 5,
    role: 'client',
    roleId: 1,
    nodeId: 4,
    hostId: 'fd00::1',
    logicHash: 'ab'.repeat(32),
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2026-01-02T00:00:00.000Z',
    revokedAt: null,
    signed: Buffer.alloc(148, 1).toString('base64'),
  },
});
const request = { serviceToken: '1:x', contract: 'shop', role: 'client' };

describe('decodeEndpoint', () => {
  it('gives the data plane the role entry first and the DATA chunk with the variables written in', () => {
    const { spec } = decodeEndpoint(answer('client', { port: 8080, mode: -1 }), request);
    expect(spec.code.entryOffsets).toEqual([4, 0, 8]);
    expect([...spec.code.machineCode]).toEqual([...code]);
    expect([...spec.data]).toEqual([0x90, 0x1f, 0, 0, 0xff, 0xff, 0, 0]);
    expect(spec.authorization).toHaveLength(148);
    expect(spec).toMatchObject({ id: 9, contractId: 5, role: 'client', authorizationSerial: '77' });
    // Without variables: the image's initial bytes.
    expect([...decodeEndpoint(answer('server', {}), request).spec.data]).toEqual([1, 0, 0, 0, 2, 0, 0, 0]);
  });

  it('refuses an answer whose entry the program does not have', () => {
    expect(() => decodeEndpoint(answer('nope', {}), request)).toThrow(/no entry nope/);
  });
});
