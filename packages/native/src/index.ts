/**
 * @capsule/native — the repository's one native addon (N-API), for the data planes of agents and
 * engines: TUN/TAP devices (with TUN offloads: TSO split, GRO-style coalescing), batched UDP
 * sockets (recvmmsg/sendmmsg, GSO/GRO), AES-256-GCM contexts (identity's PayloadCipher port) and
 * the VM's native tier.
 */

/** The engine's fast path: established flows forwarded in the UDP socket's poll callback. */
export {
  createNativeFastPath,
  FAST_PATH_ENGINE_SLOTS,
  FAST_PATH_MAX_LINKS,
  FastPathSlot,
  type NativeFastPath,
} from './fast-path';
/** Addresses, MTU, routes and link state of an interface (through iproute2); addresses removed again. */
export { configureInterface, type InterfaceConfig, removeInterfaceAddresses } from './interface-config';
/** Identity's PayloadCipher port over AES-256-GCM contexts reused per key; whether the addon loads here. */
export { createNativePayloadCipher, isNativeAddonAvailable } from './payload-cipher';
export {
  openTun,
  type PacketHandler,
  type TunDevice,
  type TunDeviceOptions,
  TunError,
  type TunMode,
  type TunOffloads,
} from './tun-device';
/** A UDP socket read with recvmmsg and written with sendmmsg through preallocated buffers (Linux). */
export {
  type NativeUdpSocket,
  type NativeUdpSocketOptions,
  openNativeUdpSocket,
  UDP_META_AUTHENTICATED,
  UDP_META_INTS,
  type UdpOffloads,
} from './udp-socket';
/** @capsule/vm's native tier: the RV32IMAC interpreter in C++ over a machine state. */
export { createNativeVmTier } from './vm-tier';
