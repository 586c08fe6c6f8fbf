/**
 * The services the engine gives the programs it runs (the sandbox's host port): EMIT (a copy
 * sent at once, through the egress), FLOW_HASH, TIME (the injected clock), RANDOM (the injected
 * source) and LOG (to the engine's logger, rate-limited to `logLinesPerSecond`).
 */
import type { SandboxHost } from '@capsule/vm';
import type { Clock, Logger } from '@capsule/wire';
import type { CurrentPacket } from './current-packet';

export interface SandboxHostOptions {
  /** Program LOG lines per second at most (the rest are refused to the program). */
  logLinesPerSecond: number;
}

export interface SandboxHostDeps {
  clock: Pick<Clock, 'nowMs' | 'setInterval'>;
  logger: Logger;
  /** 32 random bits. */
  random: () => number;
  packet: Pick<CurrentPacket, 'bytes' | 'offset' | 'flow'>;
  /** EMIT (the egress's). */
  emit: (action: Uint8Array) => boolean;
}

export function createSandboxHost(options: SandboxHostOptions, deps: SandboxHostDeps): SandboxHost {
  const { clock, logger, random, packet } = deps;
  let logTokens = options.logLinesPerSecond;
  let logRefillMs = 0;
  return {
    emit: (action) => deps.emit(action),
    flowHash: (seed) => flowHashOf(packet.bytes, packet.offset, seed),
    timeMs: () => clock.nowMs(),
    random: () => random(),
    log(message) {
      const now = clock.nowMs();
      if (now - logRefillMs >= 1000) {
        logRefillMs = now;
        logTokens = options.logLinesPerSecond;
      }
      if (logTokens <= 0) return false;
      logTokens--;
      logger.info({ flow: packet.flow, message: Buffer.from(message).toString('utf8') }, 'program log');
      return true;
    },
  };
}

/**
 * FLOW_HASH of the IPv6 packet at bytes[offset]: FNV-1a over (source, destination, flow label)
 * mixed with the seed, then a murmur3 finaliser — the same on every engine, so a flow keeps its path.
 */
export function flowHashOf(bytes: Uint8Array, offset: number, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 8; i < 40; i++) hash = Math.imul(hash ^ bytes[offset + i]!, 0x01000193);
  hash = Math.imul(hash ^ (bytes[offset + 1]! & 0x0f), 0x01000193);
  hash = Math.imul(hash ^ bytes[offset + 2]!, 0x01000193);
  hash = Math.imul(hash ^ bytes[offset + 3]!, 0x01000193);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return hash >>> 0;
}
