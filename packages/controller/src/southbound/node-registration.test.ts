/**
 * Node registration as a use case (no HTTP), on both stores: a real RSA key, CGA and signature;
 * the nonce is single-use even when the attempt fails; what a forged or stale registration gets.
 */
import { generateKeyPairSync } from 'node:crypto';
import { ApiError } from '@capsule/api';
import { decodeNodeCertificate, importControllerPublicKey, verifyNodeCertificate } from '@capsule/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createUseCaseFixture,
  hasPostgres,
  makeNodeIdentity,
  registrationBody,
  storeKinds,
} from '../../test/harness';
import { issueNonce, nodeLogin, registerNode } from './node-registration';

const ed25519SpkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`);
  return error.code;
}

for (const kind of storeKinds) {
  describe.skipIf(kind === 'postgres' && !hasPostgres)(`node registration on ${kind}`, () => {
    let f: Awaited<ReturnType<typeof createUseCaseFixture>>;
    beforeAll(async () => {
      f = await createUseCaseFixture(kind);
    }, 60_000);
    afterAll(async () => f?.stop());

    const register = async (
      identity: ReturnType<typeof makeNodeIdentity>,
      fields: { type: 'host' | 'engine'; hostname: string },
      nonce?: string,
    ) => {
      const used = nonce ?? (await issueNonce(f.db, f.principal, f.context)).nonce;
      return registerNode(
        f.db,
        { principal: f.principal, request: registrationBody(identity, used, fields) },
        f.context,
      );
    };

    it('answers a node user with its zone as the login scope', async () => {
      const login = await nodeLogin(f.db, f.principal, f.context);
      expect(login.profile.scope).toEqual({ zoneId: f.zone.id, zone: 'z1', netprefix: 'fd00:1:2:3::/64' });
      expect(await f.context.tokens.verify(login.token, 'node', f.clock.nowMs())).toMatchObject({
        userId: f.principal.userId,
      });
    });

    it('registers a node, with a certificate the controller key verifies and a node token', async () => {
      const identity = makeNodeIdentity(f.zone.netprefix);
      const answer = await register(identity, { type: 'engine', hostname: 'e1' });
      expect(answer.node).toMatchObject({
        type: 'engine',
        hostname: 'e1',
        status: 'registered',
        hostId: identity.hostId,
      });
      const certificate = Buffer.from(answer.certificate, 'base64');
      const key = importControllerPublicKey(
        Buffer.concat([ed25519SpkiPrefix, Buffer.from(answer.controllerPublicKey, 'base64')]),
      );
      expect(verifyNodeCertificate(certificate, key, Math.floor(f.clock.nowMs() / 1000)).ok).toBe(true);
      const decoded = decodeNodeCertificate(certificate);
      expect(decoded.ok && decoded.value.name).toBe('e1');
      const principal = await f.context.tokens.verify(answer.token, 'node', f.clock.nowMs());
      expect(principal.nodeId).toBe(answer.node.id);
      const audit = await f.db.selectFrom('audit').selectAll().where('object_type', '=', 'nodes').execute();
      expect(audit.at(-1)).toMatchObject({ action: 'register', object_id: answer.node.id });
      // The same host id again (a restart with new keys) updates the node.
      const again = await register(
        { ...identity, x25519: makeNodeIdentity(f.zone.netprefix).x25519 },
        {
          type: 'engine',
          hostname: 'e1-new',
        },
      );
      expect(again.node).toMatchObject({ id: answer.node.id, hostname: 'e1-new' });
      expect(again.node.x25519PublicKey).not.toBe(answer.node.x25519PublicKey);
    });

    it('uses the nonce up: a replay and a failed attempt leave it unusable', async () => {
      const identity = makeNodeIdentity(f.zone.netprefix);
      const { nonce } = await issueNonce(f.db, f.principal, f.context);
      await register(identity, { type: 'host', hostname: 'h1' }, nonce);
      expect(await codeOf(register(identity, { type: 'host', hostname: 'h1' }, nonce))).toBe('NONCE_INVALID');

      const forged = await issueNonce(f.db, f.principal, f.context);
      const body = registrationBody(identity, forged.nonce, { type: 'host', hostname: 'h1' });
      const signature = Buffer.from(body.signature, 'base64');
      signature.writeUInt8(signature.readUInt8(10) ^ 1, 10);
      const attempt = (request: typeof body) =>
        registerNode(f.db, { principal: f.principal, request }, f.context);
      expect(await codeOf(attempt({ ...body, signature: signature.toString('base64') }))).toBe(
        'SIGNATURE_INVALID',
      );
      expect(await codeOf(attempt(body))).toBe('NONCE_INVALID');
    });

    it('refuses an expired or unknown nonce, a host id outside the zone, a missing role', async () => {
      const identity = makeNodeIdentity(f.zone.netprefix);
      const { nonce } = await issueNonce(f.db, f.principal, f.context);
      f.clock.advance(f.context.nonceLifetimeMs + 1);
      expect(await codeOf(register(identity, { type: 'host', hostname: 'h2' }, nonce))).toBe('NONCE_INVALID');
      expect(
        await codeOf(
          register(identity, { type: 'host', hostname: 'h2' }, Buffer.alloc(32).toString('base64')),
        ),
      ).toBe('NONCE_INVALID');
      const outside = makeNodeIdentity('fd00:9:9:9::/64');
      expect(await codeOf(register(outside, { type: 'host', hostname: 'h3' }))).toBe('CGA_INVALID');
      const hostOnly = { ...f.principal, roles: ['hostOwner' as const] };
      const { nonce: fresh } = await issueNonce(f.db, hostOnly, f.context);
      const request = registrationBody(identity, fresh, { type: 'engine', hostname: 'e9' });
      expect(await codeOf(registerNode(f.db, { principal: hostOnly, request }, f.context))).toBe('FORBIDDEN');
    });

    it('refuses RSA keys under 2048 bits and small-order X25519 keys (WEAK_KEY), all else being valid', async () => {
      for (const modulusLength of [512, 1024, 2047]) {
        const rsa = generateKeyPairSync('rsa', { modulusLength, publicExponent: 0x10001 });
        const weak = makeNodeIdentity(f.zone.netprefix, rsa);
        expect(
          await codeOf(register(weak, { type: 'engine', hostname: `rsa${modulusLength}` })),
          `${modulusLength}`,
        ).toBe('WEAK_KEY');
      }
      const strong = generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 0x10001 });
      await register(makeNodeIdentity(f.zone.netprefix, strong), { type: 'engine', hostname: 'rsa3072' });
      for (const point of [
        '0000000000000000000000000000000000000000000000000000000000000000',
        '0100000000000000000000000000000000000000000000000000000000000000',
        'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
        'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      ]) {
        const identity = makeNodeIdentity(f.zone.netprefix);
        const lowOrder = {
          ...identity,
          x25519: { ...identity.x25519, publicKeyRaw: Buffer.from(point, 'hex') },
        };
        expect(await codeOf(register(lowOrder, { type: 'host', hostname: 'zero' })), point).toBe('WEAK_KEY');
      }
      const stored = await f.db.selectFrom('nodes').select('hostname').execute();
      expect(stored.map((row) => row.hostname)).not.toContain('zero');
      expect(stored.map((row) => row.hostname)).not.toContain('rsa1024');
    });

    it('signs the locator: a registration whose locator was changed after signing is refused', async () => {
      const identity = makeNodeIdentity(f.zone.netprefix);
      const { nonce } = await issueNonce(f.db, f.principal, f.context);
      const body = registrationBody(identity, nonce, {
        type: 'engine',
        hostname: 'e-loc',
        locator: '192.0.2.50:7447',
      });
      const relayed = { ...body, locator: '198.51.100.66:7447' };
      expect(await codeOf(registerNode(f.db, { principal: f.principal, request: relayed }, f.context))).toBe(
        'SIGNATURE_INVALID',
      );
      const { nonce: fresh } = await issueNonce(f.db, f.principal, f.context);
      const honest = registrationBody(identity, fresh, {
        type: 'engine',
        hostname: 'e-loc',
        locator: '192.0.2.50:7447',
      });
      const answer = await registerNode(f.db, { principal: f.principal, request: honest }, f.context);
      expect(answer.node.locator).toBe('192.0.2.50:7447');
    });
  });
}
