/**
 * Controller replicas: the URL list check (hostile lists included), the move to the next replica,
 * and the southbound client failing over on a dead, slow, failing or garbage-answering replica —
 * and not on an answer that says the call itself is wrong.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { systemClock } from '@capsule/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSouthboundClient } from './client';
import {
  CONTROLLER_URLS_MAX,
  controllerSectionProblems,
  controllerUrlProblems,
  createControllerReplicas,
} from './controller-replicas';
import { ApiError } from './errors';
import { createPushAttachment } from './push-attachment';
import type { PushEvent } from './schemas';

describe('controllerUrlProblems', () => {
  it('takes 1..16 distinct https origins, and http only when told', () => {
    expect(controllerUrlProblems(['https://a:8701'])).toEqual([]);
    expect(
      controllerUrlProblems(['https://a:8701', 'https://[fd00::1]:8701', 'https://10.0.0.2:8701/']),
    ).toEqual([]);
    expect(controllerUrlProblems(['http://a:8701'], { insecureHttp: true })).toEqual([]);
    expect(
      controllerUrlProblems(Array.from({ length: CONTROLLER_URLS_MAX }, (_, i) => `https://c${i}:1`)),
    ).toEqual([]);
  });

  it('names each bad URL by its index, and the list when it is empty or too long', () => {
    expect(controllerUrlProblems([])).toEqual([
      { index: undefined, message: 'must name at least one controller' },
    ]);
    expect(controllerUrlProblems('https://a')).toEqual([
      { index: undefined, message: 'must be a list of URLs' },
    ]);
    expect(controllerUrlProblems(Array.from({ length: 1000 }, () => 'x'))[0]!.message).toMatch(
      /names 1000 controllers; at most 16/,
    );
    expect(
      controllerUrlProblems(['https://a:1', 'http://b:1', 'https://A:1', 'https://u:p@c:1', 'https://d:1/x']),
    ).toEqual([
      { index: 1, message: 'must be https://… (plain http:// only with controller.insecureHttp: true)' },
      { index: 2, message: 'repeats controller URL [0] (https://a:1)' },
      { index: 3, message: 'must be an origin (scheme://host:port), without path, query or user' },
      { index: 4, message: 'must be an origin (scheme://host:port), without path, query or user' },
    ]);
  });

  it('never throws and always explains, whatever the list holds (fast-check, fixed seed)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(
            fc.oneof(
              fc.string({ maxLength: 40 }),
              fc.constantFrom(
                'https://a:1',
                'http://b:2',
                'https://a:1/',
                'https://[::1]:8701',
                'https://x/p?q',
                'https://u:p@h:1',
              ),
              fc.integer(),
              fc.constant(null),
            ),
            {
              maxLength: 20,
            },
          ),
          fc.jsonValue({ maxDepth: 2 }),
        ),
        fc.boolean(),
        (urls, insecureHttp) => {
          const problems = controllerUrlProblems(urls, { insecureHttp });
          for (const problem of problems) expect(problem.message.length).toBeGreaterThan(0);
          // Accepted lists make replicas whose URLs are distinct.
          if (problems.length === 0) {
            const replicas = createControllerReplicas(urls as string[]);
            expect(new Set(replicas.urls.map((u) => new URL(u).origin)).size).toBe(replicas.urls.length);
          }
          controllerSectionProblems({ urls, insecureHttp });
          controllerSectionProblems(urls);
        },
      ),
      { seed: 14, numRuns: 200 },
    );
  });
});

describe('controllerSectionProblems', () => {
  const pin = 'ab'.repeat(32);
  it('keeps a lone url as it was (http allowed without a pin), and wants https for a pin', () => {
    expect(controllerSectionProblems({ url: 'http://a:1' })).toEqual([]);
    expect(controllerSectionProblems({ url: 'http://a:1', caSha256: pin })).toEqual([
      { segments: ['url'], message: 'must be https://… when caSha256 pins a certificate' },
    ]);
    expect(controllerSectionProblems({ urls: ['http://a:1'], insecureHttp: true, caSha256: pin })).toEqual([
      { segments: ['urls', 0], message: 'must be https://… when caSha256 pins a certificate' },
    ]);
    expect(controllerSectionProblems({ url: 'https://a:1', urls: ['https://a:1'] })[0]!.segments).toEqual([
      'urls',
    ]);
    expect(controllerSectionProblems({})[0]!.segments).toEqual(['url']);
  });
});

describe('createControllerReplicas', () => {
  it('moves round robin, once per failure of the replica in use, and counts', () => {
    const moves: string[] = [];
    const replicas = createControllerReplicas(['https://a:1/', 'https://b:1', 'https://c:1'], {
      onFailover: ({ from, to }) => moves.push(`${from}>${to}`),
    });
    expect(replicas.current).toBe('https://a:1');
    expect(replicas.failover('https://a:1', 'down')).toBe('https://b:1');
    // A second call that failed on a at the same time does not move the node again.
    expect(replicas.failover('https://a:1/', 'down')).toBe('https://b:1');
    expect(replicas.failover('https://b:1', 'down')).toBe('https://c:1');
    expect(replicas.failover('https://c:1', 'down')).toBe('https://a:1');
    expect(replicas.failovers).toBe(3);
    expect(moves).toEqual(['https://a:1>https://b:1', 'https://b:1>https://c:1', 'https://c:1>https://a:1']);
    const one = createControllerReplicas(['https://a:1']);
    expect(one.failover('https://a:1', 'down')).toBe('https://a:1');
    expect(one.failovers).toBe(0);
    expect(() => createControllerReplicas([])).toThrow(ApiError);
  });
});

/** A fetch for replicas by origin: each answers as its function says (or throws: no connection). */
function replicasFetch(
  byOrigin: Record<string, (path: string, init?: RequestInit) => Response | Promise<Response>>,
) {
  const calls: string[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    calls.push(`${url.host}${url.pathname}`);
    const answer = byOrigin[url.origin];
    if (!answer) throw new TypeError(`fetch failed: connect ECONNREFUSED ${url.host}`);
    return answer(url.pathname, init);
  }) as typeof globalThis.fetch;
  return { calls, fetch };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const keepaliveOk = () => json({ commands: [] });

describe('the southbound client over replicas', () => {
  const urls = ['https://a:1', 'https://b:1'];

  it('moves on from a replica that refuses connections, answers 5xx or garbage, and stays there', async () => {
    for (const sick of [
      undefined, // no connection
      () => json({ code: 'INTERNAL', message: 'boom' }, 500),
      () => new Response('<html>bad gateway</html>', { status: 502 }),
      () => new Response('not json at all', { status: 200 }),
      () => json({ no: 'commands' }), // 2xx JSON without the command list
    ]) {
      const { calls, fetch } = replicasFetch({
        ...(sick && { 'https://a:1': sick }),
        'https://b:1': keepaliveOk,
      });
      const replicas = createControllerReplicas(urls);
      const client = createSouthboundClient({ replicas, fetch });
      if (String(sick).includes('commands')) {
        // JSON that is not a keep-alive answer: refused as UNAVAILABLE (not a crash); the next call moves on.
        await expect(client.keepalive()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
        continue;
      }
      expect(await client.keepalive()).toEqual({ status: 200, commands: [] });
      expect(client.currentUrl).toBe('https://b:1');
      expect(replicas.failovers).toBe(1);
      await client.keepalive();
      expect(calls).toEqual(['a:1/sb/v1/keepalive', 'b:1/sb/v1/keepalive', 'b:1/sb/v1/keepalive']);
    }
  });

  it('moves on from a replica that does not answer in time', async () => {
    const { fetch } = replicasFetch({
      'https://a:1': (_path, init) =>
        new Promise((_resolve, reject) =>
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
        ),
      'https://b:1': keepaliveOk,
    });
    const client = createSouthboundClient({
      replicas: createControllerReplicas(urls),
      fetch,
      requestTimeoutMs: 50,
    });
    const started = Date.now();
    expect((await client.keepalive()).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(client.currentUrl).toBe('https://b:1');
  });

  it('does not move on from an answer about the call (4xx), and fails UNAVAILABLE when every replica is down', async () => {
    const { fetch } = replicasFetch({
      'https://a:1': () => json({ code: 'UNAUTHENTICATED', message: 'who?' }, 401),
      'https://b:1': keepaliveOk,
    });
    const client = createSouthboundClient({ replicas: createControllerReplicas(urls), fetch });
    await expect(client.keepalive()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(client.currentUrl).toBe('https://a:1');
    const down = createSouthboundClient({
      replicas: createControllerReplicas(urls),
      fetch: replicasFetch({}).fetch,
    });
    const error = await down.keepalive().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAVAILABLE' });
    expect((error as Error).message).toMatch(/b:1/);
  });

  it('keeps the session token across replicas (one login, valid on both)', async () => {
    const seen: (string | null)[] = [];
    const { fetch } = replicasFetch({
      'https://a:1': (path) => (path === '/sb/v1/login' ? json({ token: 't1', profile: {} }) : json({}, 503)),
      'https://b:1': (_path, init) => {
        seen.push(new Headers(init?.headers).get('authorization'));
        return keepaliveOk();
      },
    });
    const client = createSouthboundClient({ replicas: createControllerReplicas(urls), fetch });
    await client.login({ domain: 'd', username: 'u', password: 'p' });
    await client.keepalive();
    expect(seen).toEqual(['Bearer t1']);
  });
});

/** A server-sent events body that sends `frames` and stays open until `close()`. */
function eventStream(frames: string[]) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      for (const frame of frames) c.enqueue(new TextEncoder().encode(frame));
    },
  });
  return {
    response: () => new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
    close: () => controller.close(),
  };
}

describe('the push channel over replicas', () => {
  const ready = 'data: {"kind":"ready"}\n\n';

  function setUp(aAfterDeath: 'refuse' | 'garbage') {
    const a = eventStream([ready]);
    let aAlive = true;
    let bOpened = 0;
    const { fetch } = replicasFetch({
      'https://a:1': () => {
        if (aAlive) return a.response();
        if (aAfterDeath === 'refuse') throw new TypeError('fetch failed: ECONNREFUSED');
        return new Response('HTTP/1.1 garbage', { status: 200 }); // 200, but no channel
      },
      'https://b:1': () => {
        bOpened += 1;
        return eventStream([ready, 'data: {"kind":"revocation","payload":1}\n\n']).response();
      },
    });
    const replicas = createControllerReplicas(['https://a:1', 'https://b:1']);
    const client = createSouthboundClient({ replicas, fetch });
    const events: PushEvent[] = [];
    const timers: (() => void)[] = [];
    const push = createPushAttachment(
      { retryMs: 1000 },
      {
        events: (onEvent, signal, onClose) => client.events(onEvent, signal, onClose),
        onEvent: (event) => events.push(event),
        clock: {
          setTimeout: (callback) => {
            timers.push(callback);
            return () => {};
          },
        },
      },
    );
    const kill = () => {
      aAlive = false;
      a.close();
    };
    return { client, push, events, timers, kill, opened: () => bOpened };
  }
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

  for (const aAfterDeath of ['refuse', 'garbage'] as const)
    it(`re-attaches on the live replica when the one in use dies (then ${aAfterDeath}s)`, async () => {
      const { client, push, events, timers, kill, opened } = setUp(aAfterDeath);
      await push.open();
      expect(push.isOpen).toBe(true);
      expect(client.currentUrl).toBe('https://a:1');
      kill();
      await settle();
      expect(push.isOpen).toBe(false);
      // One retry timer per failure; run them until the channel is open again (at most 3).
      for (let i = 0; i < 3 && !push.isOpen; i += 1) {
        expect(timers.length).toBe(1);
        timers.shift()!();
        await settle();
      }
      expect(push.isOpen).toBe(true);
      expect(client.currentUrl).toBe('https://b:1');
      expect(opened()).toBe(1);
      expect(push.reopens).toBe(1);
      expect(events).toEqual([{ kind: 'revocation', payload: 1 }]);
      push.close();
      expect(push.isOpen).toBe(false);
      expect(timers).toHaveLength(0);
    });
});

describe('replicas over real sockets', () => {
  const listen = (server: Server | ReturnType<typeof createHttpServer>) =>
    new Promise<string>((resolve) =>
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
      }),
    );

  it('fails over from a replica speaking garbage, one answering 503 HTML and a closed port, to a live one', async () => {
    const garbage = createTcpServer((socket) => socket.end('\x00\xffNOT HTTP AT ALL\r\n\r\n'));
    const sick = createHttpServer((_request, response) =>
      response.writeHead(503, { 'content-type': 'text/html' }).end('<h1>down</h1>'),
    );
    let answered = 0;
    const live = createHttpServer((_request, response) => {
      answered += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"commands":[]}');
    });
    const closed = createTcpServer();
    const closedUrl = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    try {
      const urls = [await listen(garbage), await listen(sick), closedUrl, await listen(live)];
      const replicas = createControllerReplicas(urls);
      const client = createSouthboundClient({ replicas, requestTimeoutMs: 2000 });
      expect(await client.keepalive()).toEqual({ status: 200, commands: [] });
      expect(client.currentUrl).toBe(urls[3]);
      expect(replicas.failovers).toBe(3);
      expect(answered).toBe(1);
    } finally {
      for (const server of [garbage, sick, live]) server.close();
    }
  });

  it('ends a push channel silent for 4 heartbeats (the interval its ready event names), fails its replica over, and re-attaches on the next; heartbeats keep a channel open', async () => {
    const sse = { 'content-type': 'text/event-stream' };
    const ready = (heartbeatMs: number) =>
      `data: ${JSON.stringify({ kind: 'ready', payload: { nodeId: 1, heartbeatMs } })}\n\n`;
    // a: ready, then silence on an open connection (a controller that lost power, a partition).
    const silent = createHttpServer((_request, response) => {
      response.writeHead(200, sse);
      response.write(ready(250));
    });
    // b: ready, then a heartbeat comment every 100 ms.
    const beats: NodeJS.Timeout[] = [];
    const live = createHttpServer((_request, response) => {
      response.writeHead(200, sse);
      response.write(ready(250));
      beats.push(setInterval(() => response.write(': keep-alive\n\n'), 100));
    });
    const changes: { kind: string; atMs: number }[] = [];
    const startMs = Date.now();
    try {
      const urls = [await listen(silent), await listen(live)];
      const replicas = createControllerReplicas(urls);
      const client = createSouthboundClient({ replicas });
      const push = createPushAttachment(
        { retryMs: 50 },
        {
          events: (onEvent, signal, onClose) => client.events(onEvent, signal, onClose),
          onEvent: () => {},
          clock: systemClock,
          onChange: (change) => changes.push({ kind: change.kind, atMs: Date.now() - startMs }),
        },
      );
      await push.open();
      expect(client.currentUrl).toBe(urls[0]);
      for (let waited = 0; push.reopens === 0 && waited < 5000; waited += 50)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(push.reopens).toBe(1);
      expect(client.currentUrl).toBe(urls[1]);
      expect(replicas.failovers).toBe(1);
      // Ended after 4 × 250 ms of silence: not before the limit, and not long after it.
      const ended = changes.find((change) => change.kind === 'ended')!;
      expect(ended.atMs).toBeGreaterThanOrEqual(1000);
      expect(ended.atMs).toBeLessThan(3000);
      // b's heartbeats keep its channel open well past the idle limit.
      await new Promise((resolve) => setTimeout(resolve, 1600));
      expect(push.isOpen).toBe(true);
      expect(push.reopens).toBe(1);
      expect(changes.map((change) => change.kind)).toEqual(['opened', 'ended', 'reopened']);
      push.close();
    } finally {
      for (const beat of beats) clearInterval(beat);
      for (const server of [silent, live]) {
        server.closeAllConnections();
        server.close();
      }
    }
  });
});
