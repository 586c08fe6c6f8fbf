/**
 * Test harness: controllers on SQLite (a temp file) or PostgreSQL (a fresh database per
 * controller group on the server in CAPSULE_TEST_POSTGRES_URL), logged-in clients, and a test
 * node that makes real keys and a real CGA and registers through the southbound API.
 */
import { createHash, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createApiClient,
  createSouthboundClient,
  type ProgramImageTransfer,
  type RoleName,
  registrationSigningInput,
  type SbRegisterRequest,
  type SbRegisterResponse,
} from '@capsule/api';
import {
  type Controller,
  type ControllerOptions,
  createController,
  type SigningKeyStore,
} from '@capsule/controller';
import {
  exportPublicKeyDer,
  formatIpv6Address,
  generateCgaSync,
  generateRsaKeyPair,
  generateX25519KeyPair,
  parseSubnetPrefix64,
  type RsaKeyPair,
} from '@capsule/identity';
import { isCI } from '@capsule/testkit';
import type { Clock } from '@capsule/wire';
import pg from 'pg';
import pino from 'pino';
import { issueNonce, registerNode as registerNodeUseCase } from '../src/southbound/node-registration';

/** The PostgreSQL server tests use (scripts/setup.sh starts it and creates this role). */
export const postgresUrl =
  process.env.CAPSULE_TEST_POSTGRES_URL ?? 'postgres://capsule:capsule@127.0.0.1:5432/capsule';

async function probePostgres(): Promise<boolean> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (error) {
    const reason = `no PostgreSQL at ${postgresUrl.replace(/:[^:@/]*@/, ':***@')} (${(error as Error).message})`;
    if (isCI) throw new Error(`CI must provide every test prerequisite (${reason}): fix scripts/setup.sh`);
    process.stderr.write(`[skip] ${reason}\n`);
    return false;
  }
}

/** True when the PostgreSQL server answers (outside CI: else the PostgreSQL suites skip). */
export const hasPostgres = await probePostgres();

/** Store kinds the shared suites run against. */
export type StoreKind = 'sqlite' | 'postgres';
export const storeKinds: readonly StoreKind[] = ['sqlite', 'postgres'];

/** A fresh store URL of `kind`, and how to remove it. */
export async function createTestStore(kind: StoreKind): Promise<{ url: string; drop: () => Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-controller-'));
    return {
      url: join(dir, 'controller.db'),
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `capsule_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      try {
        // FORCE cannot end a backend of another role: an autovacuum worker on the database makes
        // the drop fail with insufficient_privilege (42501) until it is done, so try again.
        for (let attempt = 1; ; attempt++) {
          try {
            await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
            break;
          } catch (error) {
            if ((error as { code?: string }).code !== '42501' || attempt >= 40) throw error;
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
        }
      } finally {
        await client.end();
      }
    },
  };
}

export const adminPassword = 'admin-password-1';
export const quietLogger = pino({ level: process.env.CAPSULE_TEST_LOG ?? 'silent' });

/** A started controller on a fresh store with a logged-in admin client. */
export async function startController(
  kind: StoreKind,
  options: Partial<ControllerOptions> & { store?: string } = {},
  deps: { clock?: Pick<Clock, 'nowMs'>; signingKeys?: SigningKeyStore } = {},
) {
  const store = options.store ? { url: options.store, drop: async () => {} } : await createTestStore(kind);
  const controller: Controller = await createController(
    {
      listen: { host: '127.0.0.1', port: 0 },
      southboundListen: { host: '127.0.0.1', port: 0 },
      adminPassword,
      sqliteSynchronous: 'NORMAL',
      ...options,
      store: store.url,
    },
    { logger: quietLogger, ...deps },
  );
  const urls = await controller.start();
  const admin = createApiClient({ baseUrl: urls.northboundUrl });
  await admin.login({ domain: 'default', username: 'admin', password: adminPassword });
  return {
    controller,
    urls,
    admin,
    storeUrl: store.url,
    async stop(dropStore = true) {
      await controller.stop();
      if (dropStore) await store.drop();
    },
  };
}

let sharedRsa: RsaKeyPair | undefined;
/** One RSA-2048 key for test nodes (each node still gets its own CGA through a random modifier). */
export function testRsaKey(): RsaKeyPair {
  sharedRsa ??= generateRsaKeyPair();
  return sharedRsa;
}

/** A node identity under `netprefix`: RSA key, CGA (Sec 0), X25519 key. */
export function makeNodeIdentity(netprefix: string, rsa: RsaKeyPair = testRsaKey()) {
  const publicKeyDer = exportPublicKeyDer(rsa.publicKey);
  const cga = generateCgaSync({
    publicKey: publicKeyDer,
    sec: 0,
    subnetPrefix: parseSubnetPrefix64(netprefix),
  });
  const x25519 = generateX25519KeyPair();
  return { rsa, publicKeyDer, cga, hostId: formatIpv6Address(cga.address), x25519 };
}

/** The registration body for `identity`, signed over `nonce`. */
export function registrationBody(
  identity: ReturnType<typeof makeNodeIdentity>,
  nonce: string,
  fields: { type: 'host' | 'engine'; hostname: string; locator?: string },
): SbRegisterRequest {
  const locator = fields.locator ?? '192.0.2.1:7447';
  const data = registrationSigningInput({
    nonce: Buffer.from(nonce, 'base64'),
    hostId: identity.hostId,
    hostname: fields.hostname,
    locator,
    x25519PublicKey: identity.x25519.publicKeyRaw,
  });
  return {
    nonce,
    type: fields.type,
    hostname: fields.hostname,
    locator,
    hostId: identity.hostId,
    cgaParameters: Buffer.from(identity.cga.parametersBytes).toString('base64'),
    rsaPublicKey: Buffer.from(identity.publicKeyDer).toString('base64'),
    x25519PublicKey: Buffer.from(identity.x25519.publicKeyRaw).toString('base64'),
    signature: sign('sha256', data, identity.rsa.privateKey).toString('base64'),
  };
}

/** Logs a node user in on the southbound API and registers one node; returns its client. */
export async function registerNode(
  southboundUrl: string,
  credentials: { domain: string; username: string; password: string },
  fields: { type: 'host' | 'engine'; hostname: string; locator?: string },
): Promise<{
  sb: ReturnType<typeof createSouthboundClient>;
  registration: SbRegisterResponse;
  hostId: string;
  identity: ReturnType<typeof makeNodeIdentity>;
}> {
  const sb = createSouthboundClient({ baseUrl: southboundUrl });
  const login = await sb.login(credentials);
  const identity = makeNodeIdentity(login.profile.scope.netprefix);
  const { nonce } = await sb.nonce();
  const registration = await sb.register(registrationBody(identity, nonce, fields));
  return { sb, registration, hostId: identity.hostId, identity };
}

/** A tiny valid RV32 program: `li a0, 1; ebreak` twice (two entries, offsets 0 and 8). */
export function tinyProgram(): ProgramImageTransfer {
  const words = [0x00100513, 0x00100073, 0x00200513, 0x00100073];
  const bytes = Buffer.alloc(16);
  for (const [i, word] of words.entries()) bytes.writeUInt32LE(word, i * 4);
  return {
    code: bytes.toString('base64'),
    entries: { client: 0, server: 8 },
    dataSize: 16,
    layout: [{ name: 'port', offset: 0, size: 4, type: 'int' }],
  };
}

/**
 * A controller that is created but not started (no listeners), for calling its use cases directly
 * with the real store and services: domain `default`, a zone `z1` (`fd00:1:2:3::/64`) and a node
 * user `node` holding hostOwner and engineOwner in it. `principal` is that user as
 * authentication would name it; `clock` is settable.
 */
export async function createUseCaseFixture(kind: StoreKind) {
  const store = await createTestStore(kind);
  let nowMs = Date.UTC(2026, 10, 21, 12);
  const clock = { nowMs: () => nowMs };
  const controller = await createController(
    { store: store.url, adminPassword, sqliteSynchronous: 'NORMAL' },
    { logger: quietLogger, clock },
  );
  const { context } = controller;
  const { db } = context.store;
  const created_at = new Date(nowMs).toISOString();
  const domain = await db
    .selectFrom('domains')
    .selectAll()
    .where('name', '=', 'default')
    .executeTakeFirstOrThrow();
  const zone = await db
    .insertInto('zones')
    .values({
      name: 'z1',
      netprefix: 'fd00:1:2:3::/64',
      primary_controller: '',
      secondary_controller: '',
      description: '',
      created_at,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  const user = await db
    .insertInto('users')
    .values({
      domain_id: domain.id,
      login: 'node',
      password_hash: unmatchableHashForTests,
      roles: JSON.stringify(['hostOwner', 'engineOwner']),
      active: 1,
      zone_id: zone.id,
      created_at,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  const principal = {
    userId: user.id,
    login: user.login,
    domainId: domain.id,
    domain: domain.name,
    roles: ['hostOwner', 'engineOwner'] as RoleName[],
    audience: 'node' as const,
    credentialGeneration: 0,
  };
  return {
    controller,
    context,
    db,
    zone,
    principal,
    clock: {
      nowMs: () => nowMs,
      advance: (ms: number) => {
        nowMs += ms;
      },
    },
    async stop() {
      await controller.stop();
      await store.drop();
    },
  };
}

/** No password matches it (the fixture's node user never logs in with one). */
const unmatchableHashForTests = `scrypt$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;

/** Registers a node through the registration use case (no HTTP); returns it and its principal. */
export async function registerFixtureNode(
  f: Awaited<ReturnType<typeof createUseCaseFixture>>,
  fields: { type: 'host' | 'engine'; hostname: string },
) {
  const identity = makeNodeIdentity(f.zone.netprefix);
  const { nonce } = await issueNonce(f.db, f.principal, f.context);
  const answer = await registerNodeUseCase(
    f.db,
    { principal: f.principal, request: registrationBody(identity, nonce, fields) },
    f.context,
  );
  return {
    node: answer.node,
    hostId: identity.hostId,
    principal: { ...f.principal, nodeId: answer.node.id },
  };
}

/**
 * Policy in the use-case fixture's domain, written straight to the store: template `echo` (the
 * tiny program; roles client, with variables a=1 b=2, and server), contract `shop`
 * (client ↔ server, client's b overridden to 5), service `web` granted both roles, and a service
 * token valid for a day.
 */
export async function addFixturePolicy(f: Awaited<ReturnType<typeof createUseCaseFixture>>) {
  const created_at = new Date(f.clock.nowMs()).toISOString();
  const domain_id = f.principal.domainId;
  const program = tinyProgram();
  const template = await f.db
    .insertInto('templates')
    .values({
      domain_id,
      name: 'echo',
      description: '',
      orientation: 'directed',
      multicast: 0,
      image: JSON.stringify(program),
      roles: JSON.stringify([
        { name: 'client', entry: 'client', variables: { a: 1, b: 2 } },
        { name: 'server', entry: 'server' },
      ]),
      logic_hash: createHash('sha256').update(Buffer.from(program.code, 'base64')).digest('hex'),
      created_at,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const contract = await f.db
    .insertInto('contracts')
    .values({
      domain_id,
      template_id: template.id,
      name: 'shop',
      description: '',
      enabled: 1,
      roles: JSON.stringify([
        { name: 'client', peer: 'server', variables: { b: 5 } },
        { name: 'server', peer: 'client' },
      ]),
      created_at,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const service = await f.db
    .insertInto('services')
    .values({
      domain_id,
      name: 'web',
      description: '',
      enabled: 1,
      grants: JSON.stringify([
        { contractId: contract.id, role: 'client' },
        { contractId: contract.id, role: 'server' },
      ]),
      created_at,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  /** A new token of the service, valid for `ttlMs` from now. */
  const newToken = async (ttlMs: number) => {
    const secret = randomBytes(16).toString('hex');
    const row = await f.db
      .insertInto('service_tokens')
      .values({
        service_id: service.id,
        domain_id,
        secret_hash: createHash('sha256').update(secret).digest('hex'),
        ident: secret.slice(-4),
        expires_at: new Date(f.clock.nowMs() + ttlMs).toISOString(),
        created_at: new Date(f.clock.nowMs()).toISOString(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return `${row.id}:${secret}`;
  };
  return {
    program,
    contractId: contract.id,
    serviceId: service.id,
    token: await newToken(86_400_000),
    newToken,
  };
}
