/**
 * The packet the pipeline is handling. The pipeline is not re-entrant (one packet at a time, EMIT
 * included), so one object, made once, carries the packet between the pipeline, the egress and the
 * sandbox's services: no object per packet, and each of them sees exactly what it reads.
 */
import { CapsuleHeaderView } from '@capsule/wire';
import type { EngineLink } from './links';

export interface CurrentPacket {
  /** The received bytes: the inner packet is rewritten in place (hop limit, PATH, DATA). */
  bytes: Uint8Array;
  /** Where the inner IPv6 packet starts in `bytes`. */
  offset: number;
  /** The inner packet's length (IPv6 header + payload length), once checked against what arrived. */
  length: number;
  /** Its capsule header, parsed in place (reused). */
  readonly view: CapsuleHeaderView;
  /** Its ingress link (undefined when the link layer's id is unknown to the engine). */
  link: EngineLink | undefined;
  /** Its flow id, -1 while none. */
  flow: number;
  /** The hop limit was decremented (once per packet, whatever the number of copies). */
  hopLimitDone: boolean;
  /** The PATH hop index as received (-1 without a PATH). */
  hopIndexOriginal: number;
  /** The PATH hop at that index names this engine. */
  isThisHop: boolean;
  /** A TRACE record is appended to what is sent (the capsule or the ACTION TRACE flag). */
  traceWanted: boolean;
}

export function createCurrentPacket(): CurrentPacket {
  return {
    bytes: new Uint8Array(0),
    offset: 0,
    length: 0,
    view: new CapsuleHeaderView(),
    link: undefined,
    flow: -1,
    hopLimitDone: false,
    hopIndexOriginal: -1,
    isThisHop: false,
    traceWanted: false,
  };
}
