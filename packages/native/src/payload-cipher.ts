import type { PayloadCipher } from '@capsule/identity';
import { loadAddon } from './native-addon';
import { TunError } from './tun-error';

/**
 * @capsule/identity's PayloadCipher port over the addon's AES-256-GCM contexts: one OpenSSL
 * context per key and direction, reused for every packet, no allocation (node:crypto makes a
 * cipher object per call). The C++ writes the sealed-payload header itself (its one copy of wire's
 * codec, addon/payload-cipher.cc); the output is byte for byte that of identity's createNodePayloadCipher
 * (test/payload-cipher.test.ts). Throws TUN_BAD_OPTIONS for a key that is not 32 bytes and
 * TUN_ADDON_MISSING when the addon is not built.
 */
export function createNativePayloadCipher(key: Uint8Array): PayloadCipher {
  if (key.length !== 32)
    throw new TunError('TUN_BAD_OPTIONS', `a payload key is 32 bytes, got ${key.length}`);
  return new (loadAddon().PayloadCipher)(key);
}

/** Whether the addon is built and loads here (without it, payloads go through node:crypto). */
export function isNativeAddonAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}
