import { describe, expect, it } from 'vitest';
import {
  agentOptionsFromConfig,
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
