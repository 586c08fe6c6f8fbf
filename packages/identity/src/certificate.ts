/**
 * The node's self-signed X.509 certificate: subject CN = host name, subjectAltName DNS = host name,
 * signed with its own RSA key (sha256WithRSAEncryption). Built with @peculiar/x509 over node's
 * WebCrypto. `checkHostCertificate` implements the seed's regeneration rule: new keys (and so a
 * new certificate and CGA) when the host name changed or the keys are missing.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata
// polyfill loaded first: the one global side effect of this package (docs/security.md).
import 'reflect-metadata';
import { type KeyObject, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { equalBytes } from './bytes';
import { IdentityError } from './errors';
import { exportPublicKeyDer } from './rsa-keys';

const subtle = webcrypto.subtle;
/** node's WebCrypto, typed as the provider @peculiar/x509 expects (the DOM `Crypto` type is not in our lib). */
const provider = webcrypto as unknown as NonNullable<
  Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]
>;
const rsaSha256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

/** Options of `createSelfSignedCertificate`. */
export interface SelfSignedCertificateOptions {
  /** The host name: the subject CN and the subjectAltName dNSName. */
  readonly hostName: string;
  /** Validity start; default now. */
  readonly notBefore?: Date;
  /** Validity in days from notBefore; default 3650. */
  readonly validityDays?: number;
}

/** Host names a certificate may carry: 1..253 octets of printable ASCII without spaces (RFC 1123 names and more). */
function assertHostName(hostName: string): void {
  if (!/^[\x21-\x7e]{1,253}$/.test(hostName))
    throw new IdentityError(
      'IDENTITY_INVALID_ARGUMENT',
      `not a usable host name: ${JSON.stringify(hostName)}`,
    );
}

/** Creates the self-signed certificate (PEM) for `hostName` and the RSA key pair. */
export async function createSelfSignedCertificate(
  keys: { privateKey: KeyObject; publicKey: KeyObject },
  options: SelfSignedCertificateOptions,
): Promise<string> {
  assertHostName(options.hostName);
  const notBefore = options.notBefore ?? new Date();
  const notAfter = new Date(notBefore.getTime() + (options.validityDays ?? 3650) * 86_400_000);
  const privateKey = await subtle.importKey(
    'pkcs8',
    keys.privateKey.export({ format: 'der', type: 'pkcs8' }),
    rsaSha256,
    false,
    ['sign'],
  );
  const publicKey = await subtle.importKey('spki', exportPublicKeyDer(keys.publicKey), rsaSha256, true, [
    'verify',
  ]);
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f || 0x01; // positive and 16 octets long (RFC 5280 4.1.2.2)
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: [{ CN: [options.hostName] }],
      notBefore,
      notAfter,
      signingAlgorithm: rsaSha256,
      keys: { privateKey, publicKey },
      extensions: [
        // A self-signed certificate is its own trust anchor: CA true lets `openssl verify -CAfile
        // cert.pem cert.pem` (and any PKIX path builder) accept it; pathLen 0 forbids issuing.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign,
          true,
        ),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: options.hostName }]),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, provider),
      ],
    },
    provider,
  );
  return certificate.toString('pem');
}

/** Why a stored certificate no longer fits this host (the seed's "RSA and CGA Management" rule). */
export type HostCertificateProblem =
  | 'malformed'
  | 'host-name-changed'
  | 'key-mismatch'
  | 'bad-signature'
  | 'expired'
  | 'not-yet-valid';

/** The outcome of `checkHostCertificate`. */
export type HostCertificateCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly problem: HostCertificateProblem };

/**
 * Does `certificatePem` belong to `hostName` and to `publicKey` (and is it a valid self-signed
 * certificate at `now`)? Never throws: a certificate that cannot be parsed is `malformed`.
 */
export async function checkHostCertificate(
  certificatePem: string,
  expected: { hostName: string; publicKey: KeyObject; now?: Date },
): Promise<HostCertificateCheck> {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(certificatePem);
  } catch {
    return { ok: false, problem: 'malformed' };
  }
  const commonNames = certificate.subjectName.getField('CN');
  if (commonNames.length !== 1 || commonNames[0] !== expected.hostName)
    return { ok: false, problem: 'host-name-changed' };
  const certificateKey = new Uint8Array(certificate.publicKey.rawData);
  if (!equalBytes(certificateKey, exportPublicKeyDer(expected.publicKey)))
    return { ok: false, problem: 'key-mismatch' };
  let signatureOk = false;
  try {
    signatureOk = await certificate.verify({ signatureOnly: true }, provider);
  } catch {
    signatureOk = false;
  }
  if (!signatureOk) return { ok: false, problem: 'bad-signature' };
  const now = expected.now ?? new Date();
  if (now < certificate.notBefore) return { ok: false, problem: 'not-yet-valid' };
  if (now > certificate.notAfter) return { ok: false, problem: 'expired' };
  return { ok: true };
}

/** What the agent must do with its RSA keys at start-up (seed: "RSA and CGA Management"). */
export type RsaKeyDecision = 'keep' | 'regenerate';

/**
 * The seed's rule: regenerate the RSA pair (and so the certificate and CGA) when the actual host
 * name differs from the configured one, or when no keys are stored; otherwise keep them.
 */
export function decideRsaKeys(state: {
  configuredHostName: string | undefined;
  actualHostName: string;
  hasKeys: boolean;
}): RsaKeyDecision {
  if (state.configuredHostName !== state.actualHostName) return 'regenerate';
  return state.hasKeys ? 'keep' : 'regenerate';
}
