/**
 * Why the engine dropped a packet: one code per cause, each counted and exported at /metrics.
 *
 * Codes 1..12 are the sandbox's trap reasons (TrapReason of @capsule/vm, same numbers); the
 * engine's own causes start at 32. The code also goes into the reason byte of a TRACE record.
 */
import { TrapReason } from '@capsule/vm';

/** The engine's drop reasons (traps keep the VM's numbers). */
export const DropReason = {
  ...TrapReason,
  /** Not an IPv6 packet, or shorter than its headers say. */
  MALFORMED_PACKET: 32,
  /** The IPv6 next header is not the capsule header (253). */
  NOT_CAPSULE: 33,
  /** The capsule header or a chunk fails validation (CapsuleHeaderView). */
  MALFORMED_CAPSULE: 34,
  /** The hop limit would reach 0. */
  HOP_LIMIT: 35,
  /** A type II or III packet of a flow this engine has not verified (or that expired). */
  UNKNOWN_FLOW: 36,
  /** No room for a new flow: the table is full and its heaviest source has no flow idle long enough to give up. */
  FLOW_TABLE_FULL: 37,
  /** The AUTH chunk is not a flow authorization (length, version, algorithm). */
  AUTH_MALFORMED: 38,
  /** The signature does not verify, or the key id is not the controller's: forged. */
  AUTH_FORGED: 39,
  /** Past the authorization's not-after (at verification or later, per packet). */
  AUTH_EXPIRED: 40,
  AUTH_NOT_YET_VALID: 41,
  /** The authorization's serial was revoked by the controller. */
  AUTH_REVOKED: 42,
  /** The packet's source address is not the authorization's source host id. */
  WRONG_SOURCE: 43,
  /** Arrived on a link that is neither the source host's own link nor an engine link. */
  WRONG_LINK: 44,
  /** SHA-256 of the CODE chunk's machine code differs from the authorization's logic hash. */
  LOGIC_HASH_MISMATCH: 45,
  /** The static verifier rejected the program. */
  PROGRAM_REJECTED: 46,
  /** A type II packet's CODE chunk differs from the code verified for its flow. */
  CODE_HASH_MISMATCH: 47,
  /** FORWARD/REPLICATE named a link that does not exist or is down. */
  NO_ROUTE: 48,
  /** DELIVER, but no link to the destination host. */
  NO_HOST_LINK: 49,
  /** The program chose DROP (its own reason is in the flow's last verdict). */
  PROGRAM_DROP: 50,
  /** The link layer refused the send (link not up). */
  SEND_FAILED: 51,
  /** A new flow of a source host that holds its quota of flows, none idle long enough to give up. */
  FLOW_SOURCE_QUOTA: 52,
  /** A new flow of an authorization that holds its quota of flows, none idle long enough to give up. */
  FLOW_AUTHORIZATION_QUOTA: 53,
} as const;
export type DropReasonCode = (typeof DropReason)[keyof typeof DropReason];

const names: string[] = [];
for (const [name, code] of Object.entries(DropReason)) if (code !== 0) names[code] = name;

/** The name of a drop reason code (`UNKNOWN_<n>` for others). */
export function dropReasonName(code: number): string {
  return names[code] ?? `UNKNOWN_${code}`;
}

/** Every (code, name) pair, ascending. */
export function dropReasons(): readonly (readonly [number, string])[] {
  const out: [number, string][] = [];
  names.forEach((name, code) => {
    if (name) out.push([code, name]);
  });
  return out;
}
