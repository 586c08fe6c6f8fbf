/**
 * The engine's flow events (the hub and the event type are @capsule/api's): a flow created, a
 * flow's verdict changed, a packet dropped (with its reason, and the program's own reason for
 * PROGRAM_DROP), a program's LOG decoded (`Services.log(257)` → 257). The pipeline calls these
 * only when `hub.active`, so while nobody observes they cost one boolean test per packet and build
 * nothing.
 */
import type { FlowEvent, FlowEventHub } from '@capsule/api';
import { formatIpv6, readFlowLabel } from '@capsule/wire';
import { verdictNames } from './counters';
import type { CurrentPacket } from './current-packet';
import { DropReason, dropReasonName } from './drop-reason';
import type { EngineFlows } from './flows';

export interface EngineEventsDeps {
  hub: FlowEventHub;
  clock: { nowMs(): number };
  flows: Pick<EngineFlows, 'table' | 'auth' | 'live'>;
  packet: Pick<CurrentPacket, 'bytes' | 'offset' | 'length' | 'flow'>;
}

/** What the pipeline reports (call only when `hub.active`). */
export interface EngineEvents {
  readonly hub: FlowEventHub;
  flowCreated(flow: number): void;
  verdict(flow: number, verdict: number): void;
  /** A drop of the current packet (`programReason` with PROGRAM_DROP). */
  drop(reason: number, programReason: number): void;
  log(text: string, value: number | undefined): void;
}

export function createEngineEvents(deps: EngineEventsDeps): EngineEvents {
  const { hub, clock, flows, packet } = deps;

  /** The event's common fields, with the flow's when there is one, else the packet's addresses. */
  function base(kind: FlowEvent['kind'], flow: number): FlowEvent {
    const event: FlowEvent = { timeMs: clock.nowMs(), node: hub.node, kind };
    const auth = flow >= 0 && flows.live[flow] ? flows.auth[flow] : undefined;
    if (auth) {
      event.source = formatIpv6(flows.table.sourceOf(flow));
      event.destination = formatIpv6(flows.table.destinationOf(flow));
      event.flowLabel = flows.table.flowLabelOf(flow);
      event.contractId = auth.contractId;
      event.roleId = auth.roleId;
      event.serial = auth.serial.toString();
      return event;
    }
    const { bytes, offset } = packet;
    if (packet.length >= 40 && offset + 40 <= bytes.length && bytes[offset]! >>> 4 === 6) {
      event.source = formatIpv6(bytes.subarray(offset + 8, offset + 24));
      event.destination = formatIpv6(bytes.subarray(offset + 24, offset + 40));
      event.flowLabel = readFlowLabel(bytes, offset);
    }
    return event;
  }

  return {
    hub,
    flowCreated(flow) {
      if (hub.admit()) hub.publish(base('flow', flow));
    },
    verdict(flow, verdict) {
      if (!hub.admit()) return;
      const event = base('verdict', flow);
      event.verdict = verdictNames[verdict] ?? String(verdict);
      hub.publish(event);
    },
    drop(reason, programReason) {
      if (!hub.admit()) return;
      const event = base('drop', packet.flow);
      event.verdict = 'DROP';
      event.reason = dropReasonName(reason);
      if (reason === DropReason.PROGRAM_DROP) event.programReason = programReason;
      hub.publish(event);
    },
    log(text, value) {
      if (!hub.admit()) return;
      const event = base('log', packet.flow);
      event.message = text;
      if (value !== undefined) event.value = value;
      hub.publish(event);
    },
  };
}
