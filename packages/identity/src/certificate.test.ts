import { describe, expect, it } from 'vitest';
import { checkHostCertificate, createSelfSignedCertificate, decideRsaKeys } from './certificate';
import { generateRsaKeyPair } from './rsa-keys';

describe('self-signed host certificate', () => {
  const keys = generateRsaKeyPair();
  const other = generateRsaKeyPair();

  it('matches its host name and key, and only those', async () => {
    const pem = await createSelfSignedCertificate(keys, { hostName: 'agent-1.lab', validityDays: 30 });
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(await checkHostCertificate(pem, { hostName: 'agent-1.lab', publicKey: keys.publicKey })).toEqual({
      ok: true,
    });
    expect(await checkHostCertificate(pem, { hostName: 'agent-2.lab', publicKey: keys.publicKey })).toEqual({
      ok: false,
      problem: 'host-name-changed',
    });
    expect(await checkHostCertificate(pem, { hostName: 'agent-1.lab', publicKey: other.publicKey })).toEqual({
      ok: false,
      problem: 'key-mismatch',
    });
    const later = new Date(Date.now() + 31 * 86_400_000);
    expect(
      await checkHostCertificate(pem, { hostName: 'agent-1.lab', publicKey: keys.publicKey, now: later }),
    ).toEqual({
      ok: false,
      problem: 'expired',
    });
    const earlier = new Date(Date.now() - 2 * 86_400_000); // before it was made (a clock set back)
    expect(
      await checkHostCertificate(pem, { hostName: 'agent-1.lab', publicKey: keys.publicKey, now: earlier }),
    ).toEqual({ ok: false, problem: 'not-yet-valid' });
  });

  it('detects a tampered certificate and garbage', async () => {
    const pem = await createSelfSignedCertificate(keys, { hostName: 'agent-1.lab' });
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 10]! ^= 0x01; // inside the signature value
    const tampered = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
    expect(
      await checkHostCertificate(tampered, { hostName: 'agent-1.lab', publicKey: keys.publicKey }),
    ).toEqual({
      ok: false,
      problem: 'bad-signature',
    });
    expect(
      await checkHostCertificate('not a certificate', { hostName: 'x', publicKey: keys.publicKey }),
    ).toEqual({
      ok: false,
      problem: 'malformed',
    });
  });

  it('refuses an unusable host name', async () => {
    await expect(createSelfSignedCertificate(keys, { hostName: 'has space' })).rejects.toMatchObject({
      code: 'IDENTITY_INVALID_ARGUMENT',
    });
  });
});

describe("the seed's RSA regeneration rule", () => {
  it('regenerates when the host name changed or keys are missing, keeps otherwise', () => {
    expect(decideRsaKeys({ configuredHostName: 'a', actualHostName: 'a', hasKeys: true })).toBe('keep');
    expect(decideRsaKeys({ configuredHostName: 'a', actualHostName: 'b', hasKeys: true })).toBe('regenerate');
    expect(decideRsaKeys({ configuredHostName: 'a', actualHostName: 'a', hasKeys: false })).toBe(
      'regenerate',
    );
    expect(decideRsaKeys({ configuredHostName: undefined, actualHostName: 'a', hasKeys: true })).toBe(
      'regenerate',
    );
  });
});
