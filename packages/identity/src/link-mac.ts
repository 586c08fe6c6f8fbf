/**
 * The link MAC: ChaCha20-Poly1305 (RFC 8439) with an empty plaintext, in TypeScript, allocating
 * nothing per call. Link DATA frames encrypt nothing per hop: their tag is the AEAD tag over the
 * frame's headers (the AAD) and an empty plaintext, so the AEAD reduces to
 *
 * ```
 * (r, s) = ChaCha20 block(key, block counter 0, nonce)[0, 32)      RFC 8439 2.6, r clamped (2.5)
 * tag    = Poly1305(r, s; AAD ‖ zeros to a multiple of 16 ‖ le64(|AAD|) ‖ le64(0))   RFC 8439 2.8
 * ```
 * which is exactly the tag node:crypto's 'chacha20-poly1305' returns for that key, nonce, AAD and
 * an empty plaintext (tested over random inputs in link-mac.test.ts). node:crypto costs ≈ 3.5 µs a
 * call here, mostly creating the cipher object; this costs a ChaCha20 block plus one Poly1305
 * block per 16 bytes of AAD (bench/identity.bench.ts).
 *
 * Nonce of a link frame: 0x00000000 ‖ counter (u64 big-endian), as every AEAD call in aead.ts.
 *
 * Poly1305 arithmetic: the accumulator h and r are six 22-bit limbs (132 bits) held in float64
 * locals. With h limbs < 2^23 and 20·r limbs < 2^26.4 (2^132 ≡ 20 mod 2^130 − 5) each product is
 * < 2^49.4 and each column of six < 2^52, so every product and sum is exact in a double; carries
 * are exact power-of-two scalings truncated with `| 0` (the quotients are non-negative and < 2^31,
 * and `| 0` measured ≈ 10 % faster than Math.floor). The final reduction and the tag comparison are branch-free.
 *
 * Long AADs (over `LINK_MAC_NATIVE_FROM_BYTES`: frames beyond a 1500-byte MTU, whose whole body is
 * authenticated) go to node:crypto instead: its fixed cost per call is then below this code's
 * ≈ 2.3 ns a byte. The tag is the same either way, so each side chooses on its own.
 */
import { type CipherGCMTypes, createCipheriv } from 'node:crypto';
import { asBuffer } from './bytes';
import { IdentityError } from './errors';

/** Key length of the link MAC, bytes. */
const KEY_LENGTH = 32;
/** Tag length of the link MAC, bytes. */
const TAG_LENGTH = 16;

const LIMB = 4_194_304; // 2^22
const LIMB_MASK = 0x3f_ffff;
const INVERSE_LIMB = 1 / LIMB; // exact: a power of two
const TWO_POW_32 = 4_294_967_296;
/** 2^128 (the bit above a full 16-byte block) in limb 5, which starts at bit 110. */
const FULL_BLOCK_BIT = 1 << 18;

function readU32le(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
}

function byteSwap32(value: number): number {
  return ((value & 0xff) << 24) | ((value & 0xff00) << 8) | ((value >>> 8) & 0xff00) | (value >>> 24);
}

/**
 * ChaCha20-Poly1305 tags over AAD with an empty plaintext. An instance holds only scratch (the
 * one-time key and a padded tail block), so one instance serves any number of keys; calls do not
 * allocate. Not re-entrant (JavaScript is not, within a thread).
 */
export class ChaCha20Poly1305AadMac {
  /** Words 0..7 of ChaCha20 block 0: r (0..3, unclamped) and s (4..7). */
  readonly #oneTimeKey = new Int32Array(8);
  /** The last, partial 16-byte block of a message, padded. */
  readonly #tail = new Uint8Array(16);

  /**
   * Writes the 16-byte tag of `aad[aadStart, aadEnd)` under `key` (32 bytes) and the nonce
   * 0x00000000 ‖ counterHigh (u32 BE) ‖ counterLow (u32 BE) into `out[outOffset, outOffset + 16)`.
   * Ranges are the caller's to check.
   */
  writeLinkTag(
    key: Uint8Array,
    counterHigh: number,
    counterLow: number,
    aad: Uint8Array,
    aadStart: number,
    aadEnd: number,
    out: Uint8Array,
    outOffset: number,
  ): void {
    this.#deriveOneTimeKey(key, 0, byteSwap32(counterHigh), byteSwap32(counterLow));
    this.#poly1305(aad, aadStart, aadEnd, true, out, outOffset, false);
  }

  /** Whether `tag[tagOffset, tagOffset + 16)` is the link tag (as `writeLinkTag`); constant time in the tag. */
  verifyLinkTag(
    key: Uint8Array,
    counterHigh: number,
    counterLow: number,
    aad: Uint8Array,
    aadStart: number,
    aadEnd: number,
    tag: Uint8Array,
    tagOffset: number,
  ): boolean {
    this.#deriveOneTimeKey(key, 0, byteSwap32(counterHigh), byteSwap32(counterLow));
    return this.#poly1305(aad, aadStart, aadEnd, true, tag, tagOffset, true);
  }

  /** The AEAD tag for any 12-byte nonce: `aad` authenticated, plaintext empty; 16 bytes into `out`. */
  writeTag(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, out: Uint8Array, outOffset = 0): void {
    this.#deriveOneTimeKey(key, readU32le(nonce, 0), readU32le(nonce, 4), readU32le(nonce, 8));
    this.#poly1305(aad, 0, aad.length, true, out, outOffset, false);
  }

  /** The Poly1305 one-time key (r ‖ s, 32 bytes) ChaCha20 derives for `key` and a 12-byte nonce (RFC 8439 2.6). */
  writeOneTimeKey(key: Uint8Array, nonce: Uint8Array, out: Uint8Array): void {
    this.#deriveOneTimeKey(key, readU32le(nonce, 0), readU32le(nonce, 4), readU32le(nonce, 8));
    for (let index = 0; index < 32; index += 1)
      out[index] = this.#oneTimeKey[index >> 2]! >>> ((index & 3) * 8);
  }

  /** Plain Poly1305 (RFC 8439 2.5) of `message` under a 32-byte one-time key r ‖ s; 16 bytes into `out`. */
  writePoly1305(oneTimeKey: Uint8Array, message: Uint8Array, out: Uint8Array, outOffset = 0): void {
    for (let word = 0; word < 8; word += 1) this.#oneTimeKey[word] = readU32le(oneTimeKey, word * 4);
    this.#poly1305(message, 0, message.length, false, out, outOffset, false);
  }

  /** ChaCha20 block (RFC 8439 2.3) for block counter 0; keeps output words 0..7. */
  #deriveOneTimeKey(key: Uint8Array, nonce0: number, nonce1: number, nonce2: number): void {
    const k0 = readU32le(key, 0);
    const k1 = readU32le(key, 4);
    const k2 = readU32le(key, 8);
    const k3 = readU32le(key, 12);
    const k4 = readU32le(key, 16);
    const k5 = readU32le(key, 20);
    const k6 = readU32le(key, 24);
    const k7 = readU32le(key, 28);
    // "expand 32-byte k"
    let x0 = 0x61707865;
    let x1 = 0x3320646e;
    let x2 = 0x79622d32;
    let x3 = 0x6b206574;
    let x4 = k0;
    let x5 = k1;
    let x6 = k2;
    let x7 = k3;
    let x8 = k4;
    let x9 = k5;
    let x10 = k6;
    let x11 = k7;
    let x12 = 0;
    let x13 = nonce0;
    let x14 = nonce1;
    let x15 = nonce2;
    for (let doubleRound = 0; doubleRound < 10; doubleRound += 1) {
      // Column rounds: (0 4 8 12) (1 5 9 13) (2 6 10 14) (3 7 11 15).
      x0 = (x0 + x4) | 0;
      x12 ^= x0;
      x12 = (x12 << 16) | (x12 >>> 16);
      x8 = (x8 + x12) | 0;
      x4 ^= x8;
      x4 = (x4 << 12) | (x4 >>> 20);
      x0 = (x0 + x4) | 0;
      x12 ^= x0;
      x12 = (x12 << 8) | (x12 >>> 24);
      x8 = (x8 + x12) | 0;
      x4 ^= x8;
      x4 = (x4 << 7) | (x4 >>> 25);

      x1 = (x1 + x5) | 0;
      x13 ^= x1;
      x13 = (x13 << 16) | (x13 >>> 16);
      x9 = (x9 + x13) | 0;
      x5 ^= x9;
      x5 = (x5 << 12) | (x5 >>> 20);
      x1 = (x1 + x5) | 0;
      x13 ^= x1;
      x13 = (x13 << 8) | (x13 >>> 24);
      x9 = (x9 + x13) | 0;
      x5 ^= x9;
      x5 = (x5 << 7) | (x5 >>> 25);

      x2 = (x2 + x6) | 0;
      x14 ^= x2;
      x14 = (x14 << 16) | (x14 >>> 16);
      x10 = (x10 + x14) | 0;
      x6 ^= x10;
      x6 = (x6 << 12) | (x6 >>> 20);
      x2 = (x2 + x6) | 0;
      x14 ^= x2;
      x14 = (x14 << 8) | (x14 >>> 24);
      x10 = (x10 + x14) | 0;
      x6 ^= x10;
      x6 = (x6 << 7) | (x6 >>> 25);

      x3 = (x3 + x7) | 0;
      x15 ^= x3;
      x15 = (x15 << 16) | (x15 >>> 16);
      x11 = (x11 + x15) | 0;
      x7 ^= x11;
      x7 = (x7 << 12) | (x7 >>> 20);
      x3 = (x3 + x7) | 0;
      x15 ^= x3;
      x15 = (x15 << 8) | (x15 >>> 24);
      x11 = (x11 + x15) | 0;
      x7 ^= x11;
      x7 = (x7 << 7) | (x7 >>> 25);

      // Diagonal rounds: (0 5 10 15) (1 6 11 12) (2 7 8 13) (3 4 9 14).
      x0 = (x0 + x5) | 0;
      x15 ^= x0;
      x15 = (x15 << 16) | (x15 >>> 16);
      x10 = (x10 + x15) | 0;
      x5 ^= x10;
      x5 = (x5 << 12) | (x5 >>> 20);
      x0 = (x0 + x5) | 0;
      x15 ^= x0;
      x15 = (x15 << 8) | (x15 >>> 24);
      x10 = (x10 + x15) | 0;
      x5 ^= x10;
      x5 = (x5 << 7) | (x5 >>> 25);

      x1 = (x1 + x6) | 0;
      x12 ^= x1;
      x12 = (x12 << 16) | (x12 >>> 16);
      x11 = (x11 + x12) | 0;
      x6 ^= x11;
      x6 = (x6 << 12) | (x6 >>> 20);
      x1 = (x1 + x6) | 0;
      x12 ^= x1;
      x12 = (x12 << 8) | (x12 >>> 24);
      x11 = (x11 + x12) | 0;
      x6 ^= x11;
      x6 = (x6 << 7) | (x6 >>> 25);

      x2 = (x2 + x7) | 0;
      x13 ^= x2;
      x13 = (x13 << 16) | (x13 >>> 16);
      x8 = (x8 + x13) | 0;
      x7 ^= x8;
      x7 = (x7 << 12) | (x7 >>> 20);
      x2 = (x2 + x7) | 0;
      x13 ^= x2;
      x13 = (x13 << 8) | (x13 >>> 24);
      x8 = (x8 + x13) | 0;
      x7 ^= x8;
      x7 = (x7 << 7) | (x7 >>> 25);

      x3 = (x3 + x4) | 0;
      x14 ^= x3;
      x14 = (x14 << 16) | (x14 >>> 16);
      x9 = (x9 + x14) | 0;
      x4 ^= x9;
      x4 = (x4 << 12) | (x4 >>> 20);
      x3 = (x3 + x4) | 0;
      x14 ^= x3;
      x14 = (x14 << 8) | (x14 >>> 24);
      x9 = (x9 + x14) | 0;
      x4 ^= x9;
      x4 = (x4 << 7) | (x4 >>> 25);
    }
    // Only words 0..7 of the block are the Poly1305 key (words 8..15 need not be finished).
    const oneTimeKey = this.#oneTimeKey;
    oneTimeKey[0] = x0 + 0x61707865;
    oneTimeKey[1] = x1 + 0x3320646e;
    oneTimeKey[2] = x2 + 0x79622d32;
    oneTimeKey[3] = x3 + 0x6b206574;
    oneTimeKey[4] = x4 + k0;
    oneTimeKey[5] = x5 + k1;
    oneTimeKey[6] = x6 + k2;
    oneTimeKey[7] = x7 + k3;
  }

  /**
   * Poly1305 of message[start, end) with the one-time key in #oneTimeKey. `aead`: the RFC 8439 2.8
   * form for an empty ciphertext (zero-pad the message to 16, then le64(length) ‖ le64(0)); else
   * plain Poly1305 (a partial last block gets a 0x01 byte and no 2^128 bit). Writes the tag to
   * tag[tagOffset..] or, when `verify`, compares it with what is there (no early exit).
   */
  #poly1305(
    message: Uint8Array,
    start: number,
    end: number,
    aead: boolean,
    tag: Uint8Array,
    tagOffset: number,
    verify: boolean,
  ): boolean {
    const oneTimeKey = this.#oneTimeKey;
    // r, clamped (RFC 8439 2.5.1), as six 22-bit limbs.
    const t0 = oneTimeKey[0]! & 0x0fffffff;
    const t1 = oneTimeKey[1]! & 0x0ffffffc;
    const t2 = oneTimeKey[2]! & 0x0ffffffc;
    const t3 = oneTimeKey[3]! & 0x0ffffffc;
    const r0 = t0 & LIMB_MASK;
    const r1 = ((t0 >>> 22) | (t1 << 10)) & LIMB_MASK;
    const r2 = ((t1 >>> 12) | (t2 << 20)) & LIMB_MASK;
    const r3 = (t2 >>> 2) & LIMB_MASK;
    const r4 = ((t2 >>> 24) | (t3 << 8)) & LIMB_MASK;
    const r5 = t3 >>> 14;
    // 2^132 ≡ 20 (mod 2^130 − 5): limb products at or above limb 6 fold down times 20.
    const s1 = r1 * 20;
    const s2 = r2 * 20;
    const s3 = r3 * 20;
    const s4 = r4 * 20;
    const s5 = r5 * 20;

    const length = end - start;
    const fullBlocks = length >>> 4;
    const tailLength = length & 15;
    const tail = this.#tail;
    let tailBit = FULL_BLOCK_BIT;
    if (tailLength > 0) {
      for (let index = 0; index < tailLength; index += 1)
        tail[index] = message[start + fullBlocks * 16 + index]!;
      tail.fill(0, tailLength);
      if (!aead) {
        tail[tailLength] = 1;
        tailBit = 0;
      }
    }
    const blocks = fullBlocks + (tailLength > 0 ? 1 : 0) + (aead ? 1 : 0);

    let h0 = 0;
    let h1 = 0;
    let h2 = 0;
    let h3 = 0;
    let h4 = 0;
    let h5 = 0;
    let at = start;
    for (let block = 0; block < blocks; block += 1) {
      let w0: number;
      let w1: number;
      let w2: number;
      let w3: number;
      let highBit = FULL_BLOCK_BIT;
      if (block < fullBlocks) {
        w0 = readU32le(message, at);
        w1 = readU32le(message, at + 4);
        w2 = readU32le(message, at + 8);
        w3 = readU32le(message, at + 12);
        at += 16;
      } else if (block === fullBlocks && tailLength > 0) {
        w0 = readU32le(tail, 0);
        w1 = readU32le(tail, 4);
        w2 = readU32le(tail, 8);
        w3 = readU32le(tail, 12);
        highBit = tailBit;
      } else {
        // le64(AAD length) ‖ le64(ciphertext length = 0)
        w0 = length;
        w1 = 0;
        w2 = 0;
        w3 = 0;
      }
      h0 += w0 & LIMB_MASK;
      h1 += ((w0 >>> 22) | (w1 << 10)) & LIMB_MASK;
      h2 += ((w1 >>> 12) | (w2 << 20)) & LIMB_MASK;
      h3 += (w2 >>> 2) & LIMB_MASK;
      h4 += ((w2 >>> 24) | (w3 << 8)) & LIMB_MASK;
      h5 += (w3 >>> 14) | highBit;

      // h = h · r (mod 2^130 − 5), partially reduced.
      let d0 = h0 * r0 + h1 * s5 + h2 * s4 + h3 * s3 + h4 * s2 + h5 * s1;
      let d1 = h0 * r1 + h1 * r0 + h2 * s5 + h3 * s4 + h4 * s3 + h5 * s2;
      let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s5 + h4 * s4 + h5 * s3;
      let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s5 + h5 * s4;
      let d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * s5;
      let d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0;
      // Two rounds of carries, each limb in parallel (short dependency chains): limbs < 2^22 + 2^17.
      let c0 = (d0 * INVERSE_LIMB) | 0;
      let c1 = (d1 * INVERSE_LIMB) | 0;
      let c2 = (d2 * INVERSE_LIMB) | 0;
      let c3 = (d3 * INVERSE_LIMB) | 0;
      let c4 = (d4 * INVERSE_LIMB) | 0;
      let c5 = (d5 * INVERSE_LIMB) | 0;
      d0 = d0 - c0 * LIMB + c5 * 20;
      d1 = d1 - c1 * LIMB + c0;
      d2 = d2 - c2 * LIMB + c1;
      d3 = d3 - c3 * LIMB + c2;
      d4 = d4 - c4 * LIMB + c3;
      d5 = d5 - c5 * LIMB + c4;
      c0 = (d0 * INVERSE_LIMB) | 0;
      c1 = (d1 * INVERSE_LIMB) | 0;
      c2 = (d2 * INVERSE_LIMB) | 0;
      c3 = (d3 * INVERSE_LIMB) | 0;
      c4 = (d4 * INVERSE_LIMB) | 0;
      c5 = (d5 * INVERSE_LIMB) | 0;
      h0 = d0 - c0 * LIMB + c5 * 20;
      h1 = d1 - c1 * LIMB + c0;
      h2 = d2 - c2 * LIMB + c1;
      h3 = d3 - c3 * LIMB + c2;
      h4 = d4 - c4 * LIMB + c3;
      h5 = d5 - c5 * LIMB + c4;
    }

    // Full carry (all limbs now fit 31 bits, so integer operations are exact).
    let c = h0 >>> 22;
    h0 &= LIMB_MASK;
    h1 += c;
    c = h1 >>> 22;
    h1 &= LIMB_MASK;
    h2 += c;
    c = h2 >>> 22;
    h2 &= LIMB_MASK;
    h3 += c;
    c = h3 >>> 22;
    h3 &= LIMB_MASK;
    h4 += c;
    c = h4 >>> 22;
    h4 &= LIMB_MASK;
    h5 += c;
    // Fold the bits at and above 2^130 twice (the second fold can only add to a tiny value): h < 2^130.
    for (let fold = 0; fold < 2; fold += 1) {
      c = h5 >>> 20;
      h5 &= 0xfffff;
      h0 += c * 5;
      c = h0 >>> 22;
      h0 &= LIMB_MASK;
      h1 += c;
      c = h1 >>> 22;
      h1 &= LIMB_MASK;
      h2 += c;
      c = h2 >>> 22;
      h2 &= LIMB_MASK;
      h3 += c;
      c = h3 >>> 22;
      h3 &= LIMB_MASK;
      h4 += c;
      c = h4 >>> 22;
      h4 &= LIMB_MASK;
      h5 += c;
    }
    // g = h + 5 − 2^130; use g when it is not negative (h ≥ p), without branching.
    let g0 = h0 + 5;
    c = g0 >>> 22;
    g0 &= LIMB_MASK;
    let g1 = h1 + c;
    c = g1 >>> 22;
    g1 &= LIMB_MASK;
    let g2 = h2 + c;
    c = g2 >>> 22;
    g2 &= LIMB_MASK;
    let g3 = h3 + c;
    c = g3 >>> 22;
    g3 &= LIMB_MASK;
    let g4 = h4 + c;
    c = g4 >>> 22;
    g4 &= LIMB_MASK;
    const g5 = h5 + c;
    const useG = -((g5 >>> 20) & 1);
    const useH = ~useG;
    h0 = (h0 & useH) | (g0 & useG);
    h1 = (h1 & useH) | (g1 & useG);
    h2 = (h2 & useH) | (g2 & useG);
    h3 = (h3 & useH) | (g3 & useG);
    h4 = (h4 & useH) | (g4 & useG);
    h5 = (h5 & useH) | (g5 & 0xfffff & useG);

    // tag = (h + s) mod 2^128, little-endian.
    let sum = ((h0 | (h1 << 22)) >>> 0) + (oneTimeKey[4]! >>> 0);
    const tag0 = sum >>> 0;
    sum = (((h1 >>> 10) | (h2 << 12)) >>> 0) + (oneTimeKey[5]! >>> 0) + ((sum / TWO_POW_32) | 0);
    const tag1 = sum >>> 0;
    sum = (((h2 >>> 20) | (h3 << 2) | (h4 << 24)) >>> 0) + (oneTimeKey[6]! >>> 0) + ((sum / TWO_POW_32) | 0);
    const tag2 = sum >>> 0;
    sum = (((h4 >>> 8) | (h5 << 14)) >>> 0) + (oneTimeKey[7]! >>> 0) + ((sum / TWO_POW_32) | 0);
    const tag3 = sum >>> 0;

    if (verify) {
      const difference =
        (tag0 ^ readU32le(tag, tagOffset)) |
        (tag1 ^ readU32le(tag, tagOffset + 4)) |
        (tag2 ^ readU32le(tag, tagOffset + 8)) |
        (tag3 ^ readU32le(tag, tagOffset + 12));
      return difference === 0;
    }
    writeU32le(tag, tagOffset, tag0);
    writeU32le(tag, tagOffset + 4, tag1);
    writeU32le(tag, tagOffset + 8, tag2);
    writeU32le(tag, tagOffset + 12, tag3);
    return true;
  }
}

function writeU32le(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >>> 8;
  bytes[at + 2] = value >>> 16;
  bytes[at + 3] = value >>> 24;
}

/** The scratch the link-MAC functions share (they run to completion; nothing survives a call). */
const linkMac = new ChaCha20Poly1305AadMac();

/**
 * AADs longer than this many bytes are tagged by node:crypto (same tag). node:crypto costs
 * ≈ 2.6–3.5 µs a call whatever the length (more, and more variable, under load: it allocates a
 * cipher object); this code ≈ 0.2 µs + 2.3 ns a byte, allocation-free. They cross near 1.2–1.4 kB;
 * the limit keeps every frame of a 1500-byte MTU (AAD ≤ 1,476 B) in TypeScript, where the two are
 * within noise of each other, and leaves longer (jumbo) frames to node:crypto.
 */
export const LINK_MAC_NATIVE_FROM_BYTES = 1536;

const CHACHA20_POLY1305 = 'chacha20-poly1305' as CipherGCMTypes; // the cast names the AEAD overload
const nativeNonce = Buffer.alloc(12);

/** The link tag of aad[start, end), written to tag[tagOffset..] or compared with it (`verify`). */
function linkTag(
  key: Uint8Array,
  high: number,
  low: number,
  aad: Uint8Array,
  start: number,
  end: number,
  tag: Uint8Array,
  tagOffset: number,
  verify: boolean,
): boolean {
  if (end - start <= LINK_MAC_NATIVE_FROM_BYTES) {
    if (verify) return linkMac.verifyLinkTag(key, high, low, aad, start, end, tag, tagOffset);
    linkMac.writeLinkTag(key, high, low, aad, start, end, tag, tagOffset);
    return true;
  }
  nativeNonce.writeUInt32BE(0, 0);
  nativeNonce.writeUInt32BE(high, 4);
  nativeNonce.writeUInt32BE(low, 8);
  const cipher = createCipheriv(CHACHA20_POLY1305, asBuffer(key), nativeNonce, { authTagLength: TAG_LENGTH });
  cipher.setAAD(asBuffer(aad).subarray(start, end));
  cipher.final();
  const expected = cipher.getAuthTag();
  if (!verify) {
    tag.set(expected, tagOffset);
    return true;
  }
  let difference = 0;
  for (let index = 0; index < TAG_LENGTH; index += 1)
    difference |= expected[index]! ^ tag[tagOffset + index]!;
  return difference === 0;
}

/** Counter of a link frame: a safe non-negative integer (frames stop at 2^53 and rekey). */
function isLinkCounter(counter: number): boolean {
  return Number.isSafeInteger(counter) && counter >= 0;
}

/**
 * Writes the link MAC of a DATA frame: the ChaCha20-Poly1305 tag (RFC 8439) under `key` with nonce
 * 0x00000000 ‖ counter (u64 BE), AAD `bytes[aadStart, aadEnd)` and an empty plaintext, into
 * `out[outOffset, outOffset + 16)`. Allocates nothing. Throws IdentityError on a bad key, counter
 * (not an integer in [0, 2^53)) or range.
 */
export function computeLinkMac(
  key: Uint8Array,
  counter: number,
  bytes: Uint8Array,
  aadStart: number,
  aadEnd: number,
  out: Uint8Array,
  outOffset: number,
): void {
  if (key.length !== KEY_LENGTH) throw new IdentityError('IDENTITY_INVALID_KEY', 'AEAD keys are 32 bytes');
  if (!isLinkCounter(counter))
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'the link counter is an integer in [0, 2^53)');
  if (!(aadStart >= 0 && aadStart <= aadEnd && aadEnd <= bytes.length))
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'the AAD range is outside the bytes');
  if (!(outOffset >= 0 && outOffset + TAG_LENGTH <= out.length))
    throw new IdentityError('IDENTITY_BUFFER_TOO_SMALL', `the tag needs ${TAG_LENGTH} bytes`);
  linkTag(
    key,
    Math.floor(counter / TWO_POW_32),
    counter >>> 0,
    bytes,
    aadStart,
    aadEnd,
    out,
    outOffset,
    false,
  );
}

/**
 * Whether `tag[tagOffset, tagOffset + 16)` is the link MAC (as `computeLinkMac`) of
 * `bytes[aadStart, aadEnd)`; the comparison is constant-time. Never throws: a bad key, counter or
 * range is `false`. Allocates nothing.
 */
export function verifyLinkMac(
  key: Uint8Array,
  counter: number,
  bytes: Uint8Array,
  aadStart: number,
  aadEnd: number,
  tag: Uint8Array,
  tagOffset: number,
): boolean {
  if (key.length !== KEY_LENGTH || !isLinkCounter(counter)) return false;
  if (!(aadStart >= 0 && aadStart <= aadEnd && aadEnd <= bytes.length)) return false;
  if (!(tagOffset >= 0 && tagOffset + TAG_LENGTH <= tag.length)) return false;
  return linkTag(
    key,
    Math.floor(counter / TWO_POW_32),
    counter >>> 0,
    bytes,
    aadStart,
    aadEnd,
    tag,
    tagOffset,
    true,
  );
}

/** `computeLinkMac` for a 64-bit counter given as two u32 halves (the bigint API of aead.ts). */
export function computeLinkMacHalves(
  key: Uint8Array,
  counterHigh: number,
  counterLow: number,
  aad: Uint8Array,
  out: Uint8Array,
  outOffset: number,
): void {
  linkTag(key, counterHigh, counterLow, aad, 0, aad.length, out, outOffset, false);
}

/** `verifyLinkMac` for a 64-bit counter given as two u32 halves (the bigint API of aead.ts). */
export function verifyLinkMacHalves(
  key: Uint8Array,
  counterHigh: number,
  counterLow: number,
  aad: Uint8Array,
  tag: Uint8Array,
  tagOffset: number,
): boolean {
  return linkTag(key, counterHigh, counterLow, aad, 0, aad.length, tag, tagOffset, true);
}
