/**
 * The controller's identity over @capsule/identity: its Ed25519 keys (node certificates and flow
 * authorizations; the key ring of signing-key.ts says which one signs now) and the check of a registering node's proof — the CGA
 * verified per RFC 3972 section 5 and an RSA signature by the CGA's key over the registration
 * input (nonce, host id, name, locator, X25519 key), made by an RSA key of at least
 * RSA_MODULUS_BITS (2048) bits.
 */
import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import {
  type ControllerSigningKey,
  encodeNodeCertificate,
  exportEd25519PublicKeyRaw,
  NODE_CERTIFICATE_VERSION,
  NodeType,
  nodeCertificateLength,
  RSA_MODULUS_BITS,
  rsaKeyHash,
  signFlowAuthorization,
  verifyCga,
} from '@capsule/identity';
import type { Clock } from '@capsule/wire';
import type { ControllerIdentity } from './ports';
import type { SigningKeyRing } from './signing-key';

const equal = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);

/** DER of the rsaEncryption AlgorithmIdentifier (OID 1.2.840.113549.1.1.1, NULL parameters). */
const rsaAlgorithm = Buffer.from('300d06092a864886f70d0101010500', 'hex');

/** One DER element at `offset`: its tag and where its contents start and end (undefined if malformed). */
function readDer(der: Uint8Array, offset: number): { tag: number; start: number; end: number } | undefined {
  const tag = der[offset];
  let length = der[offset + 1];
  if (tag === undefined || length === undefined) return undefined;
  let start = offset + 2;
  if (length === 0x81 || length === 0x82) {
    const bytes = length - 0x80;
    length = 0;
    for (let i = 0; i < bytes; i += 1) length = length * 256 + (der[start + i] ?? Number.NaN);
    start += bytes;
  } else if (length > 0x7f) return undefined;
  const end = start + length;
  return Number.isNaN(end) || end > der.length ? undefined : { tag, start, end };
}

/** The modulus and exponent of a DER SubjectPublicKeyInfo holding an RSA key, as JWK fields. */
function rsaJwkOfSpki(der: Uint8Array): { kty: 'RSA'; n: string; e: string } | undefined {
  const spki = readDer(der, 0);
  if (spki?.tag !== 0x30 || spki.end !== der.length) return undefined;
  if (!equal(der.subarray(spki.start, spki.start + rsaAlgorithm.length), rsaAlgorithm)) return undefined;
  const bits = readDer(der, spki.start + rsaAlgorithm.length);
  if (bits?.tag !== 0x03 || bits.end !== spki.end || der[bits.start] !== 0) return undefined;
  const key = readDer(der, bits.start + 1);
  if (key?.tag !== 0x30 || key.end !== bits.end) return undefined;
  const n = readDer(der, key.start);
  const e = n && readDer(der, n.end);
  if (n?.tag !== 0x02 || e?.tag !== 0x02 || e.end !== key.end) return undefined;
  const unsigned = (from: number, to: number) => {
    let first = from;
    while (first < to - 1 && der[first] === 0) first += 1;
    return Buffer.from(der.buffer, der.byteOffset + first, to - first).toString('base64url');
  };
  return { kty: 'RSA', n: unsigned(n.start, n.end), e: unsigned(e.start, e.end) };
}

/**
 * A node's RSA public key from its DER SubjectPublicKeyInfo. OpenSSL 3's DER decoder takes about
 * 130 µs a key, the JWK import of the same modulus and exponent about 5 µs; the JWK path is taken
 * only when the key re-encodes to exactly the given bytes, so it accepts what the DER decoder
 * accepts and yields the same key. Anything else goes through the DER decoder (and its errors).
 */
export function importRsaPublicKey(der: Uint8Array): KeyObject {
  const jwk = rsaJwkOfSpki(der);
  if (jwk) {
    try {
      const key = createPublicKey({ key: jwk, format: 'jwk' });
      if (equal(key.export({ format: 'der', type: 'spki' }), der)) return key;
    } catch {}
  }
  return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
}

/**
 * The ControllerIdentity port over the controller's key ring: everything is signed by the key that
 * signs at the clock's now (`ring.signingKey`), which a rotation changes while the controller runs.
 */
export function createControllerIdentity(
  ring: Pick<SigningKeyRing, 'signingKey' | 'trusted'>,
  clock: Pick<Clock, 'nowMs'>,
): ControllerIdentity {
  const rawOf = new WeakMap<ControllerSigningKey, Uint8Array>();
  const current = () => ring.signingKey(clock.nowMs());
  return {
    get publicKey() {
      const key = current();
      let raw = rawOf.get(key);
      if (raw === undefined) {
        raw = exportEd25519PublicKeyRaw(key.publicKey);
        rawOf.set(key, raw);
      }
      return raw;
    },
    get keyId() {
      return current().keyId;
    },
    trustedKeys() {
      return ring.trusted(clock.nowMs()).map((record) => ({
        keyId: record.keyId,
        publicKey: record.publicKey,
        notAfter: record.retiresAtMs === null ? null : new Date(record.retiresAtMs).toISOString(),
      }));
    },
    async checkNodeProof(proof) {
      const cga = verifyCga(proof.hostId, proof.cgaParameters);
      if (!cga.ok)
        return { ok: false, code: 'CGA_INVALID', reason: `the CGA does not verify (${cga.reason})` };
      if (!equal(cga.parameters.publicKey, proof.rsaPublicKeyDer))
        return { ok: false, code: 'CGA_INVALID', reason: 'the CGA parameters hold a different public key' };
      let publicKey: KeyObject;
      try {
        publicKey = importRsaPublicKey(proof.rsaPublicKeyDer);
      } catch {
        return { ok: false, code: 'SIGNATURE_INVALID', reason: 'the public key or signature is malformed' };
      }
      if (publicKey.asymmetricKeyType !== 'rsa')
        return { ok: false, code: 'SIGNATURE_INVALID', reason: 'the node key is not an RSA key' };
      const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < RSA_MODULUS_BITS)
        return {
          ok: false,
          code: 'WEAK_KEY',
          reason: `the node's RSA key has ${bits} bits; at least ${RSA_MODULUS_BITS} are needed`,
        };
      // RSASSA-PKCS1-v1_5 with SHA-256 (node:crypto's default padding for RSA keys).
      const valid = await new Promise<boolean | 'malformed'>((resolve) => {
        try {
          verify('sha256', proof.signedData, publicKey, proof.signature, (error, ok) =>
            resolve(error ? 'malformed' : ok),
          );
        } catch {
          resolve('malformed');
        }
      });
      if (valid === 'malformed')
        return { ok: false, code: 'SIGNATURE_INVALID', reason: 'the public key or signature is malformed' };
      if (!valid)
        return {
          ok: false,
          code: 'SIGNATURE_INVALID',
          reason: 'the signature over the nonce does not verify',
        };
      return { ok: true };
    },
    async issueNodeCertificate(fields) {
      // signNodeCertificate's bytes, with the Ed25519 signature made off the event loop.
      const key = current();
      const body = {
        version: NODE_CERTIFICATE_VERSION,
        nodeType: fields.nodeType === 'host' ? NodeType.host : NodeType.engine,
        keyId: key.keyId,
        serial: fields.serial,
        notBefore: Math.floor(fields.notBeforeMs / 1000),
        notAfter: Math.floor(fields.notAfterMs / 1000),
        zoneId: fields.zoneId,
        hostId: fields.hostId,
        x25519PublicKey: fields.x25519PublicKey,
        rsaKeyHash: rsaKeyHash(fields.rsaPublicKeyDer),
        name: fields.name,
        signature: new Uint8Array(64),
      };
      const bytes = new Uint8Array(nodeCertificateLength(fields.name));
      const signedLength = encodeNodeCertificate(body, bytes) - 64;
      const signature = await new Promise<Buffer>((resolve, reject) =>
        sign(null, bytes.subarray(0, signedLength), key.privateKey, (error, value) =>
          error ? reject(error) : resolve(value),
        ),
      );
      bytes.set(signature, signedLength);
      return bytes;
    },
    issueFlowAuthorization: (fields) =>
      signFlowAuthorization(
        {
          serial: fields.serial,
          notBefore: Math.floor(fields.notBeforeMs / 1000),
          notAfter: Math.floor(fields.notAfterMs / 1000),
          domainId: fields.domainId,
          contractId: fields.contractId,
          roleId: fields.roleId,
          sourceHostId: fields.sourceHostId,
          logicHash: fields.logicHash,
        },
        current(),
      ),
  };
}
