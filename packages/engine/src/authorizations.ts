/**
 * Flow authorizations (the AUTH chunk of type I packets), verified once: an unknown one is checked
 * with the controller's Ed25519 key (`verifyFlowAuthorization`) and cached; a known one is found
 * by its serial and compared byte for byte (148 bytes), so a replayed authorization costs no
 * signature check. Revocation marks every cached copy of a serial, and is checked on every use.
 *
 * The byte layout is @capsule/identity's (flow-authorization.ts, `FlowAuthorizationOffset`); the
 * engine checks it in place (`checkFlowAuthorization`: nothing decoded before the signature is
 * known good) and reads the fields it keeps from its copy.
 */
import type { KeyObject } from 'node:crypto';
import {
  type ControllerKeys,
  type ControllerPublicKey,
  type ControllerSignatureCheck,
  checkFlowAuthorization,
  controllerKeyList,
  exportEd25519PublicKeyRaw,
  FLOW_AUTHORIZATION_LENGTH,
  FlowAuthorizationOffset,
  type TrustedControllerKey,
  verifyEd25519,
} from '@capsule/identity';
import type { Logger, SignaturesAhead } from '@capsule/wire';
import { readU32 } from '@capsule/wire';
import { bytesEqual, copyBytes } from './bytes';
import type { CounterState } from './counters';
import { DropReason } from './drop-reason';
import { createRevocations, serialHalves } from './revocations';

/** Offsets of the fields the engine reads in a flow authorization (identity's layout). */
export const AuthorizationOffset = FlowAuthorizationOffset;

/** A flow authorization whose signature verified (the cache's entry; one object per distinct AUTH). */
export interface VerifiedAuthorization {
  /** Its 148 bytes (a copy). */
  readonly bytes: Uint8Array;
  readonly serialHigh: number;
  readonly serialLow: number;
  readonly serial: bigint;
  /** Unix seconds. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly contractId: number;
  readonly roleId: number;
  /** Set when the controller revokes the serial. */
  revoked: boolean;
}

export interface AuthorizationsOptions {
  /**
   * The controller keys that sign flow authorizations: one key, or the trusted set with their ends
   * of validity (a signing key rotation; `setControllerKeys` replaces it).
   */
  controllerPublicKey: ControllerKeys;
  /** Distinct verified authorizations kept (cleared when full). */
  cacheCapacity: number;
}

export interface AuthorizationsDeps {
  counters: Pick<
    CounterState,
    'authorizationsVerified' | 'authorizationCacheHits' | 'revocations' | 'revocationsPruned'
  >;
  logger: Logger;
  /**
   * The verified cache was emptied (full, or a controller key left the trusted set): whatever
   * took a flow's AUTH as verified because it was cached must ask again (the fast path's type I
   * templates).
   */
  cacheCleared?: () => void;
  /**
   * The fast path's verifier thread (type I signatures verified ahead): given the trusted keys and
   * asked for each signature's result first; absent, every signature is verified here.
   */
  signaturesAhead?: SignaturesAhead;
}

/** The verified-authorization cache and the revocation set of one engine. */
export interface Authorizations {
  /**
   * The verified authorization in bytes[at, at + length) (an AUTH chunk value), or a drop reason:
   * AUTH_MALFORMED, AUTH_FORGED, AUTH_EXPIRED or AUTH_NOT_YET_VALID (at first verification).
   */
  verify(bytes: Uint8Array, at: number, length: number, nowSeconds: number): VerifiedAuthorization | number;
  /** Revokes serials (each with its authorization's end in ms, when known) and marks cached copies. */
  revoke(serials: readonly bigint[], notAfterMs?: readonly (number | undefined)[]): void;
  /** Forgets revoked serials of authorizations that ended over a minute before `nowMs`. */
  pruneRevoked(nowMs: number): void;
  /** Revoked serials held. */
  readonly revokedCount: number;
  /**
   * The controller keys to trust from now on (the keep-alive answer after a rotation). When a
   * key id leaves the set, the verified cache is emptied: nothing it vouched for is served again.
   */
  setControllerKeys(keys: readonly TrustedControllerKey[]): void;
}

/** True when the packet's source address (bytes[sourceAt, +16)) is the authorization's source host. */
export function isAuthorizedSource(
  auth: VerifiedAuthorization,
  bytes: Uint8Array,
  sourceAt: number,
): boolean {
  return bytesEqual(auth.bytes, AuthorizationOffset.SOURCE_HOST_ID, bytes, sourceAt, 16);
}

export function createAuthorizations(
  options: AuthorizationsOptions,
  deps: AuthorizationsDeps,
): Authorizations {
  const { counters } = deps;
  const revocations = createRevocations(deps);
  /** Verified authorizations by low 32 bits of the serial (full bytes compared). */
  const verified = new Map<number, VerifiedAuthorization[]>();
  let verifiedCount = 0;
  let controllerKeys: ControllerKeys = options.controllerPublicKey;
  const ahead = deps.signaturesAhead && createSignatureCheckAhead(deps.signaturesAhead);
  ahead?.trust(controllerKeys);

  function verify(
    bytes: Uint8Array,
    at: number,
    length: number,
    nowSeconds: number,
  ): VerifiedAuthorization | number {
    if (length !== FLOW_AUTHORIZATION_LENGTH) return DropReason.AUTH_MALFORMED;
    const high = readU32(bytes, at + AuthorizationOffset.SERIAL);
    const low = readU32(bytes, at + AuthorizationOffset.SERIAL + 4);
    const candidates = verified.get(low);
    if (candidates) {
      for (const entry of candidates)
        if (entry.serialHigh === high && bytesEqual(entry.bytes, 0, bytes, at, FLOW_AUTHORIZATION_LENGTH)) {
          counters.authorizationCacheHits++;
          return entry;
        }
    }
    // The copy is what is checked and then kept: what the cache serves is what was verified.
    const copy = copyBytes(bytes, at, at + FLOW_AUTHORIZATION_LENGTH);
    const failure = checkFlowAuthorization(
      copy,
      0,
      FLOW_AUTHORIZATION_LENGTH,
      controllerKeys,
      nowSeconds,
      ahead?.check,
    );
    if (failure !== undefined) {
      switch (failure) {
        case 'malformed':
          return DropReason.AUTH_MALFORMED;
        case 'expired':
        case 'key-retired': // signed by a key whose overlap after a rotation is over
          return DropReason.AUTH_EXPIRED;
        case 'not-yet-valid':
          return DropReason.AUTH_NOT_YET_VALID;
        default:
          return DropReason.AUTH_FORGED;
      }
    }
    counters.authorizationsVerified++;
    if (verifiedCount >= options.cacheCapacity) {
      verified.clear();
      verifiedCount = 0;
      deps.cacheCleared?.();
    }
    const entry: VerifiedAuthorization = {
      bytes: copy,
      serialHigh: high,
      serialLow: low,
      serial: (BigInt(high) << 32n) | BigInt(low),
      notBefore: readU32(copy, AuthorizationOffset.NOT_BEFORE),
      notAfter: readU32(copy, AuthorizationOffset.NOT_AFTER),
      contractId: readU32(copy, AuthorizationOffset.CONTRACT_ID),
      roleId: readU32(copy, AuthorizationOffset.ROLE_ID),
      revoked: revocations.has(high, low),
    };
    const list = verified.get(low) ?? [];
    list.push(entry);
    verified.set(low, list);
    verifiedCount++;
    return entry;
  }

  return {
    verify,
    revoke(serials, notAfterMs) {
      serials.forEach((serial, index) => {
        if (!revocations.add(serial, notAfterMs?.[index])) return;
        const { high, low } = serialHalves(serial);
        for (const entry of verified.get(low) ?? []) if (entry.serialHigh === high) entry.revoked = true;
      });
    },
    pruneRevoked: (nowMs) => revocations.prune(nowMs),
    get revokedCount() {
      return revocations.size;
    },
    setControllerKeys(keys) {
      const before = controllerKeyList(controllerKeys).map((key) => key.keyId);
      controllerKeys = keys.slice();
      ahead?.trust(controllerKeys);
      if (before.some((keyId) => !keys.some((key) => key.keyId === keyId))) {
        verified.clear();
        verifiedCount = 0;
        deps.cacheCleared?.();
      }
    },
  };
}

/** The most controller keys a `SignaturesAhead` takes (addon/fast-path.cc setControllerKeys). */
const SIGNATURES_AHEAD_KEYS = 64;

/**
 * The signature check of an engine with a verifier thread: its result for the exact key, signed
 * bytes and signature when it verified them ahead (or began to: then it waits), else verified here;
 * `trust` hands it the controller keys (raw, by key id).
 */
function createSignatureCheckAhead(ahead: SignaturesAhead): {
  check: ControllerSignatureCheck;
  trust(keys: ControllerKeys): void;
} {
  const raw = new WeakMap<KeyObject, Uint8Array>();
  const rawOf = (key: ControllerPublicKey) => {
    let bytes = raw.get(key.publicKey);
    if (bytes === undefined) {
      bytes = exportEd25519PublicKeyRaw(key.publicKey);
      raw.set(key.publicKey, bytes);
    }
    return bytes;
  };
  return {
    check(key, message, signature) {
      const result = ahead.result(rawOf(key), message, signature);
      return result < 0 ? verifyEd25519(key.publicKey, message, signature) : result === 1;
    },
    trust(keys) {
      // The thread takes at most SIGNATURES_AHEAD_KEYS; an authorization by another is verified here.
      ahead.setControllerKeys(
        controllerKeyList(keys)
          .slice(0, SIGNATURES_AHEAD_KEYS)
          .map((key) => ({ keyId: key.keyId, publicKeyRaw: rawOf(key) })),
      );
    },
  };
}
