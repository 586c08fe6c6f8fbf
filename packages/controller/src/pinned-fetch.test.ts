/**
 * The pinned fetch against a real HTTPS server: the pinned certificate is talked to (bodies both
 * ways, a streamed response), any other certificate is refused before the request leaves, and
 * plain HTTP is never used.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createTlsCertificate, type TlsCertificate } from '@capsule/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPinnedFetch } from './pinned-fetch';

describe('createPinnedFetch', () => {
  let served: TlsCertificate;
  let other: TlsCertificate;
  let server: Server;
  let base: string;
  const seen: string[] = [];
  /** TLS connections the server accepted. */
  let connections = 0;
  /** Requests the server read on each connection, and the ones it dropped by closing it. */
  const servedOn = new WeakMap<object, number>();
  let drops = 0;

  beforeAll(async () => {
    [served, other] = await Promise.all([
      createTlsCertificate({ names: ['controller.test', '127.0.0.1'] }),
      createTlsCertificate({ names: ['controller.test', '127.0.0.1'] }),
    ]);
    server = createServer({ cert: served.certificatePem, key: served.privateKeyPem }, (request, response) => {
      seen.push(`${request.method} ${request.url}`);
      // A connection's second request is never answered: the server closes it (as one closing an
      // idle connection does when a request crosses its close); '/drop' closes every connection.
      const count = (servedOn.get(request.socket) ?? 0) + 1;
      servedOn.set(request.socket, count);
      if ((request.url === '/once' && count > 1) || request.url === '/drop') {
        drops += 1;
        request.socket.destroy();
        return;
      }
      if (request.url === '/empty') {
        response.writeHead(204).end();
        return;
      }
      if (request.url === '/stream') {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write('data: one\n\n');
        setTimeout(() => response.end('data: two\n\n'), 50);
        return;
      }
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () =>
        response
          .writeHead(201, { 'content-type': 'application/json', 'x-test': 'yes' })
          .end(JSON.stringify({ got: body, auth: request.headers.authorization ?? null })),
      );
    });
    server.on('secureConnection', () => (connections += 1));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((done) => server.close(done));
  });

  it('talks to the pinned certificate: status, headers, request and response bodies', async () => {
    const pinned = createPinnedFetch(served.sha256);
    const response = await pinned(`${base}/sb/v1/login?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer t' },
      body: '{"a":1}',
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('x-test')).toBe('yes');
    expect(await response.json()).toEqual({ got: '{"a":1}', auth: 'Bearer t' });
    expect(seen).toContain('POST /sb/v1/login?x=1');
  });

  it('streams a long response as it comes (the push channel)', async () => {
    const response = await createPinnedFetch(served.sha256)(`${base}/stream`);
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('data: one');
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      rest += new TextDecoder().decode(chunk.value);
    expect(rest).toContain('data: two');
  });

  it('refuses another certificate before the request is sent, naming both fingerprints', async () => {
    const before = seen.length;
    const wrong = createPinnedFetch(other.sha256);
    const failure = await wrong(`${base}/sb/v1/login`, {
      method: 'POST',
      body: '{"password":"secret"}',
    }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'CONTROLLER_TLS_PIN_MISMATCH' });
    expect((failure as Error).message).toContain(Buffer.from(served.sha256).toString('hex'));
    expect((failure as Error).message).toContain(Buffer.from(other.sha256).toString('hex'));
    expect(seen.length).toBe(before);
    // Flipping one bit of the pin is enough.
    const flipped = new Uint8Array(served.sha256);
    flipped[31]! ^= 1;
    await expect(createPinnedFetch(flipped)(`${base}/x`)).rejects.toMatchObject({
      code: 'CONTROLLER_TLS_PIN_MISMATCH',
    });
    expect(seen.length).toBe(before);
  });

  it('keeps a checked connection for the next requests, and closes it once idle for idleMs', async () => {
    const pinned = createPinnedFetch(served.sha256, { idleMs: 300 });
    const before = connections;
    for (let i = 0; i < 3; i += 1) {
      const response = await pinned(`${base}/again`, { method: 'POST', body: String(i) });
      expect(await response.json()).toMatchObject({ got: String(i) });
    }
    expect(connections - before).toBe(1);
    // A body-less answer gives its connection back too.
    expect((await pinned(`${base}/empty`)).status).toBe(204);
    expect(connections - before).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 600));
    await (await pinned(`${base}/again`)).text();
    expect(connections - before).toBe(2);
  });

  it('sends an idempotent request again, once, on a new connection when its kept connection is closed under it', async () => {
    const pinned = createPinnedFetch(served.sha256);
    const [before, dropsBefore] = [connections, drops];
    expect(await (await pinned(`${base}/once`, { method: 'PUT', body: 'a' })).json()).toMatchObject({
      got: 'a',
    });
    // The kept connection is reused and closed by the server as the request arrives: sent again.
    const again = await pinned(`${base}/once`, { method: 'PUT', body: 'b' });
    expect(await again.json()).toMatchObject({ got: 'b' });
    expect([connections - before, drops - dropsBefore]).toEqual([2, 1]);
    // A new connection closed under its first request is not tried again: the error is the caller's.
    await expect(createPinnedFetch(served.sha256)(`${base}/drop`)).rejects.toBeInstanceOf(TypeError);
    expect(drops - dropsBefore).toBe(2);
  });

  it('never sends a POST twice: one whose kept connection is closed under it fails to the caller', async () => {
    const pinned = createPinnedFetch(served.sha256);
    const [before, dropsBefore] = [connections, drops];
    await (await pinned(`${base}/once`, { method: 'POST', body: 'a' })).json();
    const seenBefore = seen.length;
    // The server read this one before it closed the connection: it may have carried it out.
    await expect(pinned(`${base}/once`, { method: 'POST', body: 'b' })).rejects.toBeInstanceOf(TypeError);
    expect(seen.slice(seenBefore)).toEqual(['POST /once']);
    expect([connections - before, drops - dropsBefore]).toEqual([1, 1]);
  });

  it('refuses another certificate at every request: a refused connection is never kept', async () => {
    const before = seen.length;
    const pinned = createPinnedFetch(other.sha256);
    for (let i = 0; i < 2; i += 1)
      await expect(pinned(`${base}/x`)).rejects.toMatchObject({ code: 'CONTROLLER_TLS_PIN_MISMATCH' });
    expect(seen.length).toBe(before);
  });

  it('never speaks plain HTTP, and reports an unreachable controller as fetch does', async () => {
    await expect(createPinnedFetch(served.sha256)(base.replace('https', 'http'))).rejects.toMatchObject({
      code: 'CONTROLLER_TLS_NOT_HTTPS',
    });
    await expect(createPinnedFetch(served.sha256)('https://127.0.0.1:1/')).rejects.toBeInstanceOf(TypeError);
    expect(() => createPinnedFetch(new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: 'IDENTITY_INVALID_ARGUMENT' }),
    );
  });
});
