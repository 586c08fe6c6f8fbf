/**
 * Programs (the CODE chunk of type I packets): the logic hash check against the flow's
 * authorization, then the program cache — one entry per distinct CODE chunk value — which runs the
 * static verifier once and prepares the fast tier once per distinct program.
 *
 * A CODE value seen before costs no SHA-256: the cache is looked up by the authorization's logic
 * hash, and an entry is used only when its logic hash equals the authorization's (all 32 bytes)
 * and its CODE value equals the packet's byte for byte; the entry's hash was computed from those
 * very bytes when it was first seen, so the binding checked is the same as hashing again. Bytes
 * seen for the first time are hashed and compared before anything else is done with them.
 *
 * CODE chunk value: entry count (1 byte), reserved (1), entry offsets (2 bytes each, big-endian),
 * then the machine code (@capsule/wire code-chunk.ts).
 */
import { createHash } from 'node:crypto';
import { type PreparedProgram, prepareProgram, type Tier, verifyProgram } from '@capsule/vm';
import { type Logger, readU32 } from '@capsule/wire';
import { AuthorizationOffset, type VerifiedAuthorization } from './authorizations';
import { bytesEqual, copyBytes } from './bytes';
import type { CounterState } from './counters';
import { DropReason } from './drop-reason';

/** A verified program (one object per distinct CODE chunk value). */
export interface ProgramEntry {
  readonly logicHash: string;
  /** The logic hash's 32 bytes: SHA-256 of the machine code in `codeValue`. */
  readonly logicDigest: Uint8Array;
  /** The whole CODE chunk value it was verified with (type II packets must carry these bytes). */
  readonly codeValue: Uint8Array;
  readonly entryOffsets: Int32Array;
  /** Undefined when the verifier rejected it. */
  readonly prepared: PreparedProgram | undefined;
  readonly rejection: string | undefined;
}

export interface ProgramCacheOptions {
  /** Distinct programs kept (cleared when full). */
  cacheCapacity: number;
  /** The executor the programs are prepared for. */
  tier: Tier;
}

export interface ProgramCacheDeps {
  counters: Pick<CounterState, 'programsVerified' | 'programsRejected'>;
  logger: Logger;
}

/** The program cache of one engine. */
export interface ProgramCache {
  /**
   * The program of the CODE chunk value bytes[codeAt, codeAt + codeLength), checked against
   * `auth`'s logic hash; or a drop reason: LOGIC_HASH_MISMATCH, PROGRAM_REJECTED.
   */
  verify(
    auth: VerifiedAuthorization,
    bytes: Uint8Array,
    codeAt: number,
    codeLength: number,
  ): ProgramEntry | number;
}

export function createProgramCache(options: ProgramCacheOptions, deps: ProgramCacheDeps): ProgramCache {
  const { counters, logger } = deps;
  const HASH_AT = AuthorizationOffset.LOGIC_HASH;
  /** Entries by the first 32 bits of their logic hash (full hash and CODE value compared). */
  const programs = new Map<number, ProgramEntry[]>();
  let programCount = 0;

  /** The entry of exactly this CODE value under `auth`'s logic hash, if one was made. */
  function find(
    auth: VerifiedAuthorization,
    bytes: Uint8Array,
    codeAt: number,
    codeLength: number,
  ): ProgramEntry | undefined {
    const bucket = programs.get(readU32(auth.bytes, HASH_AT));
    if (!bucket) return undefined;
    for (const entry of bucket)
      if (
        entry.codeValue.length === codeLength &&
        bytesEqual(entry.logicDigest, 0, auth.bytes, HASH_AT, 32) &&
        bytesEqual(entry.codeValue, 0, bytes, codeAt, codeLength)
      )
        return entry;
    return undefined;
  }

  return {
    verify(auth, bytes, codeAt, codeLength) {
      let entry = find(auth, bytes, codeAt, codeLength);
      if (!entry) {
        const entryCount = bytes[codeAt]!;
        const machineAt = codeAt + 2 + 2 * entryCount;
        const machineEnd = codeAt + codeLength;
        // The logic hash: SHA-256 of the machine code (docs/engine.md, Decisions).
        const digest = createHash('sha256').update(bytes.subarray(machineAt, machineEnd)).digest();
        if (!bytesEqual(digest, 0, auth.bytes, HASH_AT, 32)) return DropReason.LOGIC_HASH_MISMATCH;
        const logicHash = digest.toString('hex');
        const machineCode = copyBytes(bytes, machineAt, machineEnd);
        const entryOffsets = new Int32Array(entryCount);
        for (let i = 0; i < entryCount; i++)
          entryOffsets[i] = (bytes[codeAt + 2 + 2 * i]! << 8) | bytes[codeAt + 3 + 2 * i]!;
        const check = verifyProgram(machineCode, { entryOffsets: Array.from(entryOffsets) });
        counters.programsVerified++;
        let prepared: PreparedProgram | undefined;
        let rejection: string | undefined;
        if (check.ok) prepared = prepareProgram(machineCode, { fast: options.tier === 'fast' });
        else {
          counters.programsRejected++;
          rejection = check.diagnostics.map((d) => `${d.code}@${d.offset}`).join(', ');
          logger.warn({ logicHash, rejection }, 'program rejected by the verifier');
        }
        if (programCount >= options.cacheCapacity) {
          programs.clear();
          programCount = 0;
        }
        entry = {
          logicHash,
          logicDigest: new Uint8Array(digest),
          codeValue: copyBytes(bytes, codeAt, machineEnd),
          entryOffsets,
          prepared,
          rejection,
        };
        const key = readU32(digest, 0);
        const bucket = programs.get(key);
        if (bucket) bucket.push(entry);
        else programs.set(key, [entry]);
        programCount++;
      }
      return entry.prepared ? entry : DropReason.PROGRAM_REJECTED;
    },
  };
}
