import { createNativeUdpTransport } from './native-udp-transport';
import type { Transport } from './transport';
import { createUdpTransport, type UdpTransportOptions } from './udp-transport';

/** Which UDP transport carries the overlay: `native` (batched recvmmsg/sendmmsg, Linux) or `udp` (node:dgram). */
export type UdpTransportKind = 'native' | 'udp';

/** The default: `native` on Linux (where the addon is built), `udp` elsewhere. */
export function defaultUdpTransportKind(): UdpTransportKind {
  return process.platform === 'linux' ? 'native' : 'udp';
}

/** Opens the UDP transport of the given kind. */
export function createUdpTransportOfKind(
  kind: UdpTransportKind,
  options: UdpTransportOptions,
): Promise<Transport> {
  return kind === 'native' ? createNativeUdpTransport(options) : createUdpTransport(options);
}
