/**
 * The node side of the controller's link sets (docs/controller.md, "Engine links"): each set names
 * every link the node must have; the follower dials the peers it is told to dial (the link layer
 * keeps them, retrying) and disconnects the peers of its previous set that the new one no longer
 * names. Links it was never told about (a peer that dialed us) are left alone. Engines and agents both follow sets, so it lives here, beside the link layer.
 */
import type { LinkLayer } from './link-layer';
import { formatUnderlayAddress, type UnderlayAddress } from './transport';

/** One link of a set, read by the caller from a `link-set` command. */
export interface WantedLink {
  /** The peer's host id (16 bytes). */
  readonly peerHostId: Uint8Array;
  readonly underlay: UnderlayAddress;
  /** True: this end starts the handshake; false: it waits for the peer's. */
  readonly dial: boolean;
}

/** What one set changed. */
export interface LinkSetChange {
  /** Peers newly dialed (or dialed at a new address). */
  dialed: number;
  /** Peers of the previous set disconnected. */
  closed: number;
}

export interface LinkSetFollower {
  /** Follows a new set (the whole set: it replaces the previous one). */
  apply(links: readonly WantedLink[]): LinkSetChange;
  /** Peers of the current set. */
  readonly size: number;
}

export interface LinkSetFollowerDeps {
  linkLayer: Pick<LinkLayer, 'connect' | 'disconnect'>;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

export function createLinkSetFollower(deps: LinkSetFollowerDeps): LinkSetFollower {
  const { linkLayer } = deps;
  /** The current set: peer host id (hex) → where and whether we dial. */
  let current = new Map<string, { hostId: Uint8Array; address: string; dial: boolean }>();
  return {
    apply(links) {
      const next = new Map<string, { hostId: Uint8Array; address: string; dial: boolean }>();
      const change: LinkSetChange = { dialed: 0, closed: 0 };
      for (const link of links) {
        const key = hex(link.peerHostId);
        const address = formatUnderlayAddress(link.underlay);
        const before = current.get(key);
        // Moved (the peer registered again elsewhere) or no longer ours to dial: forget the old.
        if (before && (before.address !== address || (before.dial && !link.dial)))
          linkLayer.disconnect(before.hostId);
        if (link.dial && (!before || before.address !== address || !before.dial)) {
          linkLayer.connect(link.underlay, link.peerHostId);
          change.dialed += 1;
        }
        next.set(key, { hostId: link.peerHostId.slice(), address, dial: link.dial });
      }
      for (const [key, before] of current)
        if (!next.has(key)) {
          linkLayer.disconnect(before.hostId);
          change.closed += 1;
        }
      current = next;
      return change;
    },
    get size() {
      return current.size;
    },
  };
}

/** `host:port` (IPv4, a name, or `[IPv6]`; port 1…65535) as an underlay address, or undefined. */
export function parseUnderlayAddress(text: string): UnderlayAddress | undefined {
  const match = /^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253}):([0-9]{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || !(port >= 1 && port <= 65535)) return undefined;
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}
