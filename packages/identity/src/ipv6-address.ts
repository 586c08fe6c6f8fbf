/**
 * IPv6 address text ⇄ 16 bytes, and the /64 subnet prefix a CGA is made under. Parsing returns
 * undefined for anything that is not an address; only `parseSubnetPrefix64` throws (it is for
 * configuration and command-line input, where a clear error is what the caller wants).
 */
import { IdentityError } from './errors';

/** The 16 bytes of an IPv6 address in text form (RFC 4291 2.2, including `::` and an IPv4 tail), or undefined. */
export function parseIpv6Address(text: string): Uint8Array | undefined {
  const address = text.trim();
  if (address.length === 0 || address.length > 45) return undefined;
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : halves[1]!.split(':')) : [];
  const words: number[] = [];
  const parseGroups = (groups: string[], allowIpv4Tail: boolean): number[] | undefined => {
    const out: number[] = [];
    for (let index = 0; index < groups.length; index += 1) {
      const group = groups[index]!;
      if (allowIpv4Tail && index === groups.length - 1 && group.includes('.')) {
        const v4 = parseIpv4(group);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
      out.push(Number.parseInt(group, 16));
    }
    return out;
  };
  const headWords = parseGroups(head, halves.length === 1);
  const tailWords = parseGroups(tail, true);
  if (!headWords || !tailWords) return undefined;
  if (halves.length === 1) {
    if (headWords.length !== 8) return undefined;
    words.push(...headWords);
  } else {
    const missing = 8 - headWords.length - tailWords.length;
    if (missing < 1) return undefined;
    words.push(...headWords, ...new Array<number>(missing).fill(0), ...tailWords);
  }
  const bytes = new Uint8Array(16);
  for (let index = 0; index < 8; index += 1) {
    bytes[index * 2] = words[index]! >> 8;
    bytes[index * 2 + 1] = words[index]! & 0xff;
  }
  return bytes;
}

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    out.push(value);
  }
  return out;
}

/** The RFC 5952 text form of a 16-byte IPv6 address (lower case, the longest run of zero words as `::`). */
export function formatIpv6Address(bytes: Uint8Array): string {
  if (bytes.length !== 16)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'an IPv6 address is 16 bytes');
  const words: number[] = [];
  for (let index = 0; index < 8; index += 1) words.push((bytes[index * 2]! << 8) | bytes[index * 2 + 1]!);
  let bestStart = -1;
  let bestLength = 0;
  for (let start = 0; start < 8; ) {
    if (words[start] !== 0) {
      start += 1;
      continue;
    }
    let end = start;
    while (end < 8 && words[end] === 0) end += 1;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  const hex = (list: number[]) => list.map((word) => word.toString(16)).join(':');
  if (bestLength < 2) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

/**
 * The 8-byte subnet prefix of `fe80::`, `2001:db8:1:2::` or `2001:db8:1:2::/64`. Throws
 * CGA_INVALID_PREFIX for anything else: a length other than 64, or bits set past the first 64.
 */
export function parseSubnetPrefix64(text: string): Uint8Array {
  const [addressText, lengthText, ...rest] = text.trim().split('/');
  if (rest.length > 0 || addressText === undefined)
    throw new IdentityError('CGA_INVALID_PREFIX', `not an IPv6 /64 prefix: ${JSON.stringify(text)}`);
  if (lengthText !== undefined && lengthText !== '64')
    throw new IdentityError(
      'CGA_INVALID_PREFIX',
      `a CGA is made under a /64 subnet prefix (RFC 3972 section 2), not /${lengthText}`,
    );
  const address = parseIpv6Address(addressText);
  if (!address)
    throw new IdentityError('CGA_INVALID_PREFIX', `not an IPv6 address: ${JSON.stringify(addressText)}`);
  if (address.subarray(8).some((byte) => byte !== 0))
    throw new IdentityError(
      'CGA_INVALID_PREFIX',
      `${addressText} has interface-identifier bits set: give the /64 prefix (for example 2001:db8:1:2::/64)`,
    );
  return address.slice(0, 8);
}
