import { describe, expect, it } from 'vitest';
import {
  agentOptionsFromConfig,
  controllerOf,
  defaultUnderlaySocketBufferBytes,
  parseAgentConfig,
  underlaySocketBuffers,
} from './config';

const base = { hostName: 'a', controller: 'http://127.0.0.1:8701', user: 'u', password: 'p', domain: 'd' };

describe('underlaySocketBuffers', () => {
  it('defaults to 8 MiB each', () => {
    expect(defaultUnderlaySocketBufferBytes).toBe(8 * 1024 * 1024);
    expect(underlaySocketBuffers(parseAgentConfig(base))).toEqual({
      receiveBufferBytes: 8 * 1024 * 1024,
      sendBufferBytes: 8 * 1024 * 1024,
    });
  });

  it('takes receiveBufferBytes / sendBufferBytes, 0 meaning the kernel default', () => {
    const config = parseAgentConfig({ ...base, receiveBufferBytes: 0, sendBufferBytes: 1_048_576 });
    expect(underlaySocketBuffers(config)).toEqual({ receiveBufferBytes: 0, sendBufferBytes: 1_048_576 });
  });

  it('refuses negative or oversized values', () => {
    expect(() => parseAgentConfig({ ...base, receiveBufferBytes: -1 })).toThrow(/receiveBufferBytes/);
    expect(() => parseAgentConfig({ ...base, sendBufferBytes: 1 << 30 })).toThrow(/sendBufferBytes/);
  });
});

describe('tun.offloads', () => {
  it('is on by default and can be turned off', () => {
    expect(agentOptionsFromConfig(parseAgentConfig(base)).tun?.offloads).toBe(true);
    const off = parseAgentConfig({ ...base, tun: { offloads: false } });
    expect(agentOptionsFromConfig(off).tun).toMatchObject({ offloads: false, name: 'capsule0', mtu: 1280 });
  });

  it('refuses anything but a boolean', () => {
    expect(() => parseAgentConfig({ ...base, tun: { offloads: 'yes' } })).toThrow(/\/tun/);
    expect(() => parseAgentConfig({ ...base, tun: { offloads: true } })).not.toThrow();
  });
});

describe('controller: a URL, or {url, caSha256} pinning its certificate', () => {
  const pin = 'ab'.repeat(32);

  it('takes a URL alone, or an https URL with the pin in any of its text forms', () => {
    expect(controllerOf(parseAgentConfig(base))).toEqual({ url: 'http://127.0.0.1:8701' });
    for (const text of [pin, pin.toUpperCase(), `sha256:${pin}`, pin.match(/../g)!.join(':')]) {
      const config = parseAgentConfig({
        ...base,
        controller: { url: 'https://10.0.0.1:8701', caSha256: text },
      });
      expect(controllerOf(config).caSha256).toEqual(new Uint8Array(32).fill(0xab));
      expect(agentOptionsFromConfig(config).controllerUrl).toBe('https://10.0.0.1:8701');
    }
  });

  it('refuses a pin with plain HTTP, a malformed or oversized pin, and unknown keys', () => {
    for (const controller of [
      { url: 'http://10.0.0.1:8701', caSha256: pin },
      { url: 'https://10.0.0.1:8701', caSha256: pin.slice(2) },
      { url: 'https://10.0.0.1:8701', caSha256: `${pin}00` },
      { url: 'https://10.0.0.1:8701', caSha256: `${pin.slice(0, 63)}z` },
      { url: 'https://10.0.0.1:8701', caSha256: 'x'.repeat(100_000) },
      { url: 'https://10.0.0.1:8701', caSha256: 42 },
      { url: 'https://10.0.0.1:8701' },
      { caSha256: pin },
      { url: 'https://10.0.0.1:8701', caSha256: pin, extra: 1 },
      'ftp://10.0.0.1',
      null,
      [],
    ])
      expect(() => parseAgentConfig({ ...base, controller })).toThrow(
        expect.objectContaining({ code: 'AGENT_BAD_CONFIG' }),
      );
  });
});
