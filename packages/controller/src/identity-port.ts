/**
 * The controller's identity over @capsule/identity: its Ed25519 key (node certificates, flow
 * authorizations, program signatures) and the check of a registering node's proof — the CGA
 * verified per RFC 3972 section 5 and an RSA signature by the CGA's key over the registration
 * input (nonce, host id, name, X25519 key).
 */
import { createPublicKey, verify } from 'node:crypto';
import {
  type ControllerSigningKey,
  exportEd25519PublicKeyRaw,
  NodeType,
  rsaKeyHash,
  signFlowAuthorization,
  signNodeCertificate,
  signProgramImage,
  verifyCga,
} from '@capsule/identity';
import type { ControllerIdentity } from './ports';

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((byte, i) => byte === b[i]);

/** Wraps the controller's signing key as the ControllerIdentity port. */
export function createControllerIdentity(key: ControllerSigningKey): ControllerIdentity {
  return {
    publicKey: exportEd25519PublicKeyRaw(key.publicKey),
    keyId: key.keyId,
    signProgram: (code, entryOffsets) => signProgramImage({ code, entries: entryOffsets }, key).signature,
    checkNodeProof(proof) {
      const cga = verifyCga(proof.hostId, proof.cgaParameters);
      if (!cga.ok)
        return { ok: false, code: 'CGA_INVALID', reason: `the CGA does not verify (${cga.reason})` };
      if (!equal(cga.parameters.publicKey, proof.rsaPublicKeyDer))
        return { ok: false, code: 'CGA_INVALID', reason: 'the CGA parameters hold a different public key' };
      try {
        const publicKey = createPublicKey({
          key: Buffer.from(proof.rsaPublicKeyDer),
          format: 'der',
          type: 'spki',
        });
        if (publicKey.asymmetricKeyType !== 'rsa')
          return { ok: false, code: 'SIGNATURE_INVALID', reason: 'the node key is not an RSA key' };
        // RSASSA-PKCS1-v1_5 with SHA-256 (node:crypto's default padding for RSA keys).
        if (!verify('sha256', proof.signedData, publicKey, proof.signature))
          return {
            ok: false,
            code: 'SIGNATURE_INVALID',
            reason: 'the signature over the nonce does not verify',
          };
      } catch {
        return { ok: false, code: 'SIGNATURE_INVALID', reason: 'the public key or signature is malformed' };
      }
      return { ok: true };
    },
    issueNodeCertificate: (fields) =>
      signNodeCertificate(
        {
          nodeType: fields.nodeType === 'host' ? NodeType.host : NodeType.engine,
          serial: fields.serial,
          notBefore: Math.floor(fields.notBeforeMs / 1000),
          notAfter: Math.floor(fields.notAfterMs / 1000),
          zoneId: fields.zoneId,
          hostId: fields.hostId,
          x25519PublicKey: fields.x25519PublicKey,
          rsaKeyHash: rsaKeyHash(fields.rsaPublicKeyDer),
          name: fields.name,
        },
        key,
      ),
    issueFlowAuthorization: (fields) =>
      signFlowAuthorization(
        {
          serial: fields.serial,
          notBefore: Math.floor(fields.notBeforeMs / 1000),
          notAfter: Math.floor(fields.notAfterMs / 1000),
          domainId: fields.domainId,
          contractId: fields.contractId,
          roleId: fields.roleId,
          permissions: fields.permissions,
          sourceHostId: fields.sourceHostId,
          logicHash: fields.logicHash,
        },
        key,
      ),
  };
}
