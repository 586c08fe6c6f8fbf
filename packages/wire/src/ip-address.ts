/**
 * IP address text: IPv4 dotted quad, and IPv6 text parsed per RFC 4291 2.2 and formatted in the
 * RFC 5952 canonical form (lower case, no leading zeros, the longest run of two or more zero
 * groups — the first on a tie — shortened to "::", IPv4-mapped addresses as ::ffff:a.b.c.d).
 * Addresses are raw bytes everywhere else in Capsule; text exists for people and configs.
 */
import { type DecodeResult, decoded, decodeFailure } from './decode-result';

const decimalOctet = /^(0|[1-9][0-9]{0,2})$/;

/** Parses "a.b.c.d" (decimal, no leading zeros) into 4 bytes. */
export function parseIpv4(text: string): DecodeResult<Uint8Array> {
  const parts = text.split('.');
  if (parts.length !== 4) return decodeFailure('BAD_ADDRESS_TEXT', `not an IPv4 address: ${text}`, 0);
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    const value = Number(part);
    if (!decimalOctet.test(part) || value > 255)
      return decodeFailure('BAD_ADDRESS_TEXT', `bad IPv4 octet "${part}" in ${text}`, 0);
    bytes[i] = value;
  }
  return decoded(bytes);
}

/** Formats 4 bytes at `offset` as "a.b.c.d". */
export function formatIpv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

const hexGroup = /^[0-9a-fA-F]{1,4}$/;

/** Parses IPv6 text (RFC 4291 2.2: full, "::"-compressed, trailing dotted IPv4) into 16 bytes; no zone ids. */
export function parseIpv6(text: string): DecodeResult<Uint8Array> {
  const fail = (why: string) => decodeFailure<Uint8Array>('BAD_ADDRESS_TEXT', `${why}: ${text}`, 0);
  if (text.length === 0 || text.length > 45) return fail('not an IPv6 address');
  const halves = text.split('::');
  if (halves.length > 2) return fail('more than one "::"');
  const groups: number[][] = [];
  for (let h = 0; h < halves.length; h++) {
    const half = halves[h]!;
    const words: number[] = [];
    if (half !== '') {
      const parts = half.split(':');
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        const isLastOfText = h === halves.length - 1 && i === parts.length - 1;
        if (part.includes('.') && isLastOfText) {
          const v4 = parseIpv4(part);
          if (!v4.ok) return fail('bad embedded IPv4 address');
          words.push((v4.value[0]! << 8) | v4.value[1]!, (v4.value[2]! << 8) | v4.value[3]!);
        } else if (hexGroup.test(part)) words.push(Number.parseInt(part, 16));
        else return fail(`bad group "${part}"`);
      }
    }
    groups.push(words);
  }
  const head = groups[0]!;
  const tail = groups[1] ?? [];
  const compressed = halves.length === 2;
  const count = head.length + tail.length;
  if (compressed ? count > 7 : count !== 8) return fail('wrong number of groups');
  const bytes = new Uint8Array(16);
  head.forEach((word, i) => {
    bytes[2 * i] = word >>> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  tail.forEach((word, i) => {
    const at = 16 - 2 * tail.length + 2 * i;
    bytes[at] = word >>> 8;
    bytes[at + 1] = word & 0xff;
  });
  return decoded(bytes);
}

/** Formats 16 bytes at `offset` as RFC 5952 canonical text. */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!);
  // RFC 5952 5: IPv4-mapped addresses keep the dotted quad.
  if (words.slice(0, 5).every((word) => word === 0) && words[5] === 0xffff)
    return `::ffff:${formatIpv4(bytes, offset + 12)}`;
  // RFC 5952 4.2: the longest run of at least two zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    words
      .slice(from, to)
      .map((word) => word.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}
