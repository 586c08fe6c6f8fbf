/**
 * The engine's counters in the Prometheus text exposition format (version 0.0.4), written by hand
 * (no registry, no dependency): per packet type, verdict, drop reason (every reason, zeros
 * included, so rates work from the first scrape), link and flow, plus the verification caches,
 * flow evictions, and the link layer's own drops and handshake rejections by reason.
 */
import {
  createPrometheusText,
  FastPathHandUp,
  type FastPathHandUpReason,
  SIGNATURES_AHEAD_COUNTS,
} from '@capsule/wire';
import { dropReasons } from './drop-reason';
import type { Engine } from './engine';
import type { ControllerSessionStatus } from './southbound';

/** Flows exported per scrape at most (label cardinality stays bounded). */
export const METRICS_FLOW_LIMIT = 1000;

/** Renders `engine`'s metrics (and its controller session's, when it has one). */
export function renderMetrics(engine: Engine, controller?: ControllerSessionStatus): string {
  const c = engine.counters();
  const { family, sample, text } = createPrometheusText();
  family('capsule_engine_packets_received_total', 'counter', 'Inner packets handed up by the link layer.');
  sample('capsule_engine_packets_received_total', c.packetsIn);
  family('capsule_engine_bytes_received_total', 'counter', 'Bytes of inner packets received.');
  sample('capsule_engine_bytes_received_total', c.bytesIn);
  family('capsule_engine_packets_sent_total', 'counter', 'Inner packets sent (one per egress link).');
  sample('capsule_engine_packets_sent_total', c.packetsOut);
  family('capsule_engine_bytes_sent_total', 'counter', 'Bytes of inner packets sent.');
  sample('capsule_engine_bytes_sent_total', c.bytesOut);
  family('capsule_engine_packets_by_type_total', 'counter', 'Valid capsule packets by packet type.');
  for (const [type, value] of Object.entries(c.packetsByType))
    sample('capsule_engine_packets_by_type_total', value, { type });
  family('capsule_engine_verdicts_total', 'counter', 'Packets by final verdict.');
  for (const [verdict, value] of Object.entries(c.verdicts))
    sample('capsule_engine_verdicts_total', value, { verdict });
  family('capsule_engine_drops_total', 'counter', 'Dropped packets by reason.');
  for (const [, reason] of dropReasons())
    sample('capsule_engine_drops_total', c.drops[reason] ?? 0, { reason });
  family(
    'capsule_engine_program_drops_total',
    'counter',
    'PROGRAM_DROP verdicts by the program\'s own reason code (the first 64 codes; then code="other").',
  );
  for (const [code, value] of Object.entries(c.programDrops))
    sample('capsule_engine_program_drops_total', value, { code });
  family(
    'capsule_engine_events_total',
    'counter',
    'Flow events, by outcome: published, suppressed (rate limit), lost (slow observer).',
  );
  sample('capsule_engine_events_total', c.events.published, { outcome: 'published' });
  sample('capsule_engine_events_total', c.events.suppressed, { outcome: 'suppressed' });
  sample('capsule_engine_events_total', c.events.lost, { outcome: 'lost' });
  family('capsule_engine_event_observers', 'gauge', 'Clients streaming flow events now.');
  sample('capsule_engine_event_observers', c.events.subscribers);
  const simple: [string, 'counter' | 'gauge', string, number][] = [
    ['capsule_engine_program_runs_total', 'counter', 'Sandbox executions.', c.programRuns],
    [
      'capsule_engine_cached_actions_total',
      'counter',
      'Type III packets served from a cached action.',
      c.cachedActions,
    ],
    [
      'capsule_engine_fuel_used_total',
      'counter',
      'Instructions (and service fuel) used by programs.',
      c.fuelUsed,
    ],
    [
      'capsule_engine_authorizations_verified_total',
      'counter',
      'Flow authorization signatures verified.',
      c.authorizationsVerified,
    ],
    [
      'capsule_engine_authorization_cache_hits_total',
      'counter',
      'Type I packets whose authorization was already verified.',
      c.authorizationCacheHits,
    ],
    [
      'capsule_engine_programs_verified_total',
      'counter',
      'Programs run through the static verifier.',
      c.programsVerified,
    ],
    [
      'capsule_engine_programs_rejected_total',
      'counter',
      'Programs the static verifier rejected.',
      c.programsRejected,
    ],
    ['capsule_engine_emits_total', 'counter', 'EMIT service calls.', c.emits],
    ['capsule_engine_trace_records_total', 'counter', 'TRACE records appended.', c.traceRecords],
    ['capsule_engine_revocations_total', 'counter', 'Serials revoked by the controller.', c.revocations],
    [
      'capsule_engine_revocations_pruned_total',
      'counter',
      'Revoked serials forgotten after their authorization expired.',
      c.revocationsPruned,
    ],
    ['capsule_engine_revoked_serials', 'gauge', 'Revoked serials held.', c.revokedSerials],
    ['capsule_engine_flows_created_total', 'counter', 'Flows created.', c.flowsCreated],
    ['capsule_engine_flows_expired_total', 'counter', 'Flows removed after idling.', c.flowsExpired],
    ['capsule_engine_live_flows', 'gauge', 'Flows in the flow table.', c.liveFlows],
    [
      'capsule_engine_handshakes_verified_total',
      'counter',
      'Link handshake messages that reached the public-key checks (CGA, RSA, certificate).',
      c.linkLayer.handshakesVerified,
    ],
    [
      'capsule_engine_cookie_replies_sent_total',
      'counter',
      'Link handshake cookie replies sent (under load, or a source over its rate).',
      c.linkLayer.cookieRepliesSent,
    ],
    [
      'capsule_engine_cookies_accepted_total',
      'counter',
      'Cookies received from peers under load and opened.',
      c.linkLayer.cookiesAccepted,
    ],
    [
      'capsule_engine_certificate_renewals_total',
      'counter',
      'Node certificates renewed while running (swapped into the live link layer).',
      c.linkLayer.certificateSwaps,
    ],
  ];
  for (const [name, type, help, value] of simple) {
    family(name, type, help);
    sample(name, value);
  }
  family('capsule_engine_flows_evicted_total', 'counter', 'Flows evicted to admit another, by cause.');
  for (const [cause, value] of Object.entries(c.flowsEvicted))
    sample('capsule_engine_flows_evicted_total', value, { cause });
  family(
    'capsule_engine_link_layer_drops_total',
    'counter',
    'Frames the link layer refused before the pipeline (and sends it refused), by reason.',
  );
  for (const [reason, value] of Object.entries(c.linkLayer.drops))
    sample('capsule_engine_link_layer_drops_total', value, { reason });
  family(
    'capsule_engine_handshake_rejections_total',
    'counter',
    'Link handshake and cookie frames refused, by reason (they sum to the handshakeRejected drops).',
  );
  for (const [reason, value] of Object.entries(c.linkLayer.handshakeRejections))
    sample('capsule_engine_handshake_rejections_total', value, { reason });
  const links = engine.links();
  family('capsule_engine_link_packets_total', 'counter', 'Packets per link and direction.');
  for (const link of links) {
    const labels = { link: link.id, peer: link.peerName || link.peer, kind: link.kind };
    sample('capsule_engine_link_packets_total', link.packetsIn, { ...labels, direction: 'in' });
    sample('capsule_engine_link_packets_total', link.packetsOut, { ...labels, direction: 'out' });
  }
  family('capsule_engine_link_bytes_total', 'counter', 'Bytes per link and direction.');
  for (const link of links) {
    const labels = { link: link.id, peer: link.peerName || link.peer, kind: link.kind };
    sample('capsule_engine_link_bytes_total', link.bytesIn, { ...labels, direction: 'in' });
    sample('capsule_engine_link_bytes_total', link.bytesOut, { ...labels, direction: 'out' });
  }
  family('capsule_engine_link_drops_total', 'counter', 'Packets dropped per ingress link.');
  for (const link of links)
    sample('capsule_engine_link_drops_total', link.drops, {
      link: link.id,
      peer: link.peerName || link.peer,
      kind: link.kind,
    });
  family('capsule_engine_link_up', 'gauge', '1 when the link is up.');
  for (const link of links)
    sample('capsule_engine_link_up', link.up ? 1 : 0, {
      link: link.id,
      peer: link.peerName || link.peer,
      kind: link.kind,
    });
  if (controller) {
    family('capsule_engine_controller_connected', 'gauge', '1 while the controller answers keep-alives.');
    sample('capsule_engine_controller_connected', controller.connected ? 1 : 0);
    family(
      'capsule_engine_controller_failovers_total',
      'counter',
      'Moves to the next controller replica after the current one failed (no answer, timeout, 5xx, garbage).',
    );
    sample('capsule_engine_controller_failovers_total', controller.failovers);
    family('capsule_engine_keepalives_total', 'counter', 'Keep-alives sent to the controller, by outcome.');
    sample('capsule_engine_keepalives_total', controller.keepalivesSent, { outcome: 'sent' });
    sample('capsule_engine_keepalives_total', controller.keepaliveFailures, { outcome: 'failed' });
  }
  const fast = engine.fastPathStats();
  family('capsule_engine_fast_path_enabled', 'gauge', '1 when the native fast path runs.');
  sample('capsule_engine_fast_path_enabled', fast ? 1 : 0);
  family(
    'capsule_engine_fast_path_datagrams_total',
    'counter',
    "Datagrams the socket offered the fast path, those of them that were DATA frames with a packet (offered_packet: not the link layer's handshakes, cookies and keep-alives), those it took (never woke JavaScript), and those it handed up only to keep their flow in order behind an earlier one.",
  );
  sample('capsule_engine_fast_path_datagrams_total', fast?.offered ?? 0, { outcome: 'offered' });
  sample('capsule_engine_fast_path_datagrams_total', fast?.packetsOffered ?? 0, {
    outcome: 'offered_packet',
  });
  sample('capsule_engine_fast_path_datagrams_total', fast?.taken ?? 0, { outcome: 'taken' });
  sample('capsule_engine_fast_path_datagrams_total', fast?.held ?? 0, { outcome: 'held' });
  family(
    'capsule_engine_fast_path_handed_up_total',
    'counter',
    'Datagrams the fast path handed up to JavaScript (offered minus taken), by why: the first check each failed (docs/engine.md, "Fast path").',
  );
  for (const reason of Object.keys(FastPathHandUp) as FastPathHandUpReason[])
    sample('capsule_engine_fast_path_handed_up_total', fast?.handedUp[reason] ?? 0, { reason });
  family('capsule_engine_fast_path_frames_sent_total', 'counter', 'Frames the fast path sent.');
  sample('capsule_engine_fast_path_frames_sent_total', fast?.sent ?? 0);
  family('capsule_engine_fast_path_send_errors_total', 'counter', 'Fast path frames the kernel refused.');
  sample('capsule_engine_fast_path_send_errors_total', fast?.sendErrors ?? 0);
  family('capsule_engine_fast_path_flows', 'gauge', 'Flows registered with the fast path now.');
  sample('capsule_engine_fast_path_flows', fast?.flows ?? 0);
  family(
    'capsule_engine_type_i_signatures_total',
    'counter',
    "Type I signatures the fast path's thread was given to verify ahead (queued), how the engine got each result (ahead: the thread's; waited: for the thread; here: verified itself), and those not used or not queued (unused, full, repeated; direct: not queued, verified natively when asked).",
  );
  const signatures = fast?.signatures;
  for (const outcome of SIGNATURES_AHEAD_COUNTS)
    sample('capsule_engine_type_i_signatures_total', signatures?.[outcome] ?? 0, { outcome });
  const flows = engine.flows().slice(0, METRICS_FLOW_LIMIT);
  family(
    'capsule_engine_flow_packets_total',
    'counter',
    `Packets per live flow (first ${METRICS_FLOW_LIMIT}).`,
  );
  for (const flow of flows)
    sample('capsule_engine_flow_packets_total', flow.packets, {
      src: flow.source,
      dst: flow.destination,
      label: flow.flowLabel,
    });
  family('capsule_engine_flow_drops_total', 'counter', `Drops per live flow (first ${METRICS_FLOW_LIMIT}).`);
  for (const flow of flows)
    sample('capsule_engine_flow_drops_total', flow.drops, {
      src: flow.source,
      dst: flow.destination,
      label: flow.flowLabel,
    });
  return text();
}
