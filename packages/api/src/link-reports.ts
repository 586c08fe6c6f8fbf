/**
 * A node's link reports (`POST /sb/v1/links`), one at a time per peer. The controller stores the
 * status of the report it processes last, and two requests in flight may be processed in either
 * order: a link that came up and went down at once (an attachment a host closes as soon as its
 * link set arrives) could be left up at the controller by an `up` overtaken by the `down` that
 * followed it. So a report for a peer waits until the one in flight for that peer is answered;
 * of the reports that waited meanwhile only the latest is sent (it says the link's state now).
 *
 * A report that failed is tried again, the wait doubling from `retryMs` to `retryMaxMs`, until it
 * is answered or a newer report of that peer takes its place: a lost `down` would leave the link
 * up at the controller, and its paths through a dead link, until the link changed again. Not
 * retried: a refusal of what the report says (`finalRefusals`: the link was deleted, policy
 * refuses it, the request is malformed) — that answer would not change.
 */
import type { SbLinkRequest } from './schemas';

/** The error codes that answer a report for good: it is not sent again. */
export const finalRefusals: ReadonlySet<string> = new Set([
  'NOT_FOUND',
  'LINK_REFUSED',
  'DOMAIN_NOT_PEERED',
  'VALIDATION_FAILED',
  'MALFORMED_BODY',
  'FORBIDDEN',
]);

export interface LinkReportsOptions {
  /** The first wait before a failed report goes again (doubled each time); default 1,000 ms. */
  retryMs?: number;
  /** The longest wait between tries; default 30,000 ms. */
  retryMaxMs?: number;
  /** Schedules a retry; returns its cancel (the node's clock). */
  setTimeout(callback: () => void, ms: number): () => void;
  /** Told of each failure: `retryInMs` when the report goes again, undefined when it is final. */
  onFailure?(request: SbLinkRequest, error: unknown, retryInMs: number | undefined): void;
}

export interface LinkReports {
  /** Sends `request` once no report for its peer is in flight (replacing one that waits). */
  report(request: SbLinkRequest): void;
  /** Reports in flight, waiting or waiting to be tried again, over every peer. */
  pending(): number;
  /** Reports sent again after a failure, so far. */
  readonly retries: number;
  /** Cancels the retries waiting, and retries none until the next `report` (the node stops). */
  close(): void;
}

/** Whether `error` (a failed send) is an answer that trying again would not change. */
const isFinal = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && finalRefusals.has(code);
};

/** Link reports through `send`, which makes the request (rejecting when it fails). */
export function createLinkReports(
  send: (request: SbLinkRequest) => Promise<unknown>,
  options: LinkReportsOptions,
): LinkReports {
  const retryMs = options.retryMs ?? 1000;
  const retryMaxMs = options.retryMaxMs ?? 30_000;
  /** Per peer with a report in flight or waiting to be tried again: the report waiting behind it. */
  const inFlight = new Map<string, SbLinkRequest | undefined>();
  /** The retries waiting, by peer. */
  const timers = new Map<string, () => void>();
  let retries = 0;
  let closed = false;

  function start(request: SbLinkRequest, failures = 0): void {
    const peer = request.peerHostId;
    inFlight.set(peer, undefined);
    let sent: Promise<unknown>;
    try {
      sent = send(request);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      () => next(peer),
      (error: unknown) => {
        const newer = inFlight.get(peer);
        if (closed || isFinal(error) || newer !== undefined) {
          // A newer report says the link's state now: it goes instead of this one.
          options.onFailure?.(request, error, undefined);
          next(peer);
          return;
        }
        const waitMs = Math.min(retryMaxMs, retryMs * 2 ** Math.min(failures, 30));
        options.onFailure?.(request, error, waitMs);
        timers.set(
          peer,
          options.setTimeout(() => {
            timers.delete(peer);
            if (closed) return;
            retries += 1;
            // A report that came meanwhile says the state now; else this one again.
            const waiting = inFlight.get(peer);
            if (waiting !== undefined) start(waiting);
            else start(request, failures + 1);
          }, waitMs),
        );
      },
    );
  }

  function next(peer: string): void {
    const waiting = inFlight.get(peer);
    inFlight.delete(peer);
    if (waiting !== undefined) start(waiting);
  }

  return {
    report(request) {
      closed = false;
      if (inFlight.has(request.peerHostId)) inFlight.set(request.peerHostId, request);
      else start(request);
    },
    pending() {
      let count = 0;
      for (const waiting of inFlight.values()) count += waiting === undefined ? 1 : 2;
      return count;
    },
    get retries() {
      return retries;
    },
    close() {
      closed = true;
      for (const [peer, cancel] of timers) {
        cancel();
        inFlight.delete(peer);
      }
      timers.clear();
    },
  };
}
