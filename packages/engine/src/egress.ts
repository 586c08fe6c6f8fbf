/**
 * The packet's way out: the verdict applied — FORWARD / REPLICATE on the links the program named
 * (program link ids), DELIVER on the destination host's link, an EMIT's copy sent at once — or a
 * counted drop. Before sending, the program's PATH and DATA are written back into the packet, the
 * PATH hop index is advanced past this engine, the hop limit is decremented once per packet, and a
 * TRACE record is appended when asked. The received packet is rewritten in place and handed to
 * the link layer per egress link; only a TRACE append is built, in a preallocated 64 KiB buffer.
 */
import type { LinkLayer } from '@capsule/overlay';
import { ActionField, EGRESS_MAX_LINKS, Verdict } from '@capsule/vm';
import type { Clock } from '@capsule/wire';
import { clockUs, PathOffset } from '@capsule/wire';
import { type CounterState, countProgramDrop } from './counters';
import type { CurrentPacket } from './current-packet';
import { DropReason } from './drop-reason';
import type { EngineEvents } from './flow-events';
import type { EngineFlows } from './flows';
import type { EngineLinks } from './links';
import { appendTraceRecord } from './trace';

export interface EgressOptions {
  /** The engine id TRACE records carry. */
  engineId: number;
}

export interface EgressDeps {
  linkLayer: Pick<LinkLayer, 'send'>;
  links: Pick<EngineLinks, 'byProgramId' | 'hostLinkTo'>;
  flows: Pick<EngineFlows, 'drops' | 'lastVerdict' | 'lastReason' | 'programReason'>;
  counters: CounterState;
  clock: Pick<Clock, 'nowMs' | 'nowUs' | 'setInterval'>;
  packet: CurrentPacket;
  /** The sandbox's PATH and DATA regions (what the program left there is written back). */
  regions: { readonly path: Uint8Array; readonly data: Uint8Array };
  /** Flow events (drops and verdict changes, built only while someone observes). */
  events: EngineEvents;
}

/** The egress of one engine (acting on its current packet). */
export interface Egress {
  /** Counts a drop of the current packet (engine, link and flow); returns false. */
  drop(reason: number, programReason?: number): false;
  /**
   * Applies a final verdict: DROP (counted as PROGRAM_DROP, the program's reason kept on the
   * flow), DELIVER, or FORWARD / REPLICATE on `count` program link ids read from `links` at
   * `linksAt` (a Uint32Array index, or a DataView byte offset of u32 LE). True when sent at least once.
   */
  applyAction(
    verdict: number,
    count: number,
    links: Uint32Array | DataView,
    linksAt: number,
    fuel: number,
    programReason: number,
  ): boolean;
  /** EMIT: sends a copy now with the action in `action` (the ACTION region); true when sent. */
  emit(action: Uint8Array): boolean;
  /** Copies the program's PATH and DATA back into the packet and advances the hop index. */
  writeBack(): void;
  /** Moves the PATH hop index past this engine when this hop is ours and the program left it. */
  advanceHopIndex(): void;
}

/** Size of the buffer a traced packet is built in (the largest IPv6 packet). */
const EGRESS_BUFFER_BYTES = 65_536;

export function createEgress(options: EgressOptions, deps: EgressDeps): Egress {
  const { linkLayer, links, flows, counters, clock, packet, regions, events } = deps;
  const { engineId } = options;
  const egress = new Uint8Array(EGRESS_BUFFER_BYTES);
  /** A view of the last EMIT's action region (the sandbox passes the same region every time). */
  let emitAction: Uint8Array | undefined;
  let emitView: DataView = new DataView(new ArrayBuffer(0));

  function drop(reason: number, programReason = 0): false {
    if (events.hub.active) events.drop(reason, programReason);
    counters.drops[reason] = counters.drops[reason]! + 1;
    counters.verdicts[Verdict.DROP] = counters.verdicts[Verdict.DROP]! + 1;
    if (packet.link) packet.link.drops++;
    const flow = packet.flow;
    if (flow >= 0) {
      flows.drops[flow] = flows.drops[flow]! + 1;
      flows.lastVerdict[flow] = Verdict.DROP;
      flows.lastReason[flow] = reason;
    }
    return false;
  }

  function writeBack(): void {
    const { bytes, view } = packet;
    if (view.dataOffset >= 0) {
      const at = view.dataOffset;
      for (let i = 0; i < view.dataLength; i++) bytes[at + i] = regions.data[i]!;
    }
    if (view.pathOffset >= 0) {
      const at = view.pathOffset;
      for (let i = 0; i < view.pathLength; i++) bytes[at + i] = regions.path[i]!;
      advanceHopIndex();
    }
  }

  function advanceHopIndex(): void {
    if (!packet.isThisHop) return;
    const { bytes, view } = packet;
    const original = packet.hopIndexOriginal;
    const at = view.pathOffset + PathOffset.HOP_INDEX;
    if (bytes[at] === original && original < bytes[view.pathOffset + PathOffset.HOP_COUNT]!)
      bytes[at] = original + 1;
  }

  /** Decrements the hop limit once per packet (the pipeline checked it is > 1). */
  function decrementHopLimit(): void {
    if (packet.hopLimitDone) return;
    const at = packet.offset + 7;
    packet.bytes[at] = packet.bytes[at]! - 1;
    packet.hopLimitDone = true;
  }

  /** Sends the current packet on one link (by program link id); 0 when sent, else a drop reason. */
  function sendOn(programLinkId: number, verdict: number, fuel: number, reason: number): number {
    const link = links.byProgramId(programLinkId);
    if (!link?.up) return DropReason.NO_ROUTE;
    decrementHopLimit();
    let bytes = packet.bytes;
    let offset = packet.offset;
    let length = packet.length;
    if (packet.traceWanted) {
      const timeUs = clockUs(clock) % 0x1_0000_0000;
      const traced = appendTraceRecord(
        egress,
        bytes,
        offset,
        length,
        packet.view,
        engineId,
        timeUs,
        fuel,
        verdict,
        reason,
      );
      if (traced > 0) {
        counters.traceRecords++;
        bytes = egress;
        offset = 0;
        length = traced;
      } else counters.traceFull++;
    }
    if (!linkLayer.send(link.id, bytes, offset, length)) return DropReason.SEND_FAILED;
    counters.packetsOut++;
    counters.bytesOut += length;
    link.packetsOut++;
    link.bytesOut += length;
    return 0;
  }

  /** DELIVER: to the link of the destination host; 0 when sent, else a drop reason. */
  function deliver(fuel: number): number {
    const link = links.hostLinkTo(packet.bytes, packet.offset + 24);
    return link ? sendOn(link.programId, Verdict.DELIVER, fuel, 0) : DropReason.NO_HOST_LINK;
  }

  return {
    drop,
    writeBack,
    advanceHopIndex,
    applyAction(verdict, count, linksFrom, linksAt, fuel, programReason) {
      if (verdict === Verdict.DROP) {
        packet.traceWanted = false;
        countProgramDrop(counters, programReason);
        drop(DropReason.PROGRAM_DROP, programReason);
        if (packet.flow >= 0) flows.programReason[packet.flow] = programReason;
        return false;
      }
      let failure = 0;
      let sent = 0;
      if (verdict === Verdict.DELIVER) {
        failure = deliver(fuel);
        if (failure === 0) sent = 1;
      } else {
        for (let i = 0; i < count; i++) {
          const linkId =
            linksFrom instanceof Uint32Array
              ? linksFrom[linksAt + i]!
              : linksFrom.getUint32(linksAt + 4 * i, true);
          const result = sendOn(linkId, verdict, fuel, 0);
          if (result === 0) sent++;
          else failure = result;
        }
      }
      if (sent === 0) return drop(failure || DropReason.NO_ROUTE);
      counters.verdicts[verdict] = counters.verdicts[verdict]! + 1;
      if (packet.flow >= 0) {
        if (events.hub.active && flows.lastVerdict[packet.flow] !== verdict)
          events.verdict(packet.flow, verdict);
        flows.lastVerdict[packet.flow] = verdict;
        flows.lastReason[packet.flow] = 0;
      }
      return true;
    },
    emit(action) {
      counters.emits++;
      if (action !== emitAction) {
        emitAction = action;
        emitView = new DataView(action.buffer, action.byteOffset, action.byteLength);
      }
      const verdict = emitView.getUint32(ActionField.VERDICT, true);
      const count = Math.min(EGRESS_MAX_LINKS, emitView.getUint32(ActionField.EGRESS_COUNT, true));
      writeBack();
      if (verdict === Verdict.DELIVER) return deliver(0) === 0;
      if (verdict !== Verdict.FORWARD && verdict !== Verdict.REPLICATE) return false;
      let sent = 0;
      for (let i = 0; i < count; i++) {
        const linkId = emitView.getUint32(ActionField.EGRESS_LINKS + 4 * i, true);
        if (sendOn(linkId, verdict, 0, 0) === 0) sent++;
      }
      return sent > 0;
    },
  };
}
