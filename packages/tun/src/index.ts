/** @capsule/tun — Linux TUN/TAP devices for the agent's data plane. */

/** Addresses, MTU, routes and link state of an interface (through iproute2). */
export { configureInterface, type InterfaceConfig } from './interface-config';
export {
  openTun,
  type PacketHandler,
  type TunDevice,
  type TunDeviceOptions,
  TunError,
  type TunMode,
} from './tun-device';
