/**
 * The controller's TLS certificate and the pin nodes hold of it.
 *
 * `createTlsCertificate` makes an ECDSA P-256 key and a self-signed X.509 certificate for it
 * (ecdsa-with-SHA256): subject CN = the first name, subjectAltName = every name (IP addresses as
 * iPAddress, others as dNSName), basicConstraints CA:FALSE, keyUsage digitalSignature, extended key
 * usage serverAuth. P-256 rather than Ed25519: browsers (the web console) do not accept Ed25519
 * server certificates; node's TLS and OpenSSL accept both.
 *
 * The pin is SHA-256 over the certificate's DER encoding: what `openssl x509 -noout -fingerprint
 * -sha256` prints (with colons) and browsers show. A node that holds it accepts exactly that
 * certificate and no other, whoever issued it: no CA, host name or validity check takes part.
 */
import 'reflect-metadata';
import { createHash, generateKeyPairSync, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { parseIpv4, parseIpv6 } from '@capsule/wire';
import * as x509 from '@peculiar/x509';
import { bytesToHex, equalBytes, hexToBytes } from './bytes';
import { IdentityError } from './errors';

/** Length of a certificate pin: a SHA-256 digest. */
export const CERTIFICATE_SHA256_LENGTH = 32;

const provider = webcrypto as unknown as NonNullable<
  Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]
>;
const ecdsaP256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ecdsaSha256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Options of `createTlsCertificate`. */
export interface TlsCertificateOptions {
  /** Host names and IP addresses the certificate names (1..32); the first is also the subject CN. */
  readonly names: readonly string[];
  /** Validity start; default now minus one hour (clock skew between controller and clients). */
  readonly notBefore?: Date;
  /** Validity in days from notBefore; default 3650 (pinned clients do not check it; browsers do). */
  readonly validityDays?: number;
}

/** A TLS certificate, its private key and its pin. */
export interface TlsCertificate {
  /** The certificate, PEM. */
  readonly certificatePem: string;
  /** The ECDSA P-256 private key, PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** SHA-256 over the certificate's DER: the pin. */
  readonly sha256: Uint8Array;
}

function assertName(name: string): void {
  if (!/^[\x21-\x7e]{1,253}$/.test(name))
    throw new IdentityError(
      'IDENTITY_INVALID_ARGUMENT',
      `not a usable host name or address: ${JSON.stringify(name)}`,
    );
}

const isIpAddress = (name: string) => parseIpv4(name).ok || parseIpv6(name).ok;

/** Creates an ECDSA P-256 key and a self-signed TLS server certificate naming `options.names`. */
export async function createTlsCertificate(options: TlsCertificateOptions): Promise<TlsCertificate> {
  const names = [...new Set(options.names)];
  if (names.length === 0 || names.length > 32)
    throw new IdentityError(
      'IDENTITY_INVALID_ARGUMENT',
      `a TLS certificate names 1..32 hosts, not ${names.length}`,
    );
  for (const name of names) assertName(name);
  const notBefore = options.notBefore ?? new Date(Date.now() - 3_600_000);
  const notAfter = new Date(notBefore.getTime() + (options.validityDays ?? 3650) * 86_400_000);
  const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const privateKeyPem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const privateKey = await webcrypto.subtle.importKey(
    'pkcs8',
    pair.privateKey.export({ format: 'der', type: 'pkcs8' }),
    ecdsaP256,
    false,
    ['sign'],
  );
  const publicKey = await webcrypto.subtle.importKey(
    'spki',
    pair.publicKey.export({ format: 'der', type: 'spki' }),
    ecdsaP256,
    true,
    ['verify'],
  );
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f || 0x01; // positive and 16 octets long (RFC 5280 4.1.2.2)
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: [{ CN: [names[0]!] }],
      notBefore,
      notAfter,
      signingAlgorithm: ecdsaSha256,
      keys: { privateKey, publicKey },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(
          names.map((name) =>
            isIpAddress(name) ? { type: 'ip', value: name } : { type: 'dns', value: name },
          ),
        ),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, provider),
      ],
    },
    provider,
  );
  const certificatePem = certificate.toString('pem');
  return { certificatePem, privateKeyPem, sha256: certificateSha256(new Uint8Array(certificate.rawData)) };
}

/**
 * SHA-256 over a certificate's DER encoding. `certificate` is DER bytes, or PEM text (its first
 * CERTIFICATE block). Throws IDENTITY_INVALID_ARGUMENT for PEM that holds no certificate.
 */
export function certificateSha256(certificate: Uint8Array | string): Uint8Array {
  let der: Uint8Array;
  if (typeof certificate === 'string') {
    try {
      der = new X509Certificate(certificate).raw;
    } catch (error) {
      throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'not a PEM certificate', { cause: error });
    }
  } else der = certificate;
  return new Uint8Array(createHash('sha256').update(der).digest());
}

/** The pin as text: 64 lower-case hex digits, no separators (what `--ca-sha256` takes). */
export function formatCertificateSha256(sha256: Uint8Array): string {
  if (sha256.length !== CERTIFICATE_SHA256_LENGTH)
    throw new IdentityError(
      'IDENTITY_INVALID_ARGUMENT',
      `a certificate pin is 32 bytes, not ${sha256.length}`,
    );
  return bytesToHex(sha256);
}

/**
 * The pin's text forms as a JSON-schema pattern (config files): `parseCertificateSha256` takes
 * exactly these (after trimming).
 */
export const CERTIFICATE_SHA256_PATTERN = '^(?:[sS][hH][aA]256[:=])?[0-9A-Fa-f]{2}(?::?[0-9A-Fa-f]{2}){31}$';

/**
 * A pin from text: 64 hex digits, either case, optionally with a `sha256:` prefix and colons
 * between byte pairs (OpenSSL's `-fingerprint` form). Undefined for anything else; never throws.
 */
export function parseCertificateSha256(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length > 200) return undefined;
  let clean = text.trim();
  if (/^sha256[:=]/i.test(clean)) clean = clean.slice(7);
  if (!/^([0-9a-fA-F]{2})(:?[0-9a-fA-F]{2}){31}$/.test(clean)) return undefined;
  const bytes = hexToBytes(clean);
  return bytes?.length === CERTIFICATE_SHA256_LENGTH ? bytes : undefined;
}

/** True when `certificateDer` hashes to `pin` (constant-time comparison). */
export function certificateMatchesPin(certificateDer: Uint8Array, pin: Uint8Array): boolean {
  return pin.length === CERTIFICATE_SHA256_LENGTH && equalBytes(certificateSha256(certificateDer), pin);
}
