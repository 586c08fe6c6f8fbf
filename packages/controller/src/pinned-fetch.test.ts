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

  beforeAll(async () => {
    [served, other] = await Promise.all([
      createTlsCertificate({ names: ['controller.test', '127.0.0.1'] }),
      createTlsCertificate({ names: ['controller.test', '127.0.0.1'] }),
    ]);
    server = createServer({ cert: served.certificatePem, key: served.privateKeyPem }, (request, response) => {
      seen.push(`${request.method} ${request.url}`);
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
