/**
 * The PATH chunk value (capsule chunk type 2): the route a flow's packets follow, written by the
 * controller, the hop index advanced by each engine.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                Creation Time (32, Unix seconds)               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   Hop Index   |   Hop Count   |         Default Entry         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Engine Id           |  Entry Index  |   Hop Flags   |  × Hop Count
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Hop index ≤ hop count (= count: the path is done). The value is 8 + 4 × hop count bytes, at most
 * 256 (62 hops). Default entry: the CODE entry an engine runs when its hop names none.
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes';
import { type DecodeError, type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureRoom, ensureUint, WireError } from './wire-error';

/** Largest PATH chunk value, in bytes. */
export const PATH_CHUNK_LIMIT = 256;
/** Bytes before the hops. */
export const PATH_FIXED_LENGTH = 8;
/** Bytes per hop. */
export const PATH_HOP_LENGTH = 4;
/** Offsets of the fields inside the PATH value, for in-place reads and rewrites. */
export const PathOffset = {
  CREATION_TIME: 0,
  HOP_INDEX: 4,
  HOP_COUNT: 5,
  DEFAULT_ENTRY: 6,
  HOPS: 8,
} as const;

/** One hop of a path. */
export interface PathHop {
  /** 16-bit engine id assigned by the controller. */
  readonly engineId: number;
  /** Entry of the CODE chunk this engine runs. */
  readonly entryIndex: number;
  /** 8 bits, meaning defined by the engine (sent as given). */
  readonly flags: number;
}

/** The PATH chunk value. */
export interface PathChunk {
  /** Unix seconds, 32 bits. */
  readonly creationTime: number;
  readonly hopIndex: number;
  readonly defaultEntry: number;
  readonly hops: readonly PathHop[];
}

/**
 * The 16-bit engine id PATH hops and TRACE records name: the last 16 bits of the engine's CGA host
 * id. Agents turn the controller's host-id paths into PATH hops with it and engines derive their
 * own and their neighbors' ids with it, so no id table is distributed (a collision between two
 * engines of one path is possible, 2^-16 per pair; an engine's config may override its own id).
 */
export function engineIdOfHostId(hostId: Uint8Array): number {
  return ((hostId[14]! << 8) | hostId[15]!) >>> 0;
}

/** Encoded length of `path`. */
export function pathChunkLength(path: PathChunk): number {
  return PATH_FIXED_LENGTH + PATH_HOP_LENGTH * path.hops.length;
}

/** Writes the PATH value at into[offset]; returns its length. */
export function encodePathChunk(path: PathChunk, into: Uint8Array, offset = 0): number {
  const length = pathChunkLength(path);
  if (length > PATH_CHUNK_LIMIT)
    throw new WireError('WIRE_LIMIT_EXCEEDED', `PATH chunk of ${length} bytes > ${PATH_CHUNK_LIMIT}`);
  ensureUint(path.creationTime, 32, 'PATH creationTime');
  ensureUint(path.hopIndex, 8, 'PATH hopIndex');
  ensureUint(path.defaultEntry, 16, 'PATH defaultEntry');
  if (path.hopIndex > path.hops.length)
    throw new WireError(
      'WIRE_VALUE_INVALID',
      `PATH hopIndex ${path.hopIndex} > hop count ${path.hops.length}`,
    );
  ensureRoom(into, offset, length, 'PATH chunk');
  writeU32(into, offset, path.creationTime);
  into[offset + 4] = path.hopIndex;
  into[offset + 5] = path.hops.length;
  writeU16(into, offset + 6, path.defaultEntry);
  let at = offset + PATH_FIXED_LENGTH;
  for (const hop of path.hops) {
    ensureUint(hop.engineId, 16, 'PATH hop engineId');
    ensureUint(hop.entryIndex, 8, 'PATH hop entryIndex');
    ensureUint(hop.flags, 8, 'PATH hop flags');
    writeU16(into, at, hop.engineId);
    into[at + 2] = hop.entryIndex;
    into[at + 3] = hop.flags;
    at += PATH_HOP_LENGTH;
  }
  return length;
}

/** Checks the PATH value at bytes[offset, offset + length) without allocating (undefined when valid). */
export function checkPathChunk(bytes: Uint8Array, offset: number, length: number): DecodeError | undefined {
  if (length > PATH_CHUNK_LIMIT)
    return {
      code: 'LIMIT_EXCEEDED',
      message: `PATH chunk of ${length} bytes > ${PATH_CHUNK_LIMIT}`,
      offset: 0,
    };
  if (length < PATH_FIXED_LENGTH)
    return { code: 'TRUNCATED', message: 'PATH chunk shorter than 8 bytes', offset: 0 };
  const hopCount = bytes[offset + 5]!;
  if (length !== PATH_FIXED_LENGTH + PATH_HOP_LENGTH * hopCount)
    return { code: 'BAD_LENGTH', message: `PATH chunk of ${length} bytes for ${hopCount} hops`, offset: 5 };
  if (bytes[offset + 4]! > hopCount)
    return {
      code: 'BAD_FIELD',
      message: `PATH hop index ${bytes[offset + 4]} > hop count ${hopCount}`,
      offset: 4,
    };
  return undefined;
}

/** Decodes a PATH value occupying all of `bytes`. */
export function decodePathChunk(bytes: Uint8Array): DecodeResult<PathChunk> {
  const problem = checkPathChunk(bytes, 0, bytes.length);
  if (problem) return decodeFailure(problem.code, problem.message, problem.offset);
  const hops: PathHop[] = [];
  for (let at = PATH_FIXED_LENGTH; at < bytes.length; at += PATH_HOP_LENGTH)
    hops.push({ engineId: readU16(bytes, at), entryIndex: bytes[at + 2]!, flags: bytes[at + 3]! });
  return decoded({
    creationTime: readU32(bytes, 0),
    hopIndex: bytes[4]!,
    defaultEntry: readU16(bytes, 6),
    hops,
  });
}
