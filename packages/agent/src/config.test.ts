import { describe, expect, it } from 'vitest';
import {
  agentFastPathWanted,
  agentOptionsFromConfig,
  controllerOf,
  defaultAgentFastPath,
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

describe('fastPath', () => {
  it('is on by default; the file turns it off, CAPSULE_AGENT_FAST_PATH=0 or 1 overrides the file', () => {
    expect(defaultAgentFastPath).toBe(true);
    expect(agentFastPathWanted(parseAgentConfig(base), {})).toBe(true);
    const off = parseAgentConfig({ ...base, fastPath: false });
    expect(agentFastPathWanted(off, {})).toBe(false);
    expect(agentFastPathWanted(off, { CAPSULE_AGENT_FAST_PATH: '1' })).toBe(true);
    const on = parseAgentConfig({ ...base, fastPath: true });
    expect(agentFastPathWanted(on, {})).toBe(true);
    expect(agentFastPathWanted(on, { CAPSULE_AGENT_FAST_PATH: '0' })).toBe(false);
    expect(agentFastPathWanted(parseAgentConfig(base), { CAPSULE_AGENT_FAST_PATH: '1' })).toBe(true);
    // Anything else leaves the file's word.
    expect(agentFastPathWanted(on, { CAPSULE_AGENT_FAST_PATH: 'yes' })).toBe(true);
  });

  it('refuses anything but a boolean', () => {
    expect(() => parseAgentConfig({ ...base, fastPath: 'on' })).toThrow(/fastPath/);
  });
});

describe('authRepeatMs / authRepeatForMs', () => {
  it("default to 250 ms for 2 s, and take the file's", () => {
    expect(agentOptionsFromConfig(parseAgentConfig(base))).toMatchObject({
      authIntervalMs: 5000,
      authRepeatMs: 250,
      authRepeatForMs: 2000,
    });
    const set = parseAgentConfig({ ...base, authRepeatMs: 100, authRepeatForMs: 0 });
    expect(agentOptionsFromConfig(set)).toMatchObject({ authRepeatMs: 100, authRepeatForMs: 0 });
  });

  it('refuses a repeat longer than the interval, or out of range', () => {
    expect(() => parseAgentConfig({ ...base, authRepeatMs: 5001 })).toThrow(
      /authRepeatMs must not exceed authIntervalMs \(5000\)/,
    );
    expect(() => parseAgentConfig({ ...base, authIntervalMs: 1000, authRepeatMs: 1000 })).not.toThrow();
    expect(() => parseAgentConfig({ ...base, authIntervalMs: 1000, authRepeatMs: 1001 })).toThrow(
      expect.objectContaining({ code: 'AGENT_BAD_CONFIG' }),
    );
    expect(() => parseAgentConfig({ ...base, authRepeatMs: 5 })).toThrow(/authRepeatMs/);
    expect(() => parseAgentConfig({ ...base, authRepeatForMs: -1 })).toThrow(/authRepeatForMs/);
    expect(() => parseAgentConfig({ ...base, authRepeatForMs: 'soon' })).toThrow(/authRepeatForMs/);
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
    expect(controllerOf(parseAgentConfig(base))).toEqual({
      url: 'http://127.0.0.1:8701',
      urls: ['http://127.0.0.1:8701'],
    });
    // An https URL without a pin: the system's CAs decide, as for the URL alone.
    expect(controllerOf(parseAgentConfig({ ...base, controller: { url: 'https://c:8701' } }))).toEqual({
      url: 'https://c:8701',
      urls: ['https://c:8701'],
    });
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

describe('controller: {urls} names the replicas, tried in order', () => {
  const pin = 'ab'.repeat(32);

  it('takes a list of https URLs with one pin; the first is used first', () => {
    const config = parseAgentConfig({
      ...base,
      controller: { urls: ['https://a:8701', 'https://b:8701/'], caSha256: pin },
    });
    expect(controllerOf(config)).toMatchObject({
      url: 'https://a:8701',
      urls: ['https://a:8701', 'https://b:8701/'],
    });
    expect(agentOptionsFromConfig(config)).toMatchObject({
      controllerUrl: 'https://a:8701',
      controllerUrls: ['https://a:8701', 'https://b:8701/'],
    });
    // http only with insecureHttp and no pin.
    const insecure = parseAgentConfig({
      ...base,
      controller: { urls: ['http://a:8701', 'http://b:8701'], insecureHttp: true },
    });
    expect(controllerOf(insecure).urls).toEqual(['http://a:8701', 'http://b:8701']);
  });

  it('refuses an empty, repeated, plain-http, pinned-http, too long or mixed list, naming the key', () => {
    const cases: [unknown, RegExp][] = [
      [{ urls: [] }, /\/controller\/urls must name at least one controller/],
      [{ urls: ['https://a:8701', 'https://a:8701/'] }, /\/controller\/urls\/1 repeats controller URL \[0\]/],
      [{ urls: ['https://a:8701', 'http://b:8701'] }, /\/controller\/urls\/1 must be https/],
      [{ urls: ['http://a:8701'], insecureHttp: true, caSha256: pin }, /when caSha256 pins/],
      [
        { urls: Array.from({ length: 17 }, (_, i) => `https://c${i}:8701`) },
        /names 17 controllers; at most 16/,
      ],
      [{ urls: ['https://a:8701'], url: 'https://a:8701' }, /url .* or urls .*, not both/],
      [{ urls: ['https://a:8701/path'] }, /must be an origin/],
      [{ urls: ['not a url'] }, /is not a URL/],
      [{ urls: ['ftp://a'] }, /must be https:\/\/host:port, not ftp:/],
      [{ urls: [42] }, /must be/],
      [{ urls: 'https://a:8701' }, /must be/],
      [{ insecureHttp: true }, /\/controller\/url is required/],
    ];
    for (const [controller, message] of cases)
      expect(() => parseAgentConfig({ ...base, controller }), JSON.stringify(controller)).toThrow(message);
  });
});
