/**
 * Cryptographically Generated Addresses, RFC 3972.
 *
 * CGA Parameters (section 3), big-endian:
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      Modifier (16 octets)                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Subnet Prefix (8 octets)                   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Collision Count|  Public Key (DER SubjectPublicKeyInfo) ...    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~           Extension Fields (optional, variable length)        ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * Hash1 = leftmost 64 bits of SHA-1(parameters); Hash2 = leftmost 112 bits of SHA-1(parameters
 * with prefix and collision count zeroed). The interface identifier is Hash1 with Sec in bits 0-2
 * and the "u" and "g" bits (6 and 7) cleared; Sec > 0 requires the leftmost 16*Sec bits of Hash2
 * to be zero, which the modifier search of section 4 (steps 1-3) finds.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type DecodeResult, decoded, decodeFailure } from '@capsule/wire';
import { asBuffer } from './bytes';
import { IdentityError } from './errors';

/** The CGA Parameters data structure (RFC 3972 section 3). */
export interface CgaParameters {
  /** 16 bytes. */
  readonly modifier: Uint8Array;
  /** 8 bytes: the /64 subnet prefix. */
  readonly subnetPrefix: Uint8Array;
  /** 0, 1 or 2. */
  readonly collisionCount: number;
  /** DER SubjectPublicKeyInfo. */
  readonly publicKey: Uint8Array;
  /** Extension fields, kept verbatim (hashed, otherwise ignored: RFC 3972 section 5). */
  readonly extensionFields: Uint8Array;
}

/** Offset of the public key in the parameters (RFC 3972 section 5: "removing 25 octets"). */
export const CGA_PUBLIC_KEY_OFFSET = 25;
/** Largest Sec value (3 bits). */
export const CGA_MAX_SEC = 7;
/** Largest valid collision count (RFC 3972 sections 4 step 8, 5 step 1). */
export const CGA_MAX_COLLISION_COUNT = 2;

/** Encoded size of `parameters`. */
export function cgaParametersLength(parameters: CgaParameters): number {
  return CGA_PUBLIC_KEY_OFFSET + parameters.publicKey.length + parameters.extensionFields.length;
}

/** Writes `parameters` into `into` at `offset`; returns the number of bytes written. */
export function encodeCgaParameters(parameters: CgaParameters, into: Uint8Array, offset = 0): number {
  if (parameters.modifier.length !== 16)
    throw new IdentityError('CGA_INVALID_MODIFIER', 'the modifier is 16 bytes');
  if (parameters.subnetPrefix.length !== 8)
    throw new IdentityError('CGA_INVALID_PREFIX', 'the subnet prefix is 8 bytes');
  if (
    !Number.isInteger(parameters.collisionCount) ||
    parameters.collisionCount < 0 ||
    parameters.collisionCount > 255
  )
    throw new IdentityError('CGA_INVALID_COLLISION_COUNT', 'the collision count is an 8-bit integer');
  const length = cgaParametersLength(parameters);
  if (offset < 0 || into.length - offset < length)
    throw new IdentityError('IDENTITY_BUFFER_TOO_SMALL', `CGA parameters need ${length} bytes`);
  into.set(parameters.modifier, offset);
  into.set(parameters.subnetPrefix, offset + 16);
  into[offset + 24] = parameters.collisionCount;
  into.set(parameters.publicKey, offset + CGA_PUBLIC_KEY_OFFSET);
  into.set(parameters.extensionFields, offset + CGA_PUBLIC_KEY_OFFSET + parameters.publicKey.length);
  return length;
}

/** `parameters` as a new byte array. */
export function cgaParametersToBytes(parameters: CgaParameters): Uint8Array {
  const bytes = new Uint8Array(cgaParametersLength(parameters));
  encodeCgaParameters(parameters, bytes);
  return bytes;
}

/**
 * The length of the DER element (tag, length, contents) at the start of `bytes`, or undefined when
 * it is not a definite-length DER SEQUENCE that fits. Used to find where the public key ends.
 */
function derSequenceLength(bytes: Uint8Array): number | undefined {
  if (bytes.length < 2 || bytes[0] !== 0x30) return undefined;
  const first = bytes[1]!;
  let contentLength: number;
  let headerLength: number;
  if (first < 0x80) {
    contentLength = first;
    headerLength = 2;
  } else {
    const count = first & 0x7f;
    if (count === 0 || count > 3 || bytes.length < 2 + count) return undefined; // indefinite or absurd
    contentLength = 0;
    for (let index = 0; index < count; index += 1) contentLength = contentLength * 256 + bytes[2 + index]!;
    if (bytes[2] === 0 || contentLength < 0x80) return undefined; // not minimal: not DER
    headerLength = 2 + count;
  }
  const total = headerLength + contentLength;
  return total <= bytes.length ? total : undefined;
}

/**
 * Reads CGA Parameters from `bytes` (all of it: whatever follows the public key's DER element is
 * the extension fields). Never throws. The collision count is not range-checked here (that is
 * verification step 1), so a decoded structure always re-encodes to the same bytes.
 */
export function decodeCgaParameters(bytes: Uint8Array): DecodeResult<CgaParameters> {
  if (bytes.length < CGA_PUBLIC_KEY_OFFSET + 2)
    return decodeFailure('TRUNCATED', 'CGA parameters too short', bytes.length);
  const keyBytes = bytes.subarray(CGA_PUBLIC_KEY_OFFSET);
  const keyLength = derSequenceLength(keyBytes);
  if (keyLength === undefined)
    return decodeFailure(
      'BAD_FIELD',
      'the public key is not a DER SEQUENCE that fits',
      CGA_PUBLIC_KEY_OFFSET,
    );
  return decoded({
    modifier: bytes.slice(0, 16),
    subnetPrefix: bytes.slice(16, 24),
    collisionCount: bytes[24]!,
    publicKey: keyBytes.slice(0, keyLength),
    extensionFields: keyBytes.slice(keyLength),
  });
}

/** Hash1: the leftmost 64 bits of SHA-1 over the encoded parameters (RFC 3972 section 3). */
export function cgaHash1(parametersBytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(parametersBytes).digest().subarray(0, 8));
}

/** Hash2: the leftmost 112 bits of SHA-1 over modifier ‖ 9 zero octets ‖ public key ‖ extensions. */
export function cgaHash2(
  modifier: Uint8Array,
  publicKey: Uint8Array,
  extensionFields: Uint8Array,
): Uint8Array {
  return new Uint8Array(
    createHash('sha1')
      .update(modifier)
      .update(new Uint8Array(9))
      .update(publicKey)
      .update(extensionFields)
      .digest()
      .subarray(0, 14),
  );
}

/** True when the leftmost 16*sec bits of `hash2` are zero. */
function hash2Satisfies(hash2: Uint8Array, sec: number): boolean {
  for (let index = 0; index < 2 * sec; index += 1) if (hash2[index] !== 0) return false;
  return true;
}

/** The Sec value of an address: the three leftmost bits of its interface identifier. */
export function cgaSec(address: Uint8Array): number {
  if (address.length !== 16)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'an IPv6 address is 16 bytes');
  return address[8]! >> 5;
}

function assertSec(sec: number): void {
  if (!Number.isInteger(sec) || sec < 0 || sec > CGA_MAX_SEC)
    throw new IdentityError('CGA_INVALID_SEC', `Sec is an integer 0..7 (RFC 3972 section 2), not ${sec}`);
}

/**
 * The address for exactly these parameters and Sec (generation steps 5-7, skipping the modifier
 * search as RFC 3972 Appendix A's last step does). Does not check that Hash2 satisfies Sec: that is
 * the search's job and verification's check.
 */
export function cgaAddress(parameters: CgaParameters, sec: number): Uint8Array {
  assertSec(sec);
  const hash1 = cgaHash1(cgaParametersToBytes(parameters));
  const address = new Uint8Array(16);
  address.set(parameters.subnetPrefix, 0);
  address.set(hash1, 8);
  address[8] = (address[8]! & 0x1c) | (sec << 5); // Sec into bits 0-2, "u" and "g" (bits 6, 7) cleared
  return address;
}

/** Progress of a modifier search, reported every `progressEveryIterations` tries. */
export interface CgaSearchProgress {
  /** Hash2 computations so far. */
  readonly iterations: number;
  readonly sec: number;
}

/** Options of the modifier search. */
export interface CgaSearchOptions {
  /** DER SubjectPublicKeyInfo. */
  readonly publicKey: Uint8Array;
  readonly sec: number;
  readonly extensionFields?: Uint8Array;
  /** Starting modifier (16 bytes); default random (RFC 3972 section 4 step 1). */
  readonly initialModifier?: Uint8Array;
  /** Give up after this many Hash2 computations; default 32 × the expected count (2^(16·Sec)), at most 2^36. */
  readonly maxIterations?: number;
  /** Called every `progressEveryIterations` tries (and yields to the event loop in the async form). */
  readonly onProgress?: (progress: CgaSearchProgress) => void;
  /** Default 16384. */
  readonly progressEveryIterations?: number;
  /** Stops the async search (CGA_SEARCH_ABORTED). */
  readonly signal?: AbortSignal;
}

/** A modifier whose Hash2 has 16*Sec leading zero bits, and how many tries it took. */
export interface CgaSearchResult {
  readonly modifier: Uint8Array;
  readonly iterations: number;
}

/** Default iteration cap for `sec`. */
export function defaultCgaMaxIterations(sec: number): number {
  return Math.min(2 ** (16 * sec) * 32, 2 ** 36);
}

/** Adds one to a 128-bit big-endian integer in place (wrapping). */
function incrementModifier(input: Uint8Array): void {
  for (let index = 15; index >= 0; index -= 1) {
    input[index] = (input[index]! + 1) & 0xff;
    if (input[index] !== 0) return;
  }
}

/** State of one search: the Hash2 input with the modifier in its first 16 bytes, mutated in place. */
function prepareSearch(options: CgaSearchOptions) {
  assertSec(options.sec);
  const extensionFields = options.extensionFields ?? new Uint8Array(0);
  const input = Buffer.alloc(16 + 9 + options.publicKey.length + extensionFields.length);
  const initial = options.initialModifier ?? randomBytes(16);
  if (initial.length !== 16) throw new IdentityError('CGA_INVALID_MODIFIER', 'the modifier is 16 bytes');
  input.set(initial, 0);
  input.set(options.publicKey, 25);
  input.set(extensionFields, 25 + options.publicKey.length);
  const maxIterations = options.maxIterations ?? defaultCgaMaxIterations(options.sec);
  if (!(maxIterations >= 1))
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'maxIterations must be at least 1');
  return {
    input,
    maxIterations,
    zeroBytes: 2 * options.sec,
    chunk: Math.max(1, Math.floor(options.progressEveryIterations ?? 16_384)),
  };
}

/** Runs up to `count` tries; returns the number done and whether the current modifier satisfies Sec. */
function searchChunk(input: Buffer, zeroBytes: number, count: number): { done: number; found: boolean } {
  for (let done = 0; done < count; done += 1) {
    const digest = createHash('sha1').update(input).digest();
    let zero = true;
    for (let index = 0; index < zeroBytes; index += 1)
      if (digest[index] !== 0) {
        zero = false;
        break;
      }
    if (zero) return { done: done + 1, found: true };
    incrementModifier(input);
  }
  return { done: count, found: false };
}

function exhausted(sec: number, iterations: number): IdentityError {
  return new IdentityError(
    'CGA_SEARCH_EXHAUSTED',
    `no modifier for Sec=${sec} within ${iterations} tries (the expected count is 2^${16 * sec}); raise maxIterations or lower Sec`,
  );
}

/** The modifier search of RFC 3972 section 4 steps 1-3, synchronous (for Sec 0-1 and tests). */
export function searchCgaModifierSync(options: CgaSearchOptions): CgaSearchResult {
  const search = prepareSearch(options);
  if (options.sec === 0) return { modifier: new Uint8Array(search.input.subarray(0, 16)), iterations: 0 };
  let iterations = 0;
  while (iterations < search.maxIterations) {
    const { done, found } = searchChunk(
      search.input,
      search.zeroBytes,
      Math.min(search.chunk, search.maxIterations - iterations),
    );
    iterations += done;
    if (found) return { modifier: new Uint8Array(search.input.subarray(0, 16)), iterations };
    options.onProgress?.({ iterations, sec: options.sec });
  }
  throw exhausted(options.sec, iterations);
}

/**
 * The modifier search, yielding to the event loop between chunks so that a daemon keeps serving
 * and a CLI can show progress; stops at `maxIterations` (CGA_SEARCH_EXHAUSTED) or on `signal`.
 */
export async function searchCgaModifier(options: CgaSearchOptions): Promise<CgaSearchResult> {
  const search = prepareSearch(options);
  if (options.sec === 0) return { modifier: new Uint8Array(search.input.subarray(0, 16)), iterations: 0 };
  let iterations = 0;
  while (iterations < search.maxIterations) {
    if (options.signal?.aborted)
      throw new IdentityError('CGA_SEARCH_ABORTED', `CGA search aborted after ${iterations} tries`);
    const { done, found } = searchChunk(
      search.input,
      search.zeroBytes,
      Math.min(search.chunk, search.maxIterations - iterations),
    );
    iterations += done;
    if (found) return { modifier: new Uint8Array(search.input.subarray(0, 16)), iterations };
    options.onProgress?.({ iterations, sec: options.sec });
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw exhausted(options.sec, iterations);
}

/** A generated (or recomputed) CGA with its parameters. */
export interface Cga {
  /** 16 bytes. */
  readonly address: Uint8Array;
  readonly parameters: CgaParameters;
  /** The encoded CGA Parameters (what the CGA option carries). */
  readonly parametersBytes: Uint8Array;
  readonly sec: number;
  /** Hash2 computations the search took (0 when the modifier was given). */
  readonly iterations: number;
}

/** Options of `generateCga`: the search options plus the prefix and collision count. */
export interface GenerateCgaOptions extends CgaSearchOptions {
  /** 8 bytes. */
  readonly subnetPrefix: Uint8Array;
  /** 0..2 (default 0): raise it after duplicate address detection found a collision (section 4 step 8). */
  readonly collisionCount?: number;
  /** Use this modifier as final: skip the search (RFC 3972 section 4's reuse optimisation, Appendix A). */
  readonly modifier?: Uint8Array;
}

function finishCga(options: GenerateCgaOptions, modifier: Uint8Array, iterations: number): Cga {
  const collisionCount = options.collisionCount ?? 0;
  if (!Number.isInteger(collisionCount) || collisionCount < 0 || collisionCount > CGA_MAX_COLLISION_COUNT)
    throw new IdentityError(
      'CGA_INVALID_COLLISION_COUNT',
      `the collision count is 0, 1 or 2, not ${collisionCount}`,
    );
  if (options.subnetPrefix.length !== 8)
    throw new IdentityError('CGA_INVALID_PREFIX', 'the subnet prefix is 8 bytes');
  const parameters: CgaParameters = {
    modifier,
    subnetPrefix: new Uint8Array(options.subnetPrefix),
    collisionCount,
    publicKey: new Uint8Array(options.publicKey),
    extensionFields: new Uint8Array(options.extensionFields ?? new Uint8Array(0)),
  };
  return {
    address: cgaAddress(parameters, options.sec),
    parameters,
    parametersBytes: cgaParametersToBytes(parameters),
    sec: options.sec,
    iterations,
  };
}

/** Generates a CGA (RFC 3972 section 4), searching the modifier unless one is given. */
export async function generateCga(options: GenerateCgaOptions): Promise<Cga> {
  assertSec(options.sec);
  if (options.modifier) {
    if (options.modifier.length !== 16)
      throw new IdentityError('CGA_INVALID_MODIFIER', 'the modifier is 16 bytes');
    return finishCga(options, new Uint8Array(options.modifier), 0);
  }
  const { modifier, iterations } = await searchCgaModifier(options);
  return finishCga(options, modifier, iterations);
}

/** `generateCga`, synchronous (blocks for the whole search: Sec 0-1 only in practice). */
export function generateCgaSync(options: GenerateCgaOptions): Cga {
  assertSec(options.sec);
  if (options.modifier) {
    if (options.modifier.length !== 16)
      throw new IdentityError('CGA_INVALID_MODIFIER', 'the modifier is 16 bytes');
    return finishCga(options, new Uint8Array(options.modifier), 0);
  }
  const { modifier, iterations } = searchCgaModifierSync(options);
  return finishCga(options, modifier, iterations);
}

/** Why a CGA did not verify (RFC 3972 section 5, in step order). */
export type CgaVerificationFailure =
  | 'malformed-address'
  | 'malformed-parameters'
  | 'collision-count-out-of-range'
  | 'prefix-mismatch'
  | 'hash1-mismatch'
  | 'hash2-not-zero';

/** The outcome of `verifyCga`: the address's Sec and the authenticated public key, or the failing step. */
export type CgaVerification =
  | { readonly ok: true; readonly sec: number; readonly parameters: CgaParameters }
  | { readonly ok: false; readonly reason: CgaVerificationFailure };

/**
 * CGA verification, RFC 3972 section 5, every step: (1) collision count 0..2; (2) subnet prefix
 * equals the address's; (3-4) Hash1 equals the interface identifier except bits 0-2 (Sec) and 6-7
 * ("u", "g"); (5) Sec from the address; (6-7) the leftmost 16*Sec bits of Hash2 are zero.
 * Extension fields are hashed and otherwise ignored. Never throws.
 */
export function verifyCga(address: Uint8Array, parametersBytes: Uint8Array): CgaVerification {
  if (address.length !== 16) return { ok: false, reason: 'malformed-address' };
  const decoded = decodeCgaParameters(parametersBytes);
  if (!decoded.ok) return { ok: false, reason: 'malformed-parameters' };
  const parameters = decoded.value;
  if (parameters.collisionCount > CGA_MAX_COLLISION_COUNT)
    return { ok: false, reason: 'collision-count-out-of-range' };
  for (let index = 0; index < 8; index += 1)
    if (parameters.subnetPrefix[index] !== address[index]) return { ok: false, reason: 'prefix-mismatch' };
  const digest = createHash('sha1').update(asBuffer(parametersBytes)).digest();
  if ((digest[0]! & 0x1c) !== (address[8]! & 0x1c)) return { ok: false, reason: 'hash1-mismatch' };
  for (let index = 1; index < 8; index += 1)
    if (digest[index] !== address[8 + index]) return { ok: false, reason: 'hash1-mismatch' };
  const sec = address[8]! >> 5;
  if (
    sec > 0 &&
    !hash2Satisfies(cgaHash2(parameters.modifier, parameters.publicKey, parameters.extensionFields), sec)
  )
    return { ok: false, reason: 'hash2-not-zero' };
  return { ok: true, sec, parameters };
}
