/**
 * A node's link reports (`POST /sb/v1/links`), one at a time per peer. The controller stores the
 * status of the report it processes last, and two requests in flight may be processed in either
 * order: a link that came up and went down at once (an attachment a host closes as soon as its
 * link set arrives) could be left up at the controller by an `up` overtaken by the `down` that
 * followed it. So a report for a peer waits until the one in flight for that peer is answered;
 * of the reports that waited meanwhile only the latest is sent (it says the link's state now).
 */
import type { SbLinkRequest } from './schemas';

export interface LinkReports {
  /** Sends `request` once no report for its peer is in flight (replacing one that waits). */
  report(request: SbLinkRequest): void;
  /** Reports in flight or waiting, over every peer. */
  pending(): number;
}

/**
 * Link reports through `send`, which makes the request and handles its failure (a rejection is
 * taken as answered, and the next report goes).
 */
export function createLinkReports(send: (request: SbLinkRequest) => Promise<unknown>): LinkReports {
  /** Per peer with a report in flight: the report waiting behind it, if any. */
  const inFlight = new Map<string, SbLinkRequest | undefined>();

  function start(request: SbLinkRequest): void {
    const peer = request.peerHostId;
    inFlight.set(peer, undefined);
    let sent: Promise<unknown>;
    try {
      sent = send(request);
    } catch (error) {
      sent = Promise.reject(error);
    }
    void sent
      .catch(() => {})
      .then(() => {
        const next = inFlight.get(peer);
        inFlight.delete(peer);
        if (next !== undefined) start(next);
      });
  }

  return {
    report(request) {
      if (inFlight.has(request.peerHostId)) inFlight.set(request.peerHostId, request);
      else start(request);
    },
    pending() {
      let count = 0;
      for (const waiting of inFlight.values()) count += waiting === undefined ? 1 : 2;
      return count;
    },
  };
}
