/**
 * Program image signatures. The controller signs a canonical digest of a program image rather than
 * its serialised form, so that any encoding of the same code and entry table has one signature:
 *
 * ```
 * digest = SHA-256( "capsule-program-image-v1" ‖ 0x00
 *                   ‖ code length (u32 BE) ‖ code bytes
 *                   ‖ entry count (u16 BE) ‖ each entry offset (u32 BE) )
 * signature = Ed25519(controller key, digest)   (64 bytes)
 * ```
 *
 * The label separates this digest from every other thing the controller key signs (a 32-byte
 * message, while certificates and authorizations are ≥ 84 bytes of fixed layout).
 */
import { createHash } from 'node:crypto';
import type { ControllerPublicKey, ControllerSigningKey } from './controller-key';
import { signEd25519, verifyEd25519 } from './controller-key';
import { IdentityError } from './errors';

/** Domain-separation label of the program digest. */
export const PROGRAM_DIGEST_LABEL = 'capsule-program-image-v1';

/** What is signed of a program image: its machine code and entry offsets (bytes into the code). */
export interface ProgramImageContent {
  readonly code: Uint8Array;
  readonly entries: readonly number[];
}

/** A program image signature. */
export interface ProgramSignature {
  readonly keyId: number;
  /** 64 bytes. */
  readonly signature: Uint8Array;
}

/** The canonical 32-byte digest of a program image (see the module comment). */
export function programImageDigest(image: ProgramImageContent): Uint8Array {
  if (image.entries.length > 0xffff)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'at most 65535 entries');
  const header = Buffer.alloc(PROGRAM_DIGEST_LABEL.length + 1 + 4);
  header.write(PROGRAM_DIGEST_LABEL, 0, 'ascii');
  header.writeUInt32BE(image.code.length, PROGRAM_DIGEST_LABEL.length + 1);
  const entries = Buffer.alloc(2 + 4 * image.entries.length);
  entries.writeUInt16BE(image.entries.length, 0);
  image.entries.forEach((entry, index) => {
    if (!Number.isInteger(entry) || entry < 0 || entry > 0xffff_ffff)
      throw new IdentityError('IDENTITY_INVALID_ARGUMENT', `entry ${index} is not an unsigned 32-bit offset`);
    entries.writeUInt32BE(entry, 2 + 4 * index);
  });
  return new Uint8Array(createHash('sha256').update(header).update(image.code).update(entries).digest());
}

/** Signs a program image's digest with the controller key. */
export function signProgramImage(image: ProgramImageContent, key: ControllerSigningKey): ProgramSignature {
  return { keyId: key.keyId, signature: signEd25519(key.privateKey, programImageDigest(image)) };
}

/** The outcome of `verifyProgramImage`. */
export type ProgramSignatureVerification =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'wrong-key-id' | 'bad-signature' };

/** Verifies a program image signature. Never throws on bad input (an oversized entry table is a bad signature). */
export function verifyProgramImage(
  image: ProgramImageContent,
  signature: ProgramSignature,
  key: ControllerPublicKey,
): ProgramSignatureVerification {
  if (signature.keyId !== key.keyId) return { ok: false, reason: 'wrong-key-id' };
  let digest: Uint8Array;
  try {
    digest = programImageDigest(image);
  } catch {
    return { ok: false, reason: 'bad-signature' };
  }
  return verifyEd25519(key.publicKey, digest, signature.signature)
    ? { ok: true }
    : { ok: false, reason: 'bad-signature' };
}
