/**
 * The session reads every controller command with @capsule/api's decoder, from a keep-alive answer
 * and from the push channel alike: a command that does not decode is refused with a warning and
 * the next ones still arrive, each once. The controller here is a hostile stand-in (fetch).
 */
import type { NodeCommand } from '@capsule/api';
import { describe, expect, it } from 'vitest';
import { ControlPlane } from './control-plane';

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
    async (input) => answer(new URL(String(input)).pathname),
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
