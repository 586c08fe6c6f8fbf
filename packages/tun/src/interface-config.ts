import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CapsuleError } from '@capsule/wire';

const run = promisify(execFile);

export interface InterfaceConfig {
  name: string;
  /** Addresses with prefix length, IPv4 or IPv6 (`fd00::1/64`, `10.77.0.1/24`). */
  addresses?: readonly string[];
  mtu?: number;
  /**
   * The interface's txqueuelen: for a TUN, packets the kernel holds for the reading process before
   * it drops (the kernel's default is 500).
   */
  txQueueLength?: number;
  /** Routes through this interface (`10.77.0.0/16`, `fd00:77::/32`). */
  routes?: readonly string[];
}

/**
 * Sets addresses, MTU and routes on an interface and brings it up, with iproute2's `ip` (simpler
 * and easier to audit than netlink from Node). IPv6 addresses are added with `nodad`: the CGA is
 * already unique by construction, and duplicate detection would delay the first packet.
 */
export async function configureInterface(config: InterfaceConfig): Promise<void> {
  const ip = async (args: string[]) => {
    try {
      await run('ip', args);
    } catch (cause) {
      const failure = cause as { stderr?: string; message: string };
      throw new CapsuleError(
        'INTERFACE_CONFIG_FAILED',
        `ip ${args.join(' ')}: ${(failure.stderr ?? failure.message).trim()}`,
      );
    }
  };
  if (config.mtu !== undefined) await ip(['link', 'set', 'dev', config.name, 'mtu', String(config.mtu)]);
  if (config.txQueueLength !== undefined)
    await ip(['link', 'set', 'dev', config.name, 'txqueuelen', String(config.txQueueLength)]);
  for (const address of config.addresses ?? []) {
    const isV6 = address.includes(':');
    await ip([isV6 ? '-6' : '-4', 'addr', 'add', address, 'dev', config.name, ...(isV6 ? ['nodad'] : [])]);
  }
  await ip(['link', 'set', 'dev', config.name, 'up']);
  for (const route of config.routes ?? []) {
    await ip([route.includes(':') ? '-6' : '-4', 'route', 'replace', route, 'dev', config.name]);
  }
}
