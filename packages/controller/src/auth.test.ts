import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, importJWK, type JWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createTokenService, type Principal } from './auth';

const { privateKey } = generateKeyPairSync('ed25519');
const jwk = privateKey.export({ format: 'jwk' }) as JWK;
const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
const alice: Principal = {
  userId: 7,
  login: 'alice',
  domainId: 2,
  domain: 'blue',
  roles: ['domainAdmin'],
  audience: 'user',
  credentialGeneration: 0,
};
const service = () =>
  createTokenService({
    privateJwk: jwk,
    publicJwk,
    issuer: 'capsule-controller',
    tokenLifetimeMs: 3_600_000,
  });
const t0 = Date.UTC(2026, 0, 1);

describe('token service', () => {
  it('issues standard EdDSA JWTs that jose verifies, with the claims the verifier needs', async () => {
    const { token, expiresAt } = await (await service()).issue({ ...alice, nodeId: 9 }, t0);
    const { payload, protectedHeader } = await jwtVerify(token, await importJWK(publicJwk, 'EdDSA'), {
      issuer: 'capsule-controller',
      audience: 'user',
      currentDate: new Date(t0),
    });
    expect(protectedHeader).toEqual({ alg: 'EdDSA' });
    expect(payload).toMatchObject({
      sub: '7',
      login: 'alice',
      dom: 2,
      domn: 'blue',
      node: 9,
      iat: t0 / 1000,
    });
    expect(new Date(expiresAt).getTime()).toBe(t0 + 3_600_000);
  });

  it('verifies, remembers a verified token, and still enforces expiry and audience', async () => {
    const tokens = await service();
    const { token } = await tokens.issue(alice, t0);
    expect(await tokens.verify(token, 'user', t0)).toEqual(alice);
    expect(await tokens.verify(token, 'user', t0 + 1000)).toEqual(alice); // remembered
    await expect(tokens.verify(token, 'node', t0)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(tokens.verify(token, 'user', t0 + 3_600_000)).rejects.toThrow(/expired/);
    await expect(tokens.verify(token, 'user', t0 + 3_600_000 - 1000)).resolves.toEqual(alice);
  });

  it('does not let a remembered signature vouch for another payload', async () => {
    const tokens = await service();
    const { token } = await tokens.issue(alice, t0);
    await tokens.verify(token, 'user', t0);
    const [header, , signature] = token.split('.');
    const forged = { ...decodeJwt(token), roles: ['systemAdmin'] };
    const payload = Buffer.from(JSON.stringify(forged)).toString('base64url');
    await expect(tokens.verify(`${header}.${payload}.${signature}`, 'user', t0)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
  });
});
