/**
 * A node's push channel kept attached: the one owner of "reopen the push channel" for engines and
 * agents. Once `open()` was called, a channel that ends on its own (the controller closed it, was
 * killed, or its replica stopped) or cannot be opened is opened again every `retryMs` until it is
 * open or `close()` is called. Each opening goes to the southbound client's current replica and
 * moves on to the next one like any call (controller-replicas.ts), so after a controller dies the
 * channel comes back on a live replica within about `retryMs`.
 */
import type { Clock } from '@capsule/wire';
import type { PushEvent } from './schemas';

/** What the attachment is told (plain data). */
export interface PushAttachmentOptions {
  /** Delay before opening again a channel that ended or could not be opened (ms). */
  retryMs: number;
}

/** What the attachment acts on. */
export interface PushAttachmentDeps {
  /** The southbound client's `events` (it picks the replica). */
  events: (onEvent: (event: PushEvent) => void, signal: AbortSignal, onClose?: () => void) => Promise<void>;
  /** Each event of the channel. */
  onEvent: (event: PushEvent) => void;
  clock: Pick<Clock, 'setTimeout'>;
  /** Told of each change: opened (again), ended, or an opening that failed. */
  onChange?: (change: { kind: 'opened' | 'reopened' | 'ended' | 'failed'; error?: unknown }) => void;
}

/** A push channel kept attached. */
export interface PushAttachment {
  /** Opens the channel now (closing the one open); resolves once open, rejects when this attempt failed (retried). */
  open(): Promise<void>;
  /** Closes the channel and stops reopening it. */
  close(): void;
  /** True while a channel is open. */
  readonly isOpen: boolean;
  /** Channels opened again after one ended or failed. */
  readonly reopens: number;
}

/** Keeps a node's push channel attached (see the file comment). */
export function createPushAttachment(
  options: PushAttachmentOptions,
  deps: PushAttachmentDeps,
): PushAttachment {
  let abort: AbortController | undefined;
  let cancelRetry: (() => void) | undefined;
  let isOpen = false;
  let reopens = 0;
  let attached = false;

  function scheduleRetry(): void {
    cancelRetry?.();
    cancelRetry = deps.clock.setTimeout(() => {
      cancelRetry = undefined;
      if (attached) attempt(true).catch(() => {});
    }, options.retryMs);
  }

  async function attempt(isRetry: boolean): Promise<void> {
    abort?.abort();
    const current = new AbortController();
    abort = current;
    isOpen = false;
    try {
      await deps.events(deps.onEvent, current.signal, () => {
        if (abort !== current || !attached) return; // replaced or closed on purpose
        isOpen = false;
        deps.onChange?.({ kind: 'ended' });
        scheduleRetry();
      });
    } catch (error) {
      if (abort === current && attached) {
        deps.onChange?.({ kind: 'failed', error });
        scheduleRetry();
      }
      throw error;
    }
    if (abort !== current || !attached) return;
    isOpen = true;
    if (isRetry) reopens += 1;
    deps.onChange?.({ kind: isRetry ? 'reopened' : 'opened' });
  }

  return {
    open() {
      attached = true;
      cancelRetry?.();
      cancelRetry = undefined;
      return attempt(false);
    },
    close() {
      attached = false;
      cancelRetry?.();
      cancelRetry = undefined;
      abort?.abort();
      abort = undefined;
      isOpen = false;
    },
    get isOpen() {
      return isOpen;
    },
    get reopens() {
      return reopens;
    },
  };
}
