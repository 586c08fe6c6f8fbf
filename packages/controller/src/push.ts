/**
 * Change propagation. The bus carries change events between replicas: in-process for SQLite (one
 * replica), PostgreSQL LISTEN/NOTIFY for several replicas on one database — every replica,
 * including the one that made the change, receives each event from the bus once. The hub holds
 * this replica's push channels (server-sent events) and writes each event to the nodes it names.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Metrics } from './metrics';

/** An event on the bus: what changed, and which nodes must hear of it (all when absent). */
export interface BusEvent {
  kind: 'revocation' | 'path-change' | 'refresh-configuration' | 'topology' | 'policy' | 'signing-keys';
  nodeIds?: number[];
  payload?: unknown;
  /** The replica that published it. */
  origin?: string;
}

/** Carries change events to every replica. */
export interface ChangeBus {
  publish(event: BusEvent): Promise<void>;
  subscribe(listener: (event: BusEvent) => void): () => void;
  close(): Promise<void>;
}

/** The bus of a single replica (SQLite store). */
export function createLocalBus(): ChangeBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    publish: async (event) => void emitter.emit('event', event),
    subscribe: (listener) => {
      emitter.on('event', listener);
      return () => emitter.off('event', listener);
    },
    close: async () => void emitter.removeAllListeners(),
  };
}

/** The NOTIFY channel the replicas share. */
export const notifyChannel = 'capsule_changes';

/** The bus over PostgreSQL LISTEN/NOTIFY (a dedicated connection listens; publishing uses it too). */
export async function createPostgresBus(url: string, logger: Logger): Promise<ChangeBus> {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  client.on('notification', (message) => {
    if (message.channel !== notifyChannel || !message.payload) return;
    try {
      emitter.emit('event', JSON.parse(message.payload) as BusEvent);
    } catch (error) {
      logger.warn({ err: error }, 'bad change notification');
    }
  });
  client.on('error', (error) => logger.error({ err: error }, 'change bus connection failed'));
  await client.query(`LISTEN ${notifyChannel}`);
  return {
    publish: async (event) => {
      // NOTIFY payloads are limited to 8000 bytes: events carry ids, not objects.
      await client.query('SELECT pg_notify($1, $2)', [notifyChannel, JSON.stringify(event)]);
    },
    subscribe: (listener) => {
      emitter.on('event', listener);
      return () => emitter.off('event', listener);
    },
    close: async () => {
      emitter.removeAllListeners();
      await client.end();
    },
  };
}

/** One open push channel. */
interface Channel {
  nodeId: number;
  write(text: string): void;
  end(): void;
}

/** The push channels of this replica, by node id (a delivery to some nodes looks only at theirs). */
export class PushHub {
  readonly #channels = new Set<Channel>();
  readonly #byNode = new Map<number, Set<Channel>>();

  constructor(private readonly metrics: Metrics) {}

  /** Adds a channel; returns the function that removes it. */
  add(channel: Channel): () => void {
    this.#channels.add(channel);
    let mine = this.#byNode.get(channel.nodeId);
    if (!mine) {
      mine = new Set();
      this.#byNode.set(channel.nodeId, mine);
    }
    mine.add(channel);
    this.metrics.pushConnections.set(this.#channels.size);
    return () => {
      this.#channels.delete(channel);
      const set = this.#byNode.get(channel.nodeId);
      if (set?.delete(channel) && set.size === 0) this.#byNode.delete(channel.nodeId);
      this.metrics.pushConnections.set(this.#channels.size);
    };
  }

  /** Writes `event` to the channels of the named nodes (every channel when `nodeIds` is absent). */
  deliver(event: { kind: string; nodeIds?: number[]; payload?: unknown }): number {
    const targets: Iterable<Channel>[] = event.nodeIds
      ? [...new Set(event.nodeIds)].flatMap((nodeId) => this.#byNode.get(nodeId) ?? [])
      : [this.#channels];
    let frame: string | undefined;
    let delivered = 0;
    for (const channels of targets)
      for (const channel of channels) {
        // Serialized once, and only when some channel takes it.
        frame ??= `data: ${JSON.stringify({ kind: event.kind, payload: event.payload ?? null })}\n\n`;
        channel.write(frame);
        delivered += 1;
      }
    if (delivered > 0) this.metrics.pushEvents.inc({ kind: event.kind }, delivered);
    return delivered;
  }

  /** Writes a comment line to every channel (keeps idle connections open through proxies). */
  heartbeat(): void {
    for (const channel of this.#channels) channel.write(': keep-alive\n\n');
  }

  /** Closes every channel (graceful stop). */
  closeAll(): void {
    for (const channel of this.#channels) channel.end();
    this.#channels.clear();
    this.#byNode.clear();
    this.metrics.pushConnections.set(0);
  }

  /** Number of open channels. */
  get size(): number {
    return this.#channels.size;
  }
}
