/**
 * Group keys of role-addressed traffic (anycast and multicast: a packet to a contract role's
 * address, opened by whichever member the engines' program picks). The controller draws a random
 * 32-byte **group secret** per (contract, role, epoch) and gives it to the role's members only;
 * each sender to the role gets its own **sender key**, derived from that secret and its host id:
 *
 * ```
 * sender key = HKDF-SHA256(ikm  = group secret (32 bytes),
 *                          salt = empty,
 *                          info = "capsule-group-v2" ‖ sender host id (16) ‖ epoch (u32 BE),
 *                          length = 32)
 * ```
 *
 * A sender seals with its sender key; a member derives the same key from the packet's source
 * address and key epoch (both visible) and the group secret (never visible). So a sender that is
 * not a member holds one key that opens only its own packets, the secret never leaves the
 * controller for a non-member, and nothing here comes from the service token.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { IdentityError } from './errors';

/** HKDF info label of group sender keys. */
export const GROUP_KEY_LABEL = 'capsule-group-v2';
/** Bytes of a group secret and of a sender key. */
export const GROUP_KEY_LENGTH = 32;
/** The largest key epoch (the sealed payload's 32-bit epoch field); epochs start at 1. */
export const GROUP_EPOCH_MAX = 0xffff_ffff;

/** A fresh random group secret (the controller's). */
export function generateGroupSecret(): Uint8Array {
  return new Uint8Array(randomBytes(GROUP_KEY_LENGTH));
}

/**
 * The sender key of `senderHostId` for epoch `epoch` of the group whose secret is `groupSecret`
 * (see the module comment). Throws IdentityError on a secret that is not 32 bytes, a host id that
 * is not 16 or an epoch outside 1…2^32−1: the caller's bug, not input.
 */
export function deriveGroupSenderKey(
  groupSecret: Uint8Array,
  senderHostId: Uint8Array,
  epoch: number,
): Uint8Array {
  if (groupSecret.length !== GROUP_KEY_LENGTH)
    throw new IdentityError('IDENTITY_INVALID_KEY', `a group secret is ${GROUP_KEY_LENGTH} bytes`);
  if (senderHostId.length !== 16)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'a host id is 16 bytes');
  if (!Number.isInteger(epoch) || epoch < 1 || epoch > GROUP_EPOCH_MAX)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', `a group key epoch is in 1…${GROUP_EPOCH_MAX}`);
  const info = new Uint8Array(GROUP_KEY_LABEL.length + 16 + 4);
  info.set(new TextEncoder().encode(GROUP_KEY_LABEL), 0);
  info.set(senderHostId, GROUP_KEY_LABEL.length);
  new DataView(info.buffer).setUint32(GROUP_KEY_LABEL.length + 16, epoch);
  return new Uint8Array(hkdfSync('sha256', groupSecret, new Uint8Array(0), info, GROUP_KEY_LENGTH));
}
