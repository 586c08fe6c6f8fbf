/**
 * A real controller (SQLite in a temp dir, fixed free ports so it can restart on the same URL)
 * with a domain, a zone, a host user, a two-role template/contract and a service token.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiClient } from '@capsule/api';
import { type Controller, createController, createMemorySigningKeyStore } from '@capsule/controller';
import pino from 'pino';

export const adminPassword = 'admin-password-1';
export const nodePassword = 'node-password-1';
export const netprefix = 'fd00:ca:5e:1::/64';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject()));
    });
  });
}

/** A tiny valid RV32 program with two entries (client at 0, server at 8). */
function tinyProgram() {
  const words = [0x00100513, 0x00100073, 0x00200513, 0x00100073];
  const bytes = Buffer.alloc(16);
  for (const [i, word] of words.entries()) bytes.writeUInt32LE(word, i * 4);
  return { code: bytes.toString('base64'), entries: { client: 0, server: 8 }, dataSize: 16 };
}

export async function startControllerFixture(options: { host?: string } = {}) {
  const host = options.host ?? '127.0.0.1';
  const dir = mkdtempSync(join(tmpdir(), 'capsule-agent-test-'));
  const store = join(dir, 'controller.db');
  const ports = { north: await freePort(), south: await freePort() };
  let controller: Controller | undefined;
  const logger = pino({ level: process.env.CAPSULE_TEST_LOG ?? 'silent' });
  // One signing key across restarts on the same store, as the daemon's key file would be.
  const signingKeys = createMemorySigningKeyStore();
  const start = async () => {
    controller = await createController(
      {
        store,
        listen: { host, port: ports.north },
        southboundListen: { host, port: ports.south },
        adminPassword,
        sqliteSynchronous: 'NORMAL',
        keepaliveIntervalMs: 500,
      },
      { logger, signingKeys },
    );
    return controller.start();
  };
  const urls = await start();
  const admin = createApiClient({ baseUrl: `http://127.0.0.1:${ports.north}` });
  await admin.login({ domain: 'default', username: 'admin', password: adminPassword });
  await admin.domains.create({ name: 'acme', kind: 'application' });
  const zone = await admin.zones.create({ name: 'zone-a', netprefix });
  await admin.users.create({
    login: 'hosts',
    domain: 'acme',
    password: nodePassword,
    roles: ['hostOwner'],
    zoneId: zone.id,
  });
  const template = await admin.templates.create({
    name: 'client-server',
    domain: 'acme',
    image: tinyProgram(),
    roles: [
      { name: 'client', entry: 'client' },
      { name: 'server', entry: 'server' },
    ],
  });
  const contract = await admin.contracts.create({
    name: 'shop',
    domain: 'acme',
    templateId: template.id,
    roles: [
      { name: 'client', peer: 'server' },
      { name: 'server', peer: 'client' },
    ],
  });
  const service = await admin.services.create({
    name: 'web',
    domain: 'acme',
    grants: [
      { contractId: contract.id, role: 'client' },
      { contractId: contract.id, role: 'server' },
    ],
  });
  const serviceToken = (await admin.serviceTokens.create({ serviceId: service.id })).token!;
  return {
    urls,
    admin,
    serviceToken,
    credentials: { domain: 'acme', username: 'hosts', password: nodePassword },
    async restart() {
      await controller?.stop();
      await start();
    },
    async stopController() {
      await controller?.stop();
      controller = undefined;
    },
    startController: start,
    /** The running controller (undefined while stopped). */
    get controller() {
      return controller;
    },
    async stop() {
      await controller?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
