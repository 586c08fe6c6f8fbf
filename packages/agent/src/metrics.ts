/**
 * The agent's counters in the Prometheus text exposition format (`GET /metrics` on the REST API),
 * written by hand like the engine's: per endpoint (packets, bytes, drops by direction), the data
 * plane's drops by reason (every reason, zeros included), packets sent by type, the link layer's
 * drops and links, the underlay transport, the resolver, the controller session and flow events.
 */
import type { LinkDropCounters, LinkInfo, TransportStats } from '@capsule/overlay';
import {
  AgentFastPathHandUp,
  type AgentFastPathHandUpReason,
  type AgentFastPathStats,
  createPrometheusText,
  formatIpv6,
} from '@capsule/wire';
import type { DataPlane } from './data-plane';
import type { FlowTable } from './flows';
import type { ResolverStatistics } from './resolver';

/** What the agent's metrics are read from (parts absent before start are undefined). */
export interface AgentMetricsSources {
  plane: DataPlane | undefined;
  flows: FlowTable | undefined;
  links: { links(): readonly LinkInfo[]; readonly drops: LinkDropCounters } | undefined;
  underlay: TransportStats;
  resolver: ResolverStatistics | undefined;
  controller: {
    connected: boolean;
    keepalivesSent: number;
    keepaliveFailures: number;
    registrations: number;
    certificateRenewals: number;
    /** Moves to another controller replica after the current one failed. */
    failovers: number;
  };
  events: { published: number; suppressed: number; lost: number; subscribers: number };
  /** The native fast path's figures (null when it is off). */
  fastPath: AgentFastPathStats | null;
}

export function renderAgentMetrics(s: AgentMetricsSources): string {
  const { family, sample, text } = createPrometheusText();
  const endpoints = [...(s.flows?.endpoints.values() ?? [])];
  const perEndpoint: [string, string, 'packetsOut' | 'packetsIn' | 'bytesOut' | 'bytesIn', 'out' | 'in'][] = [
    [
      'capsule_agent_endpoint_packets_total',
      'Packets per local endpoint and direction.',
      'packetsOut',
      'out',
    ],
    ['capsule_agent_endpoint_packets_total', '', 'packetsIn', 'in'],
    [
      'capsule_agent_endpoint_bytes_total',
      'Application bytes per local endpoint and direction.',
      'bytesOut',
      'out',
    ],
    ['capsule_agent_endpoint_bytes_total', '', 'bytesIn', 'in'],
  ];
  for (const [name, help, key, direction] of perEndpoint) {
    if (help) family(name, 'counter', help);
    for (const endpoint of endpoints)
      sample(name, endpoint.statistics[key], { endpoint: endpoint.dnsName, direction });
  }
  family(
    'capsule_agent_endpoint_drops_total',
    'counter',
    'Packets dropped per local endpoint and direction.',
  );
  for (const endpoint of endpoints) {
    sample('capsule_agent_endpoint_drops_total', endpoint.statistics.dropsOut, {
      endpoint: endpoint.dnsName,
      direction: 'out',
    });
    sample('capsule_agent_endpoint_drops_total', endpoint.statistics.dropsIn, {
      endpoint: endpoint.dnsName,
      direction: 'in',
    });
  }
  family('capsule_agent_endpoints', 'gauge', 'Local endpoints registered.');
  sample('capsule_agent_endpoints', endpoints.length);
  family('capsule_agent_drops_total', 'counter', 'Packets the data plane dropped, by reason.');
  if (s.plane)
    for (const [reason, value] of Object.entries(s.plane.drops))
      sample('capsule_agent_drops_total', value, { reason });
  family('capsule_agent_packets_sent_by_type_total', 'counter', 'Capsule packets sent, by packet type.');
  if (s.plane)
    for (const [type, index] of [
      ['I', 1],
      ['II', 2],
      ['III', 3],
    ] as const)
      sample('capsule_agent_packets_sent_by_type_total', s.plane.sentByType[index]!, { type });
  family(
    'capsule_agent_e2e_rekeys_total',
    'counter',
    'E2e key epochs of unicast flows: moved to as a sender (by time, volume or request), followed as a receiver.',
  );
  sample('capsule_agent_e2e_rekeys_total', s.plane?.e2eRekeys.sent ?? 0, { direction: 'send' });
  sample('capsule_agent_e2e_rekeys_total', s.plane?.e2eRekeys.received ?? 0, { direction: 'receive' });
  family(
    'capsule_agent_authorization_only_packets_total',
    'counter',
    'Type I packets sent without payload (the payload did not fit beside AUTH).',
  );
  sample('capsule_agent_authorization_only_packets_total', s.plane?.authOnlyPackets ?? 0);
  family(
    'capsule_agent_link_layer_drops_total',
    'counter',
    'Frames the link layer refused (and sends it refused), by reason.',
  );
  if (s.links)
    for (const [reason, value] of Object.entries(s.links.drops))
      sample('capsule_agent_link_layer_drops_total', value, { reason });
  const links = s.links?.links() ?? [];
  family('capsule_agent_link_up', 'gauge', '1 when the link to the engine is up.');
  for (const link of links)
    sample('capsule_agent_link_up', link.state === 'up' ? 1 : 0, {
      peer: link.peerName || formatIpv6(link.peerHostId),
    });
  family('capsule_agent_link_packets_total', 'counter', 'Packets per link to an engine and direction.');
  for (const link of links) {
    const peer = link.peerName || formatIpv6(link.peerHostId);
    sample('capsule_agent_link_packets_total', link.packetsIn, { peer, direction: 'in' });
    sample('capsule_agent_link_packets_total', link.packetsOut, { peer, direction: 'out' });
  }
  const underlay: [string, string, number][] = [
    ['capsule_agent_underlay_datagrams_sent_total', 'Underlay datagrams sent.', s.underlay.datagramsSent],
    [
      'capsule_agent_underlay_datagrams_received_total',
      'Underlay datagrams received.',
      s.underlay.datagramsReceived,
    ],
    ['capsule_agent_underlay_bytes_sent_total', 'Underlay bytes sent.', s.underlay.bytesSent],
    ['capsule_agent_underlay_bytes_received_total', 'Underlay bytes received.', s.underlay.bytesReceived],
    ['capsule_agent_underlay_send_errors_total', 'Underlay sends the kernel refused.', s.underlay.sendErrors],
    [
      'capsule_agent_underlay_receive_drops_total',
      'Underlay datagrams longer than the receive slot.',
      s.underlay.receiveDrops,
    ],
  ];
  for (const [name, help, value] of underlay) {
    family(name, 'counter', help);
    sample(name, value);
  }
  const fast = s.fastPath;
  family('capsule_agent_fast_path_enabled', 'gauge', '1 when the native fast path runs.');
  sample('capsule_agent_fast_path_enabled', fast ? 1 : 0);
  family(
    'capsule_agent_fast_path_packets_total',
    'counter',
    "Packets offered to the fast path (out, from the TUN device; in, frames from the socket), those of them that carry a packet (offered_packet: out, all; in, the DATA frames that are not the link layer's handshakes, cookies and keep-alives), taken by it (never woke JavaScript), and handed up only to keep their flow in order behind an earlier one.",
  );
  for (const [direction, offered, offeredPacket, taken, held] of [
    ['out', fast?.offered, fast?.offered, fast?.taken, fast?.held],
    ['in', fast?.ingressOffered, fast?.ingressPacketsOffered, fast?.ingressTaken, fast?.ingressHeld],
  ] as const) {
    sample('capsule_agent_fast_path_packets_total', offered ?? 0, { direction, outcome: 'offered' });
    sample('capsule_agent_fast_path_packets_total', offeredPacket ?? 0, {
      direction,
      outcome: 'offered_packet',
    });
    sample('capsule_agent_fast_path_packets_total', taken ?? 0, { direction, outcome: 'taken' });
    sample('capsule_agent_fast_path_packets_total', held ?? 0, { direction, outcome: 'held' });
  }
  family(
    'capsule_agent_fast_path_handed_up_total',
    'counter',
    'Packets the fast path handed up to JavaScript (offered minus taken), by direction and why: the first check each failed (docs/agent.md, "Fast path").',
  );
  for (const direction of ['out', 'in'] as const)
    for (const reason of Object.keys(AgentFastPathHandUp) as AgentFastPathHandUpReason[])
      sample('capsule_agent_fast_path_handed_up_total', fast?.handedUp[direction][reason] ?? 0, {
        direction,
        reason,
      });
  family('capsule_agent_fast_path_flows', 'gauge', 'Flows installed in the fast path now, by direction.');
  sample('capsule_agent_fast_path_flows', fast?.egressFlows ?? 0, { direction: 'out' });
  sample('capsule_agent_fast_path_flows', fast?.ingressFlows ?? 0, { direction: 'in' });
  family(
    'capsule_agent_fast_path_tun_write_errors_total',
    'counter',
    'Packets the fast path opened and the TUN device refused.',
  );
  sample('capsule_agent_fast_path_tun_write_errors_total', fast?.tunWriteErrors ?? 0);
  family('capsule_agent_resolver_queries_total', 'counter', 'Queries the resolver received.');
  sample('capsule_agent_resolver_queries_total', s.resolver?.queries ?? 0);
  family(
    'capsule_agent_resolver_outcomes_total',
    'counter',
    'What the resolver did with queries and upstream answers, by outcome.',
  );
  if (s.resolver)
    for (const [outcome, value] of Object.entries(s.resolver))
      if (outcome !== 'queries') sample('capsule_agent_resolver_outcomes_total', value, { outcome });
  family('capsule_agent_controller_connected', 'gauge', '1 while the controller answers keep-alives.');
  sample('capsule_agent_controller_connected', s.controller.connected ? 1 : 0);
  family('capsule_agent_keepalives_total', 'counter', 'Keep-alives sent to the controller, by outcome.');
  sample('capsule_agent_keepalives_total', s.controller.keepalivesSent, { outcome: 'sent' });
  sample('capsule_agent_keepalives_total', s.controller.keepaliveFailures, { outcome: 'failed' });
  family(
    'capsule_agent_controller_failovers_total',
    'counter',
    'Moves to the next controller replica after the current one failed (no answer, timeout, 5xx, garbage).',
  );
  sample('capsule_agent_controller_failovers_total', s.controller.failovers);
  family('capsule_agent_registrations_total', 'counter', 'Host registrations with the controller.');
  sample('capsule_agent_registrations_total', s.controller.registrations);
  family(
    'capsule_agent_certificate_renewals_total',
    'counter',
    'Node certificates renewed while running (swapped into the live link layer).',
  );
  sample('capsule_agent_certificate_renewals_total', s.controller.certificateRenewals);
  family(
    'capsule_agent_events_total',
    'counter',
    'Flow events, by outcome: published, suppressed (rate limit), lost (slow observer).',
  );
  sample('capsule_agent_events_total', s.events.published, { outcome: 'published' });
  sample('capsule_agent_events_total', s.events.suppressed, { outcome: 'suppressed' });
  sample('capsule_agent_events_total', s.events.lost, { outcome: 'lost' });
  family('capsule_agent_event_observers', 'gauge', 'Clients streaming flow events now.');
  sample('capsule_agent_event_observers', s.events.subscribers);
  return text();
}
