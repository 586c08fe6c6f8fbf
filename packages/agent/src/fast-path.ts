/**
 * The agent's side of the native fast path (wire's `AgentFastPath`, @capsule/native
 * `createNativeFastPath`; docs/agent.md, "Fast path"): which flows it may send by itself from the
 * TUN device's read path, and when it must forget them.
 *
 * A unicast flow is installed, per destination (the peer's CGA for IPv6 packets, its IPv4 alias
 * for IPv4 ones; one of several flows to a host — endpoints of several contracts — per source and
 * destination, the default one also per destination for the sources that are no role address),
 * right after egress sent a packet of it, of any type (so the flow is the one egress
 * looks up for that destination), with the headers of its three packet types, the AAD, the first
 * hop's link and the direction's epoch-0 e2e key. The fast path shares the flow's `state` (send
 * counter, packet type state), its e2e `state` and its endpoint's statistics with JavaScript, and
 * takes a packet only when egress would send it, unchanged — as type I every `authIntervalMs`,
 * type II for the next `codePackets`, else type III, as egress decides, a type I too big for one
 * packet split as egress splits it (AUTH-only ahead, the data as type II), under the flow's send
 * epoch or the next one when a rekey is due (it moves the shared state as egress would, and the
 * flow's JavaScript cipher follows at its next seal: e2e-epochs.ts), and only when the Out ACL
 * allows it (the rules for that peer, acl.ts `aclRuleWords`, evaluated as `isAllowed` does);
 * everything else (a trace, a packet the ACL denies, a link without a session) comes up to egress
 * as before. Installed flows are forgotten at every change of the flow table or its links
 * (`FlowTable.onChange`) and of the ACL (`clear`). In TAP mode the same, past each frame's
 * Ethernet header (the native side learns the kernel's MAC into the segment's `peerMac` and puts
 * the segment's header in front of what it writes: `setTap`). A role-addressed flow (to a peer
 * role's address; IPv6 only) likewise, with its ConnectionTable: each application connection's
 * packet types and flow label as egress keeps and writes them (a new connection added as egress
 * adds it), sealed with the group sender key of its epoch, never rekeyed.
 *
 * Ingress likewise: a unicast flow is installed under its peer's CGA (one of several from a host:
 * under its CGA and the flow label it sends with) right after ingress delivered
 * a packet of it without a TRACE (`delivered`), with that packet's inner IPv6 + capsule header as
 * the template the later packets of its type (I, II or III) must equal (but for the payload length,
 * the hop limit, the PATH hop index, the DATA value and the TRANSPORT value), the direction's
 * epoch-0 e2e key and the flow's e2e state (shared: the fast path opens the current receive
 * epoch, the previous one in its grace and the next, whose first packet moves the state as ingress
 * would), its e2e replay window and its endpoint's statistics (shared). Each type's template is
 * installed on the first packet of that type ingress delivers, and again when it delivers one with
 * another header (a path change on the peer's side); a header does not carry the epoch, so the
 * templates hold across epochs, and a packet the fast path handed up for another reason (a retired
 * session, say) leaves them as they are; a packet the In ACL's rules for that peer deny goes up
 * (ingress drops it as `aclIn`). Not installed: role-addressed packets (not to our CGA).
 */
import type { AgentFastPath, CapsuleHeaderView, EgressFlowSelector } from '@capsule/wire';
import { aclRuleWords } from './acl';
import type { DataPlane } from './data-plane';
import { AGENT_MAC } from './ethernet';
import {
  countersOf,
  type Flow,
  type GroupMembership,
  type GroupSender,
  type GroupSenderEpoch,
} from './flows';

/** What egress and ingress tell the fast path (DataPlane.fastPath). */
export interface AgentFastPathInstaller {
  /**
   * Egress just sent a packet of `flow` (IP `version`; any type: a flow that sends less than
   * `codePackets` packets per `authIntervalMs`, a ping a second, never sends type III): install it
   * if it is not.
   */
  sent(flow: Flow, version: number): void;
  /**
   * Ingress just delivered the packet bytes[offset…] of unicast flow `flow`, its capsule header
   * parsed in `view`: install the flow's ingress for packets of its type from it (without TRACE).
   */
  delivered(flow: Flow, bytes: Uint8Array, offset: number, view: CapsuleHeaderView): void;
  /**
   * Ingress just delivered the role-addressed packet bytes[offset…] from `sender` to `membership`'s
   * address, opened under `epoch` (the sender's, as the member keeps it), its capsule header parsed
   * in `view`: install that sender's packets of its type to that address from it (without TRACE).
   */
  deliveredGroup(
    membership: GroupMembership,
    sender: GroupSender,
    epoch: GroupSenderEpoch,
    bytes: Uint8Array,
    offset: number,
    view: CapsuleHeaderView,
  ): void;
  /** Forgets every installed flow. */
  clear(): void;
}

/** A header installed for a packet type: the header and the bytes packets may change. */
interface IngressTemplate {
  header: Uint8Array;
  free: Uint8Array;
}

/** A delivered packet's header as a template (`labelFree`: a role-addressed sender's), with its offsets. */
function templateOf(bytes: Uint8Array, offset: number, view: CapsuleHeaderView, labelFree: boolean) {
  const headerLength = 40 + view.length;
  const hopIndexAt = view.pathOffset < 0 ? -1 : view.pathOffset - offset + 4;
  const dataAt = view.dataOffset < 0 ? -1 : view.dataOffset - offset;
  const transportAt = view.transportOffset - offset;
  const header = bytes.slice(offset, offset + headerLength);
  // The bytes a packet may change (as the fast path's template compare frees them).
  const free = new Uint8Array(headerLength);
  if (labelFree) free.fill(1, 1, 4); // a connection's flow label
  free.fill(1, 4, 6); // payload length
  free[7] = 1; // hop limit
  if (hopIndexAt >= 0) free[hopIndexAt] = 1;
  if (dataAt >= 0) free.fill(1, dataAt, dataAt + view.dataLength);
  free[transportAt] = 1;
  free.fill(1, transportAt + 2, transportAt + 6);
  return { template: { header, free }, hopIndexAt, dataAt, dataLength: view.dataLength, transportAt };
}

/**
 * The template a delivered packet's header makes for its packet type (`templateOf`), kept in
 * `installed` under `key` beside the other types' (the fast path keeps them side by side); undefined
 * when that type's installed template is this header already (a packet handed up for another reason).
 */
function newTemplate<K extends object>(
  installed: WeakMap<K, (IngressTemplate | undefined)[]>,
  key: K,
  bytes: Uint8Array,
  offset: number,
  view: CapsuleHeaderView,
  labelFree: boolean,
): ReturnType<typeof templateOf> | undefined {
  let templates = installed.get(key);
  if (templates !== undefined && sameHeader(templates[view.packetType], bytes, offset, 40 + view.length))
    return undefined;
  const made = templateOf(bytes, offset, view, labelFree);
  if (templates === undefined) {
    templates = [];
    installed.set(key, templates);
  }
  templates[view.packetType] = made.template;
  return made;
}

/** Whether bytes[offset, + length) is `installed`'s header but for its free bytes. */
function sameHeader(
  installed: IngressTemplate | undefined,
  bytes: Uint8Array,
  offset: number,
  length: number,
): boolean {
  if (installed === undefined) return false;
  const { header, free } = installed;
  if (header.length !== length) return false;
  for (let i = 0; i < length; i += 1) if (free[i] === 0 && bytes[offset + i] !== header[i]) return false;
  return true;
}

/** Installs flows into `port` for the data plane `plane` (binds the plane's counters and options). */
export function createAgentFastPath(port: AgentFastPath, plane: DataPlane): AgentFastPathInstaller {
  const { options } = plane;
  port.bindAgent(plane.sentByType, plane.e2eRekeyCounts, {
    authIntervalMs: options.authIntervalMs,
    authRepeatMs: options.authRepeatMs,
    authRepeatForMs: options.authRepeatForMs,
    codePackets: options.codePackets,
    e2eRekeyAfterMs: options.e2eRekeyAfterMs,
    e2eRekeyAfterPackets: options.e2eRekeyAfterPackets,
    e2eRekeyGraceMs: options.e2eRekeyGraceMs,
    ownIpv4: options.ownIpv4,
    maxOverlayPacketBytes: options.maxOverlayPacketBytes,
  });
  // TAP mode: the segment's MACs, the kernel's learned by either side into the one array.
  port.setTap(plane.tap && { peerMac: plane.tap.peerMac, agentMac: AGENT_MAC });
  /** Per flow, whether it is installed for IPv4 [0] and IPv6 [1] destinations. */
  let installed = new WeakMap<Flow, [boolean, boolean]>();
  /** Per flow, the ingress template installed per packet type (index 1..3; cleared with the rest). */
  let ingress = new WeakMap<Flow, (IngressTemplate | undefined)[]>();
  /** Per sender epoch, the role-addressed ingress template installed per packet type (likewise). */
  let groupIngress = new WeakMap<GroupSenderEpoch, (IngressTemplate | undefined)[]>();
  return {
    sent(flow, version) {
      const firstHop = flow.firstHop;
      const counters = countersOf(flow.endpoint.statistics);
      if (firstHop === undefined || firstHop.linkId < 0 || counters === undefined) return;
      if (version === 4 && flow.ipv4Alias === 0) return;
      let marks = installed.get(flow);
      if (marks === undefined) {
        marks = [false, false];
        installed.set(flow, marks);
      }
      const slot = version === 6 ? 1 : 0;
      if (marks[slot]) return;
      marks[slot] = true;
      const alias = flow.ipv4Alias;
      const destination =
        version === 6
          ? flow.peer.hostId
          : Uint8Array.of(alias >>> 24, (alias >>> 16) & 0xff, (alias >>> 8) & 0xff, alias & 0xff);
      const acl = aclRuleWords(plane.acl.out, flow.peer.hostId);
      const install = (selector?: EgressFlowSelector) =>
        port.setEgressFlow(
          destination,
          flow.state,
          flow.e2e.state,
          counters,
          flow.e2e.sendBase,
          flow.headers,
          flow.transportAt,
          flow.sendAad,
          firstHop.linkId,
          acl,
          flow.connections?.slots,
          selector,
        );
      // One of several flows to the host (FlowTable.flowTo): the packets from its endpoint's role
      // address; the default one's also every packet from an address that is no role address.
      if (version === 6 && flow.sharedPeerHost && flow.ownRoleAddress !== undefined) {
        install({ source: flow.ownRoleAddress });
        if (plane.flows.flowByHostId(flow.peer.hostId, 0) === flow) install({ cgaSources: true });
      } else {
        install();
      }
    },
    delivered(flow, bytes, offset, view) {
      if (flow.connections !== undefined) return;
      if (view.traceOffset >= 0 || view.transportOffset < 0) return;
      const counters = countersOf(flow.endpoint.statistics);
      if (counters === undefined) return;
      const made = newTemplate(ingress, flow, bytes, offset, view, false);
      if (made === undefined) return;
      const { template, ...at } = made;
      port.setIngressFlow({
        source: flow.peer.hostId,
        header: template.header,
        ...at,
        receiveBase: flow.e2e.receiveBase,
        e2eState: flow.e2e.state,
        replayState: flow.replay.state,
        replayBits: flow.replay.bits,
        statistics: counters,
        ipv4Alias: flow.ipv4Alias,
        ...(flow.peerRoleAddress !== undefined && { roleSource: flow.peerRoleAddress }),
        acl: aclRuleWords(plane.acl.in, flow.peer.hostId),
        // One of several flows from the host (FlowTable.flowFrom): by its flow label.
        ...(flow.sharedPeerHost && { byLabel: true }),
      });
    },
    deliveredGroup(membership, sender, epoch, bytes, offset, view) {
      if (view.traceOffset >= 0 || view.transportOffset < 0) return;
      const { endpoint } = membership;
      const counters = countersOf(endpoint.statistics);
      const untilMs = endpoint.groupKeys.open.find((key) => key.epoch === epoch.epoch)?.untilMs;
      if (counters === undefined || untilMs === undefined) return;
      const made = newTemplate(groupIngress, epoch, bytes, offset, view, true);
      if (made === undefined) return;
      const { template, ...at } = made;
      port.setGroupIngressFlow({
        address: membership.address,
        source: sender.hostId,
        header: template.header,
        ...at,
        epoch: epoch.epoch,
        key: epoch.key,
        untilMs,
        replayState: epoch.replay.state,
        replayBits: epoch.replay.bits,
        statistics: counters,
        acl: aclRuleWords(plane.acl.in, sender.hostId),
      });
    },
    clear() {
      installed = new WeakMap();
      ingress = new WeakMap();
      groupIngress = new WeakMap();
      port.clearEgressFlows();
      port.clearIngressFlows();
    },
  };
}
