/**
 * IPv6 address text ⇄ 16 bytes (thin wrappers over @capsule/wire's parser and RFC 5952 formatter),
 * and the /64 subnet prefix a CGA is made under. Parsing returns undefined for anything that is not
 * an address; only `parseSubnetPrefix64` throws (it is for configuration and command-line input,
 * where a clear error is what the caller wants).
 */
import { formatIpv6, parseIpv6 } from '@capsule/wire';
import { IdentityError } from './errors';

/** The 16 bytes of an IPv6 address in text form (RFC 4291 2.2, via @capsule/wire's parser), or undefined. */
export function parseIpv6Address(text: string): Uint8Array | undefined {
  const result = parseIpv6(text.trim());
  return result.ok ? result.value : undefined;
}

/** The RFC 5952 text form of a 16-byte IPv6 address (via @capsule/wire's formatter). */
export function formatIpv6Address(bytes: Uint8Array): string {
  if (bytes.length !== 16)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'an IPv6 address is 16 bytes');
  return formatIpv6(bytes);
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
