/**
 * No password or token crosses the network in clear: a controller on TLS (its own certificate,
 * as `capsule controller start` serves by default) is reached through a plain TCP relay on
 * loopback that records every byte both ways, the way an observer on the underlay would see
 * them. An admin login, a user and zone made with that token, a node user's southbound login and
 * a real registration (CGA, keys, signature) go through it, all with the pinned fetch; none of
 * the passwords or tokens appear in the recording. The same exchange with a plain-HTTP controller
 * (what `--insecure-http` serves) shows every one of them: the check can fail.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { createApiClient, createSouthboundClient } from '@capsule/api';
import { type Controller, createController, createPinnedFetch } from '@capsule/controller';
import { createTlsCertificate } from '@capsule/identity';
import { describe, expect, it } from 'vitest';
import { adminPassword, createTestStore, makeNodeIdentity, quietLogger, registrationBody } from './harness';

/** A TCP relay on loopback to `target`: what it forwards, both directions, is kept in `bytes`. */
async function startRelay(
  target: URL,
): Promise<{ url: string; bytes: () => Buffer; close: () => Promise<void> }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      chunks.push(Buffer.from(chunk));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      chunks.push(Buffer.from(chunk));
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  return {
    url: `${target.protocol}//127.0.0.1:${port}`,
    bytes: () => Buffer.concat(chunks),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((done) => server.close(done));
    },
  };
}

/**
 * Runs the exchange against a controller (TLS when `tls`), through relays; returns the recording
 * and the secrets that took part.
 */
async function recordExchange(tls: boolean) {
  const store = await createTestStore('sqlite');
  const certificate = await createTlsCertificate({ names: ['127.0.0.1'] });
  const pem = { cert: certificate.certificatePem, key: certificate.privateKeyPem };
  const controller: Controller = await createController(
    {
      store: store.url,
      listen: { host: '127.0.0.1', port: 0 },
      southboundListen: { host: '127.0.0.1', port: 0 },
      adminPassword,
      sqliteSynchronous: 'NORMAL',
      ...(tls && { northboundTls: pem, southboundTls: pem }),
    },
    { logger: quietLogger },
  );
  const urls = await controller.start();
  const north = await startRelay(new URL(urls.northboundUrl));
  const south = await startRelay(new URL(urls.southboundUrl));
  try {
    const fetchOf = tls ? createPinnedFetch(certificate.sha256) : fetch;
    const admin = createApiClient({ baseUrl: north.url, fetch: fetchOf });
    const adminToken = (await admin.login({ domain: 'default', username: 'admin', password: adminPassword }))
      .token;
    const nodePassword = `node-${randomBytes(9).toString('base64url')}`;
    const zone = await admin.zones.create({ name: 'wire', netprefix: 'fd00:77:1::/64' });
    await admin.users.create({
      login: 'wire-hosts',
      domain: 'default',
      password: nodePassword,
      roles: ['hostOwner'],
      zoneId: zone.id,
    });
    const sb = createSouthboundClient({ baseUrl: south.url, fetch: fetchOf });
    const login = await sb.login({ domain: 'default', username: 'wire-hosts', password: nodePassword });
    const identity = makeNodeIdentity(login.profile.scope.netprefix);
    const { nonce } = await sb.nonce();
    const registration = await sb.register(
      registrationBody(identity, nonce, { type: 'host', hostname: 'h1' }),
    );
    await sb.keepalive();
    return {
      recorded: Buffer.concat([north.bytes(), south.bytes()]),
      secrets: {
        adminPassword,
        nodePassword,
        adminToken,
        nodeLoginToken: login.token,
        nodeToken: registration.token,
      },
    };
  } finally {
    await north.close();
    await south.close();
    await controller.stop();
    await store.drop();
  }
}

/** The secrets found in the recording (as text, as JSON escapes them, and the tokens' signatures). */
function foundIn(recorded: Buffer, secrets: Record<string, string>): string[] {
  return Object.entries(secrets)
    .filter(([, secret]) => {
      const signature = secret.split('.').at(-1)!;
      return (
        recorded.includes(secret) || recorded.includes(JSON.stringify(secret)) || recorded.includes(signature)
      );
    })
    .map(([name]) => name);
}

describe('the control plane on the wire', () => {
  it('on TLS: no password or token in the bytes a relay on the path sees', async () => {
    const { recorded, secrets } = await recordExchange(true);
    // It was a TLS conversation (handshake records, 0x16 0x03), and a real one (kilobytes).
    expect(recorded.length).toBeGreaterThan(4000);
    expect(recorded.subarray(0, 2)).toEqual(Buffer.from([0x16, 0x03]));
    expect(recorded.includes('HTTP/1.1')).toBe(false);
    expect(recorded.includes('/sb/v1/')).toBe(false);
    expect(foundIn(recorded, secrets)).toEqual([]);
  }, 60_000);

  it('on plain HTTP (--insecure-http): every password and token is there to read', async () => {
    const { recorded, secrets } = await recordExchange(false);
    expect(recorded.includes('POST /sb/v1/register HTTP/1.1')).toBe(true);
    expect(foundIn(recorded, secrets)).toEqual(Object.keys(secrets));
  }, 60_000);
});
