import { createNativeVmTier, isNativeAddonAvailable } from '@capsule/native';
import type { NativeTier, Tier } from '@capsule/vm';
import { CliError } from './errors';

/** The help text of a `--tier` option (capsule vm exec, sim, sdk run). */
export const TIER_HELP = 'interpreter, fast or native (the C++ interpreter of the native addon)';

/**
 * A `--tier` option's value as @capsule/vm takes it: the tier, and for 'native' the native tier's
 * port (the addon loaded). Throws `badTier` for another value, VM_NO_NATIVE_TIER for 'native'
 * where the addon is not built.
 */
export function parseTierOption(
  value: string,
  badTier: 'VM_BAD_TIER' | 'SDK_BAD_TIER',
): { tier: Tier; nativeTier: NativeTier | undefined } {
  if (value !== 'interpreter' && value !== 'fast' && value !== 'native')
    throw new CliError(badTier, `--tier must be interpreter, fast or native, not '${value.slice(0, 40)}'`);
  if (value !== 'native') return { tier: value, nativeTier: undefined };
  if (!isNativeAddonAvailable())
    throw new CliError(
      'VM_NO_NATIVE_TIER',
      '--tier native needs the native addon (packages/native), which is not built here: npm ci builds it',
    );
  return { tier: value, nativeTier: createNativeVmTier() };
}
