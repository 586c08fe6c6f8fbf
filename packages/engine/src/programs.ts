/**
 * Programs (the CODE chunk of type I packets): the logic hash check against the flow's
 * authorization, then the program cache — keyed by logic hash and entry table — which runs the
 * static verifier once and prepares the fast tier once per distinct program.
 *
 * CODE chunk value: entry count (1 byte), reserved (1), entry offsets (2 bytes each, big-endian),
 * then the machine code (@capsule/wire code-chunk.ts).
 */
import { createHash } from 'node:crypto';
import { type PreparedProgram, prepareProgram, type Tier, verifyProgram } from '@capsule/vm';
import type { Logger } from '@capsule/wire';
import { AuthorizationOffset, type VerifiedAuthorization } from './authorizations';
import { bytesEqual, copyBytes } from './bytes';
import type { CounterState } from './counters';
import { DropReason } from './drop-reason';

/** A verified program (one object per distinct logic hash and entry table). */
export interface ProgramEntry {
  readonly logicHash: string;
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
  const programs = new Map<string, ProgramEntry>();
  return {
    verify(auth, bytes, codeAt, codeLength) {
      const entryCount = bytes[codeAt]!;
      const machineAt = codeAt + 2 + 2 * entryCount;
      const machineEnd = codeAt + codeLength;
      // The logic hash: SHA-256 of the machine code (docs/engine.md, Decisions).
      const digest = createHash('sha256').update(bytes.subarray(machineAt, machineEnd)).digest();
      if (!bytesEqual(digest, 0, auth.bytes, AuthorizationOffset.LOGIC_HASH, 32))
        return DropReason.LOGIC_HASH_MISMATCH;
      const logicHash = digest.toString('hex');
      const key = `${logicHash}:${Buffer.from(bytes.subarray(codeAt, machineAt)).toString('hex')}`;
      let entry = programs.get(key);
      if (!entry) {
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
        if (programs.size >= options.cacheCapacity) programs.clear();
        entry = {
          logicHash,
          codeValue: copyBytes(bytes, codeAt, machineEnd),
          entryOffsets,
          prepared,
          rejection,
        };
        programs.set(key, entry);
      }
      return entry.prepared ? entry : DropReason.PROGRAM_REJECTED;
    },
  };
}
