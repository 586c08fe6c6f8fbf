/**
 * CAPSULE_NATIVE_ADDON (native-addon.ts): another compiled addon loaded instead of the package's
 * build (scripts/sanitize-native.sh loads its sanitizer build so). Each case in a fresh Node
 * process, since the addon is loaded once per process.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isNativeAddonAvailable } from '../src/index';

const index = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const built = fileURLToPath(new URL('../build/Release/capsule_native.node', import.meta.url));

/** What loading the addon does in a fresh process with CAPSULE_NATIVE_ADDON set to `override`. */
function loadWith(override: string): { loaded: boolean; code?: string; message?: string } {
  const script = `
    const { createNativePayloadCipher } = await import(${JSON.stringify(index)});
    try {
      createNativePayloadCipher(new Uint8Array(32));
      console.log(JSON.stringify({ loaded: true }));
    } catch (error) {
      console.log(JSON.stringify({ loaded: false, code: error.code, message: error.message }));
    }`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, CAPSULE_NATIVE_ADDON: override },
    encoding: 'utf8',
  });
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!);
}

describe.runIf(isNativeAddonAvailable())('CAPSULE_NATIVE_ADDON', () => {
  it('loads the addon it names', () => {
    expect(loadWith(built)).toEqual({ loaded: true });
  });

  it('refuses a relative path, and names an addon that does not load', () => {
    const relative = loadWith('build/Release/capsule_native.node');
    expect(relative.loaded).toBe(false);
    expect(relative.code).toBe('TUN_ADDON_MISSING');
    expect(relative.message).toMatch(/CAPSULE_NATIVE_ADDON must be an absolute path/);
    const missing = loadWith('/nonexistent/capsule_native.node');
    expect(missing.code).toBe('TUN_ADDON_MISSING');
    expect(missing.message).toMatch(/CAPSULE_NATIVE_ADDON names an addon that does not load: .*nonexistent/);
  });
});
