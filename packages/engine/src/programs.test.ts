import { createHash } from 'node:crypto';
import { codeChunkLength, encodeCodeChunk, silentLogger } from '@capsule/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { balance, route } from '../test/programs';
import { AuthorizationOffset, type VerifiedAuthorization } from './authorizations';
import { createCounterState } from './counters';
import { DropReason } from './drop-reason';
import { createProgramCache, type ProgramEntry } from './programs';

type Code = { machineCode: Uint8Array; entryOffsets: readonly number[] };

/** An authorization (its signature is the authorizations cache's business) naming `logicHash`. */
function authorizationFor(logicHash: Uint8Array): VerifiedAuthorization {
  const bytes = new Uint8Array(148);
  bytes.set(logicHash, AuthorizationOffset.LOGIC_HASH);
  return {
    bytes,
    serialHigh: 0,
    serialLow: 1,
    serial: 1n,
    notBefore: 0,
    notAfter: 2 ** 32 - 1,
    contractId: 1,
    roleId: 1,
    revoked: false,
  };
}

const sha256 = (bytes: Uint8Array) => new Uint8Array(createHash('sha256').update(bytes).digest());
const authorize = (code: Code) => authorizationFor(sha256(code.machineCode));

/** The CODE chunk value of `code` at offset 3 of a larger buffer, as in a received packet. */
function inPacket(code: Code): { bytes: Uint8Array; at: number; length: number } {
  const length = codeChunkLength(code);
  const bytes = new Uint8Array(length + 9);
  encodeCodeChunk(code, bytes, 3);
  return { bytes, at: 3, length };
}

function setup(cacheCapacity = 16) {
  const counters = createCounterState();
  const cache = createProgramCache({ cacheCapacity, tier: 'fast' }, { counters, logger: silentLogger });
  const verify = (auth: VerifiedAuthorization, code: { bytes: Uint8Array; at: number; length: number }) =>
    cache.verify(auth, code.bytes, code.at, code.length);
  return { counters, verify };
}

describe('program cache', () => {
  it('verifies and prepares a program once, whatever the authorization that brings it again', () => {
    const s = setup();
    const first = s.verify(authorize(route), inPacket(route)) as ProgramEntry;
    expect(typeof first).toBe('object');
    expect(first.logicHash).toBe(createHash('sha256').update(route.machineCode).digest('hex'));
    for (let i = 0; i < 5; i++) expect(s.verify(authorize(route), inPacket(route))).toBe(first);
    expect(s.counters.programsVerified).toBe(1);
  });

  it('never serves a cached program for other code under the same authorization (logic hash)', () => {
    const s = setup();
    const auth = authorize(route);
    s.verify(auth, inPacket(route));
    // Same length, one byte of machine code changed: a miss, hashed, refused.
    for (const at of [0, route.machineCode.length >> 1, route.machineCode.length - 1]) {
      const machineCode = route.machineCode.slice();
      machineCode[at]! ^= 0x01;
      expect(s.verify(auth, inPacket({ ...route, machineCode }))).toBe(DropReason.LOGIC_HASH_MISMATCH);
    }
    expect(s.verify(auth, inPacket(balance))).toBe(DropReason.LOGIC_HASH_MISMATCH);
    expect(s.counters.programsVerified).toBe(1);
  });

  it('never serves a cached program under an authorization for another logic hash', () => {
    const s = setup();
    s.verify(authorize(route), inPacket(route));
    // The same first 32 bits (the cache's bucket), or only the last bit, differ from the real hash.
    for (const at of [31, 4]) {
      const hash = sha256(route.machineCode);
      hash[at]! ^= 0x80;
      expect(s.verify(authorizationFor(hash), inPacket(route))).toBe(DropReason.LOGIC_HASH_MISMATCH);
    }
    expect(s.verify(authorize(balance), inPacket(route))).toBe(DropReason.LOGIC_HASH_MISMATCH);
  });

  it('keeps one entry per CODE value: the same machine code with another entry table is verified on its own', () => {
    const s = setup();
    const auth = authorize(balance);
    const one = s.verify(auth, inPacket(balance)) as ProgramEntry;
    const other = { ...balance, entryOffsets: [balance.entryOffsets[0]!, 0] };
    const two = s.verify(auth, inPacket(other)) as ProgramEntry;
    expect(typeof two).toBe('object');
    expect(two).not.toBe(one);
    expect(Array.from(two.entryOffsets)).toEqual(other.entryOffsets);
    expect(s.verify(auth, inPacket(balance))).toBe(one);
    expect(s.verify(auth, inPacket(other))).toBe(two);
    expect(s.counters.programsVerified).toBe(2);
  });

  it('caches a rejected program as rejected, and empties itself when full', () => {
    const s = setup(2);
    const bad = { machineCode: new Uint8Array([0xff, 0xff, 0xff, 0xff]), entryOffsets: [0] };
    expect(s.verify(authorize(bad), inPacket(bad))).toBe(DropReason.PROGRAM_REJECTED);
    expect(s.verify(authorize(bad), inPacket(bad))).toBe(DropReason.PROGRAM_REJECTED);
    expect(s.counters).toMatchObject({ programsVerified: 1, programsRejected: 1 });
    s.verify(authorize(route), inPacket(route));
    s.verify(authorize(balance), inPacket(balance)); // full: emptied first
    s.verify(authorize(route), inPacket(route));
    expect(s.counters.programsVerified).toBe(4);
  });

  it('answers a CODE value with any byte changed as a new program or a mismatch, never the cached entry', () => {
    const s = setup(1 << 12);
    const auth = authorize(route);
    const cached = s.verify(auth, inPacket(route));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: codeChunkLength(route) - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, flip) => {
          const code = inPacket(route);
          code.bytes[code.at + at]! ^= flip;
          const result = s.verify(auth, code);
          expect(result).not.toBe(cached);
          if (at >= 2 + 2 * route.entryOffsets.length) expect(result).toBe(DropReason.LOGIC_HASH_MISMATCH);
          else if (typeof result === 'object') expect(result.codeValue[at]).toBe(code.bytes[code.at + at]);
        },
      ),
      { seed: 0x5eed_16, numRuns: 300 },
    );
    expect(s.verify(auth, inPacket(route))).toBe(cached);
  });
});
