/**
 * The controller's TLS certificate and its pin: a P-256 self-signed server certificate that
 * node's X.509 parser and TLS stack accept, whose pin is OpenSSL's SHA-256 fingerprint; the pin
 * parser takes the documented forms and nothing else, never throwing.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CERTIFICATE_SHA256_LENGTH,
  CERTIFICATE_SHA256_PATTERN,
  certificateMatchesPin,
  certificateSha256,
  createTlsCertificate,
  formatCertificateSha256,
  parseCertificateSha256,
} from './tls-certificate';

describe('createTlsCertificate', () => {
  it('makes a P-256 server certificate naming every host, whose pin is the SHA-256 fingerprint', async () => {
    const made = await createTlsCertificate({ names: ['controller.example', '10.77.0.1', '::1'] });
    const certificate = new X509Certificate(made.certificatePem);
    expect(certificate.subject).toBe('CN=controller.example');
    expect(certificate.subjectAltName).toContain('DNS:controller.example');
    expect(certificate.subjectAltName).toContain('IP Address:10.77.0.1');
    expect(certificate.subjectAltName).toContain('IP Address:0:0:0:0:0:0:0:1');
    expect(certificate.ca).toBe(false);
    expect(certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(certificate.checkPrivateKey(createPrivateKey(made.privateKeyPem))).toBe(true);
    expect(certificate.verify(createPublicKey(made.privateKeyPem))).toBe(true);
    expect(certificate.checkHost('controller.example')).toBe('controller.example');
    expect(certificate.checkIP('10.77.0.1')).toBe('10.77.0.1');
    // The pin is what `openssl x509 -fingerprint -sha256` prints, without the colons.
    expect(formatCertificateSha256(made.sha256)).toBe(
      certificate.fingerprint256.replace(/:/g, '').toLowerCase(),
    );
    expect(certificateSha256(made.certificatePem)).toEqual(made.sha256);
    expect(certificateMatchesPin(new Uint8Array(certificate.raw), made.sha256)).toBe(true);
    // Ten years from an hour ago by default.
    const validDays = (Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / 86_400_000;
    expect(validDays).toBeCloseTo(3650, 0);
  });

  it('two certificates never share a pin (fresh key and serial each time)', async () => {
    const [a, b] = await Promise.all([
      createTlsCertificate({ names: ['c'] }),
      createTlsCertificate({ names: ['c'] }),
    ]);
    expect(formatCertificateSha256(a.sha256)).not.toBe(formatCertificateSha256(b.sha256));
    expect(certificateMatchesPin(new Uint8Array(new X509Certificate(a.certificatePem).raw), b.sha256)).toBe(
      false,
    );
  });

  it('refuses no names, too many names, and names with spaces or control characters', async () => {
    for (const names of [
      [],
      Array.from({ length: 33 }, (_, i) => `h${i}`),
      ['a b'],
      ['a\nb'],
      [''],
      ['x'.repeat(254)],
    ])
      await expect(createTlsCertificate({ names })).rejects.toMatchObject({
        code: 'IDENTITY_INVALID_ARGUMENT',
      });
  });
});

describe('the pin as text', () => {
  const pin = new Uint8Array(Array.from({ length: 32 }, (_, i) => i * 7 + 1));
  const hex = formatCertificateSha256(pin);

  it('round-trips, and takes upper case, colons and a sha256: prefix', () => {
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    expect(parseCertificateSha256(hex)).toEqual(pin);
    expect(parseCertificateSha256(hex.toUpperCase())).toEqual(pin);
    const colons = hex.match(/../g)!.join(':');
    expect(parseCertificateSha256(colons)).toEqual(pin);
    expect(parseCertificateSha256(`sha256:${hex}`)).toEqual(pin);
    expect(parseCertificateSha256(`SHA256=${colons}`)).toEqual(pin);
    expect(parseCertificateSha256(`  ${hex}\n`)).toEqual(pin);
  });

  it('refuses every other text without throwing', () => {
    for (const bad of [
      '',
      hex.slice(2),
      `${hex}00`,
      `${hex.slice(0, 63)}g`,
      `0x${hex}`,
      `sha1:${hex}`,
      `${hex.slice(0, 2)}::${hex.slice(2)}`,
      `:${hex}`,
      hex.replace(/(..)/g, '$1 '),
      'x'.repeat(10_000),
      null as unknown as string,
      42 as unknown as string,
    ]) {
      expect(parseCertificateSha256(bad)).toBeUndefined();
      if (typeof bad === 'string') expect(new RegExp(CERTIFICATE_SHA256_PATTERN).test(bad)).toBe(false);
    }
    for (const good of [hex, hex.toUpperCase(), `sha256:${hex}`, hex.match(/../g)!.join(':')])
      expect(new RegExp(CERTIFICATE_SHA256_PATTERN).test(good)).toBe(true);
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        const parsed = parseCertificateSha256(text);
        // The config schema's pattern and the parser agree.
        if ((parsed !== undefined) !== new RegExp(CERTIFICATE_SHA256_PATTERN).test(text.trim())) return false;
        return parsed === undefined || parsed.length === CERTIFICATE_SHA256_LENGTH;
      }),
      { seed: 1313, numRuns: 2000 },
    );
  });

  it('a pin of the wrong length matches nothing and does not format', async () => {
    const made = await createTlsCertificate({ names: ['c'] });
    const der = new Uint8Array(new X509Certificate(made.certificatePem).raw);
    expect(certificateMatchesPin(der, made.sha256.subarray(0, 31))).toBe(false);
    expect(certificateMatchesPin(der, new Uint8Array(0))).toBe(false);
    expect(() => formatCertificateSha256(new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: 'IDENTITY_INVALID_ARGUMENT' }),
    );
    expect(() => certificateSha256('not a certificate')).toThrow(
      expect.objectContaining({ code: 'IDENTITY_INVALID_ARGUMENT' }),
    );
  });
});
