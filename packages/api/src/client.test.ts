/**
 * The typed clients against a stand-in server (fetch): how answers become values or ApiErrors —
 * the server's code, an unknown or missing code, a body that is not JSON, an unreachable server —
 * what each request sends, and how the push channel reads server-sent events.
 */
import { describe, expect, it } from 'vitest';
import { createApiClient, createSouthboundClient } from './client';
import { ApiError } from './errors';
import { COMMAND_ACKS_MAX, type PushEvent } from './schemas';

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A fetch that records each request and answers with `answer(request)`. */
function stand(answer: (request: Sent) => Response | Promise<Response>) {
  const sent: Sent[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const request = {
      url: String(input),
      method: init?.method ?? 'GET',
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: init?.body as string | undefined,
    };
    sent.push(request);
    return answer(request);
  }) as typeof globalThis.fetch;
  return { sent, fetch };
}

/** A command as the controller sends one (no payload: refresh-configuration's is empty). */
const command = (id: number, kind = 'refresh-configuration') => ({
  id,
  kind,
  payload: {},
  createdAt: '2026-12-08T00:00:00.000Z',
});

async function caught(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('client error mapping', () => {
  it('turns an error answer into an ApiError with the server’s code and message', async () => {
    const server = stand(() => Response.json({ code: 'NOT_FOUND', message: 'no domain 9' }, { status: 404 }));
    const client = createApiClient({ baseUrl: 'http://c.invalid', fetch: server.fetch });
    const error = await caught(client.domains.get(9));
    expect(error).toMatchObject({ code: 'NOT_FOUND', message: 'no domain 9', status: 404 });
  });

  it('answers INTERNAL for an unknown or missing code (UNAVAILABLE for 502–504), naming the status when there is no message', async () => {
    const closing = { error: 'Service Unavailable', message: 'Service Unavailable', statusCode: 503 };
    for (const [body, status, code, message] of [
      [{ code: 'TEAPOT', message: 'short and stout' }, 418, 'INTERNAL', 'short and stout'],
      [{ code: 'toString', message: 'm' }, 400, 'INTERNAL', 'm'],
      [{ message: 'no code' }, 400, 'INTERNAL', 'no code'],
      [{ code: 7, message: 8 }, 400, 'INTERNAL', 'HTTP 400'],
      ['<html>oops</html>', 500, 'INTERNAL', 'HTTP 500'],
      [null, 409, 'INTERNAL', 'HTTP 409'],
      ['<html>bad gateway</html>', 502, 'UNAVAILABLE', 'HTTP 502'],
      ['', 503, 'UNAVAILABLE', 'HTTP 503'],
      [closing, 503, 'UNAVAILABLE', 'Service Unavailable'],
      ['', 504, 'UNAVAILABLE', 'HTTP 504'],
      // A code of the API's wins over the status.
      [{ code: 'FORBIDDEN', message: 'no' }, 503, 'FORBIDDEN', 'no'],
    ] as const) {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      const server = stand(() => new Response(text, { status }));
      const client = createApiClient({ baseUrl: 'http://c.invalid', fetch: server.fetch });
      const error = await caught(client.zones.list());
      expect(error, text).toMatchObject({ code, message });
    }
  });

  it('answers UNAVAILABLE with the cause when the server cannot be reached', async () => {
    const refused = new TypeError('fetch failed');
    const client = createApiClient({
      baseUrl: 'http://c.invalid',
      fetch: (async () => {
        throw refused;
      }) as typeof fetch,
    });
    const error = await caught(client.login({ domain: 'd', username: 'u', password: 'p' }));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toContain('http://c.invalid');
    expect(error.cause).toBe(refused);
  });
});

describe('client requests', () => {
  it('sends JSON bodies, the bearer token after login, and paging as a query', async () => {
    const server = stand((request) =>
      request.url.endsWith('/auth/token')
        ? Response.json({ token: 'tok.en', expiresAt: 't' })
        : request.method === 'DELETE'
          ? new Response(null, { status: 204 })
          : Response.json({ items: [], total: 0 }),
    );
    const client = createApiClient({ baseUrl: 'http://c.invalid///', fetch: server.fetch });
    await client.login({ domain: 'd', username: 'u', password: 'p' });
    expect(client.token).toBe('tok.en');
    expect(await client.users.list({ limit: 5, offset: 10 })).toEqual({ items: [], total: 0 });
    await client.users.remove(3);
    await client.authorizations.revoke(4);
    expect(server.sent.map((request) => `${request.method} ${request.url}`)).toEqual([
      'POST http://c.invalid/api/v1/auth/token',
      'GET http://c.invalid/api/v1/users?limit=5&offset=10',
      'DELETE http://c.invalid/api/v1/users/3',
      'POST http://c.invalid/api/v1/authorizations/4/revoke',
    ]);
    expect(server.sent[0]!.headers).toEqual({ 'content-type': 'application/json' });
    expect(JSON.parse(server.sent[0]!.body!)).toEqual({ domain: 'd', username: 'u', password: 'p' });
    expect(server.sent[1]!.headers).toEqual({ authorization: 'Bearer tok.en' });
    expect(server.sent[1]!.body).toBeUndefined();
  });

  it('gives the keep-alive status with the commands, and keeps the node token of a registration', async () => {
    const server = stand((request) =>
      request.url.endsWith('/register')
        ? Response.json({ token: 'node-token' })
        : Response.json({ commands: [] }, { status: 200 }),
    );
    const sb = createSouthboundClient({
      baseUrl: 'http://c.invalid',
      token: 'user-token',
      fetch: server.fetch,
    });
    await sb.register({} as never);
    expect(sb.token).toBe('node-token');
    expect(await sb.keepalive()).toEqual({ status: 200, commands: [] });
    expect(server.sent[1]!.headers.authorization).toBe('Bearer node-token');
    // It acknowledges (nothing yet): the controller keeps its commands until it does.
    expect(JSON.parse(server.sent[1]!.body!)).toEqual({ acked: [] });
  });

  it('keeps alive with a controller older than acknowledgements: asked again without them, the commands each once', async () => {
    // The older controller's schema refuses a body with a field it does not know.
    const server = stand((request) =>
      request.body?.includes('"acked"')
        ? Response.json(
            { code: 'VALIDATION_FAILED', message: 'body must NOT have additional properties' },
            { status: 400 },
          )
        : Response.json({ commands: [command(8)] }, { status: 202 }),
    );
    const sb = createSouthboundClient({ baseUrl: 'http://c.invalid', token: 'n', fetch: server.fetch });
    expect((await sb.keepalive({ statistics: { y: 2 } })).commands.map((c) => c.id)).toEqual([8]);
    await sb.keepalive();
    expect(server.sent.map((request) => JSON.parse(request.body!))).toEqual([
      { statistics: { y: 2 }, acked: [] },
      { statistics: { y: 2 } },
      { acked: [8] },
      {},
    ]);
    // Another refusal is the caller's: the same body without acknowledgements is refused too.
    const strict = stand(() =>
      Response.json({ code: 'VALIDATION_FAILED', message: 'statistics' }, { status: 400 }),
    );
    const refused = createSouthboundClient({ baseUrl: 'http://c.invalid', token: 'n', fetch: strict.fetch });
    expect((await caught(refused.keepalive({ statistics: { z: 3 } }))).code).toBe('VALIDATION_FAILED');
    expect(strict.sent).toHaveLength(2);
  });

  it('acknowledges in its next keep-alive the commands it took in, again after a keep-alive that failed', async () => {
    const answers: Response[] = [
      Response.json({ commands: [command(5), command(6)] }, { status: 202 }),
      new Response('busy', { status: 503 }),
      Response.json({ commands: [command(7)] }, { status: 202 }),
      Response.json({ commands: [] }),
    ];
    const server = stand(() => answers.shift()!);
    const sb = createSouthboundClient({ baseUrl: 'http://c.invalid', token: 'n', fetch: server.fetch });
    expect((await sb.keepalive({ statistics: { x: 1 } })).commands.map((c) => c.id)).toEqual([5, 6]);
    await caught(sb.keepalive());
    await sb.keepalive();
    await sb.keepalive();
    expect(server.sent.map((request) => JSON.parse(request.body!))).toEqual([
      { statistics: { x: 1 }, acked: [] },
      { acked: [5, 6] },
      // The answer to that one never came: acknowledged again.
      { acked: [5, 6] },
      { acked: [7] },
    ]);
  });
});

describe('the push channel', () => {
  /** A server-sent event stream cut into the given chunks. */
  const stream = (chunks: string[]) =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
          controller.close();
        },
      }),
      { status: 200, headers: { 'content-type': 'text/event-stream' } },
    );

  it('resolves at the ready event and hands on each event, frames split across chunks', async () => {
    const frames = [
      'data: {"kind":"ready","payload":{"nodeId":1}}\n\n',
      ': keep-alive\n\n',
      'data: {"kind":"revocation",',
      '"payload":{"id":1}}\n\ndata: {"kind":"path-change","payload":{"id":2}}\n\n',
    ];
    const server = stand(() => stream(frames));
    const sb = createSouthboundClient({ baseUrl: 'http://c.invalid', token: 'n', fetch: server.fetch });
    const events: PushEvent[] = [];
    await sb.events((event) => events.push(event), new AbortController().signal);
    await expect.poll(() => events.length).toBe(2);
    expect(events).toEqual([
      { kind: 'revocation', payload: { id: 1 } },
      { kind: 'path-change', payload: { id: 2 } },
    ]);
    expect(server.sent[0]!.headers).toMatchObject({ authorization: 'Bearer n', accept: 'text/event-stream' });
  });

  it('skips a frame that is not JSON and goes on reading', async () => {
    const server = stand(() =>
      stream([
        'data: {"kind":"ready"}\n\n',
        'data: {not json\n\n',
        'data: null\n\n',
        'data: "text"\n\n',
        `data: ${'['.repeat(100_000)}\n\n`,
        'data: {"kind":"revocation","payload":{"id":3}}\n\n',
      ]),
    );
    const sb = createSouthboundClient({ baseUrl: 'http://c.invalid', token: 'n', fetch: server.fetch });
    const events: PushEvent[] = [];
    await sb.events((event) => events.push(event), new AbortController().signal);
    await expect.poll(() => events.length).toBe(1);
    expect(events).toEqual([{ kind: 'revocation', payload: { id: 3 } }]);
  });

  it('acknowledges the commands the push channel brought, not its other events, and at most COMMAND_ACKS_MAX at once', async () => {
    const many = Array.from({ length: COMMAND_ACKS_MAX + 2 }, (_, i) => command(100 + i));
    let keepalives = 0;
    const server = stand((request) =>
      request.url.endsWith('/events')
        ? stream([
            'data: {"kind":"ready"}\n\n',
            `data: ${JSON.stringify({ kind: 'revocation', payload: command(9, 'revocation') })}\n\n`,
            // An event that is not a command (its payload is no command of its kind), and a forged id.
            'data: {"kind":"topology","payload":{"id":10}}\n\n',
            `data: ${JSON.stringify({ kind: 'revocation', payload: { ...command(11, 'revocation'), id: -1 } })}\n\n`,
          ])
        : Response.json({ commands: keepalives++ === 0 ? many : [] }, { status: 202 }),
    );
    const sb = createSouthboundClient({ baseUrl: 'http://c.invalid', token: 'n', fetch: server.fetch });
    const events: PushEvent[] = [];
    await sb.events((event) => events.push(event), new AbortController().signal);
    await expect.poll(() => events.length).toBe(3);
    const acks = async () => {
      await sb.keepalive();
      return (JSON.parse(server.sent.at(-1)!.body!) as { acked: number[] }).acked;
    };
    expect(await acks()).toEqual([9]);
    // The next names the first COMMAND_ACKS_MAX of the keep-alive's answer, the one after the rest.
    expect(await acks()).toEqual(many.slice(0, COMMAND_ACKS_MAX).map((c) => c.id));
    expect(await acks()).toEqual(many.slice(COMMAND_ACKS_MAX).map((c) => c.id));
    expect(await acks()).toEqual([]);
  });

  it('turns a refused channel into an ApiError with the server’s code', async () => {
    for (const [text, status, code] of [
      [JSON.stringify({ code: 'NODE_NOT_REGISTERED', message: 'm' }), 409, 'NODE_NOT_REGISTERED'],
      [JSON.stringify({ code: 'SOMETHING_ELSE' }), 400, 'INTERNAL'],
      ['null', 400, 'INTERNAL'],
      ['not json', 500, 'INTERNAL'],
      [
        '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}',
        503,
        'UNAVAILABLE',
      ],
    ] as const) {
      const server = stand(() => new Response(text, { status }));
      const sb = createSouthboundClient({ baseUrl: 'http://c.invalid', token: 'n', fetch: server.fetch });
      const error = await caught(sb.events(() => {}, new AbortController().signal));
      expect(error.code).toBe(code);
      expect(error.message).toContain(`HTTP ${status}`);
    }
  });
});
