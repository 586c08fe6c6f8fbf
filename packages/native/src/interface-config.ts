import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TunError } from './tun-error';

const run = promisify(execFile);

export interface InterfaceConfig {
  name: string;
  /** Addresses with prefix length, IPv4 or IPv6 (`fd00::1/64`, `10.77.0.1/24`). */
  addresses?: readonly string[];
  /**
   * IPv6 addresses (with prefix length) added deprecated (`preferred_lft 0`): the kernel accepts
   * packets to them and answers from them (a socket bound to one, a connection made to one), but
   * never picks them as the source of new traffic.
   */
  deprecatedAddresses?: readonly string[];
  mtu?: number;
  /**
   * The interface's txqueuelen: for a TUN, packets the kernel holds for the reading process before
   * it drops (the kernel's default is 500).
   */
  txQueueLength?: number;
  /** Routes through this interface (`10.77.0.0/16`, `fd00:77::/32`). */
  routes?: readonly string[];
}

/** Runs iproute2's `ip`; a failure throws INTERFACE_CONFIG_FAILED with its stderr. */
async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (cause) {
    const failure = cause as { stderr?: string; message: string };
    throw new TunError(
      'INTERFACE_CONFIG_FAILED',
      `ip ${args.join(' ')}: ${(failure.stderr ?? failure.message).trim()}`,
    );
  }
}

/** Removes addresses (with prefix length, as configured) from an interface. */
export async function removeInterfaceAddresses(name: string, addresses: readonly string[]): Promise<void> {
  for (const address of addresses)
    await ip([address.includes(':') ? '-6' : '-4', 'addr', 'del', address, 'dev', name]);
}

/**
 * Sets addresses, MTU and routes on an interface and brings it up, with iproute2's `ip` (simpler
 * and easier to audit than netlink from Node). IPv6 addresses are added with `nodad`: the CGA is
 * already unique by construction, and duplicate detection would delay the first packet.
 */
export async function configureInterface(config: InterfaceConfig): Promise<void> {
  if (config.mtu !== undefined) await ip(['link', 'set', 'dev', config.name, 'mtu', String(config.mtu)]);
  if (config.txQueueLength !== undefined)
    await ip(['link', 'set', 'dev', config.name, 'txqueuelen', String(config.txQueueLength)]);
  for (const address of config.addresses ?? []) {
    const isV6 = address.includes(':');
    await ip([isV6 ? '-6' : '-4', 'addr', 'add', address, 'dev', config.name, ...(isV6 ? ['nodad'] : [])]);
  }
  for (const address of config.deprecatedAddresses ?? [])
    await ip(['-6', 'addr', 'add', address, 'dev', config.name, 'nodad', 'preferred_lft', '0']);
  await ip(['link', 'set', 'dev', config.name, 'up']);
  for (const route of config.routes ?? []) {
    await ip([route.includes(':') ? '-6' : '-4', 'route', 'replace', route, 'dev', config.name]);
  }
}
