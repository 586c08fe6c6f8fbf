import type { PayloadCipher } from '@capsule/identity';
import { encodeSealedPayloadHeader } from '@capsule/wire';
import { loadAddon } from './native-addon';
import { TunError } from './tun-error';

/**
 * @capsule/identity's PayloadCipher port over the addon's AES-256-GCM contexts: one OpenSSL
 * context per key and direction, reused for every packet, no allocation (node:crypto makes a
 * cipher object per call). The header is written here with wire's codec, as node:crypto's
 * implementation writes it; the C++ (addon/payload-cipher.cc, the one C++ copy of the layout)
 * seals behind it. Passing the epoch and counter into C++ instead cost a boxed number per packet
 * (counters are above 2^31) and measured 60-90 ns more per seal. The output is byte for byte that
 * of identity's createNodePayloadCipher (test/payload-cipher.test.ts). Throws TUN_BAD_OPTIONS for
 * a key that is not 32 bytes and TUN_ADDON_MISSING when the addon is not built.
 */
export function createNativePayloadCipher(key: Uint8Array): PayloadCipher {
  if (key.length !== 32)
    throw new TunError('TUN_BAD_OPTIONS', `a payload key is 32 bytes, got ${key.length}`);
  const contexts = new (loadAddon().PayloadCipher)(key);
  return {
    seal(keyEpoch, counter, aad, source, sourceOffset, length, out, at) {
      try {
        // Throws only for an epoch or counter out of range, or no room for the header.
        encodeSealedPayloadHeader(keyEpoch, counter, out, at);
      } catch {
        return -1;
      }
      return contexts.seal(out, at, aad, source, sourceOffset, length);
    },
    open: (sealed, at, length, aad, out, outOffset) => contexts.open(sealed, at, length, aad, out, outOffset),
  };
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
