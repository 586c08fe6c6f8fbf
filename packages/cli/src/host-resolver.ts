/**
 * The agent as the host's resolver for `.capsule` (`resolver.install` in agent.yaml), so that
 * `curl http://web.shop.acme.capsule/` works with no other setup:
 *
 * - **systemd-resolved** (when it runs, or asked for): per-link DNS on the agent's TUN —
 *   `resolvectl dns <tun> <resolver>`, `resolvectl domain <tun> ~capsule` (only `.capsule` names
 *   go to the agent), `resolvectl default-route <tun> false`; `resolvectl revert <tun>` at stop.
 *   systemd-resolved owns 127.0.0.53, so the agent's resolver listens on the TUN's IPv4 address
 *   (port 53) unless `resolver.listen` says otherwise (it must not be a loopback address).
 * - **resolv.conf** (no systemd-resolved): /etc/resolv.conf gets `nameserver <resolver>` (the
 *   agent forwards every other name to the nameservers the file had), `search` and `options`
 *   kept; the file as it was is saved in the agent's data dir first and written back at stop. A
 *   backup left by an agent that did not stop (SIGKILL, power cut) is restored at the next start,
 *   before the upstreams are read. The file is rewritten in place when it cannot be replaced (a
 *   bind mount, as `ip netns exec` makes of /etc/netns/NAME/resolv.conf); a symlink (to a stub
 *   file of a resolver that does not run) is replaced by a file and put back at stop.
 *
 * Only the CLI reads and writes files and runs commands: this module takes them as ports.
 */
import {
  existsSync,
  lstatSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { CliError } from './errors';

/** What a resolv.conf says, as far as the agent cares. */
export interface ResolvConf {
  nameservers: { host: string; port: number }[];
  /** `search` and `options` lines, kept as they are. */
  keptLines: string[];
}

/** Largest resolv.conf read (glibc reads far less; a larger one is not a resolv.conf). */
const RESOLV_CONF_LIMIT_BYTES = 64 * 1024;

/** Parses resolv.conf text (resolv.conf(5)): nameservers (port 53) and the lines to keep. Never throws. */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: { host: string; port: number }[] = [];
  const keptLines: string[] = [];
  for (const raw of text.slice(0, RESOLV_CONF_LIMIT_BYTES).split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [keyword, value] = line.split(/\s+/);
    if (keyword === 'nameserver' && value && /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/.test(value))
      nameservers.push({ host: value.replace(/%.*$/, ''), port: 53 });
    else if (keyword === 'search' || keyword === 'domain' || keyword === 'options') keptLines.push(line);
  }
  return { nameservers, keptLines };
}

/** Runs a command; resolves to its exit code and output (never rejects for a non-zero exit). */
export type RunCommand = (
  command: string,
  args: readonly string[],
) => Promise<{ code: number; output: string }>;

/** Where the resolv.conf backup lives in the agent's data dir. */
export const resolvConfBackupName = 'resolv.conf.before-capsule.json';

interface Backup {
  path: string;
  content: string;
  /** The link target when the file was a symlink. */
  symlink?: string;
}

/** Writes `text` to `path`: replaced atomically when possible, else in place (a bind mount). */
function writeResolvConf(path: string, text: string): void {
  const temporary = `${path}.capsule-tmp`;
  try {
    writeFileSync(temporary, text, { mode: 0o644 });
    renameSync(temporary, path);
  } catch {
    rmSync(temporary, { force: true });
    writeFileSync(path, text);
  }
}

function restore(backup: Backup): void {
  if (backup.symlink !== undefined) {
    unlinkSync(backup.path);
    symlinkSync(backup.symlink, backup.path);
  } else writeResolvConf(backup.path, backup.content);
}

/** Puts back the resolv.conf an agent that did not stop left changed; true when it did. */
export function recoverResolvConf(dataDir: string): boolean {
  const backupPath = join(dataDir, resolvConfBackupName);
  if (!existsSync(backupPath)) return false;
  let backup: Backup;
  try {
    backup = JSON.parse(readFileSync(backupPath, 'utf8')) as Backup;
    if (typeof backup.path !== 'string' || typeof backup.content !== 'string')
      throw new Error('not a backup');
  } catch (error) {
    throw new CliError(
      'CLI_RESOLVER_INSTALL',
      `the resolv.conf backup ${backupPath} is unreadable (${(error as Error).message}): restore /etc/resolv.conf by hand and remove it`,
    );
  }
  restore(backup);
  rmSync(backupPath);
  return true;
}

/** The host's nameservers from its resolv.conf (none when it cannot be read). */
export function readHostNameservers(path: string): { host: string; port: number }[] {
  try {
    return parseResolvConf(readFileSync(path, 'utf8')).nameservers;
  } catch {
    return [];
  }
}

/** True when systemd-resolved answers on this host. */
export async function systemdResolvedRuns(run: RunCommand): Promise<boolean> {
  return (await run('resolvectl', ['--no-pager', 'status'])).code === 0;
}

/** An installed resolver; `uninstall` puts the host back as it was. */
export interface InstalledHostResolver {
  mode: 'systemd-resolved' | 'resolv.conf';
  uninstall(): Promise<void>;
}

export interface HostResolverOptions {
  mode: 'systemd-resolved' | 'resolv.conf';
  /** The agent's resolver. */
  listen: { host: string; port: number };
  /** The agent's TUN (systemd-resolved's link). */
  tunName: string | undefined;
  dataDir: string;
  hostName: string;
  /** Default /etc/resolv.conf. */
  resolvConfPath?: string;
}

const isLoopback = (host: string) => /^127\./.test(host) || host === '::1';

/** Makes the agent's resolver the host's resolver for `.capsule`. */
export async function installHostResolver(
  options: HostResolverOptions,
  run: RunCommand,
): Promise<InstalledHostResolver> {
  const fail = (message: string) => new CliError('CLI_RESOLVER_INSTALL', message);
  if (options.mode === 'systemd-resolved') {
    const link = options.tunName;
    if (!link) throw fail('systemd-resolved needs the agent’s TUN (tun is off)');
    if (isLoopback(options.listen.host))
      throw fail(
        `systemd-resolved asks a link's DNS server over that link: resolver.listen must be an address on ${link} (its IPv4 address, port 53), not ${options.listen.host}`,
      );
    const server = options.listen.host.includes(':')
      ? `[${options.listen.host}]:${options.listen.port}`
      : `${options.listen.host}:${options.listen.port}`;
    const steps: string[][] = [
      ['dns', link, server],
      ['domain', link, '~capsule'],
      ['default-route', link, 'false'],
    ];
    for (const step of steps) {
      const result = await run('resolvectl', step);
      if (result.code !== 0) {
        await run('resolvectl', ['revert', link]);
        throw fail(`resolvectl ${step.join(' ')}: ${result.output.trim() || `exit ${result.code}`}`);
      }
    }
    return {
      mode: 'systemd-resolved',
      uninstall: async () => {
        await run('resolvectl', ['revert', link]);
      },
    };
  }
  if (options.listen.port !== 53)
    throw fail(
      `resolv.conf cannot name a port: resolver.listen must use port 53, not ${options.listen.port}`,
    );
  const path = options.resolvConfPath ?? '/etc/resolv.conf';
  const backupPath = join(options.dataDir, resolvConfBackupName);
  let content = '';
  let symlink: string | undefined;
  try {
    if (lstatSync(path).isSymbolicLink()) symlink = readlinkSync(path);
    content = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw fail(`cannot read ${path}: ${(error as Error).message}`);
  }
  const backup: Backup = { path, content, ...(symlink !== undefined && { symlink }) };
  writeFileSync(backupPath, JSON.stringify(backup), { mode: 0o600 });
  const kept = parseResolvConf(content).keptLines;
  const text = [
    `# Written by the Capsule agent of ${options.hostName}: .capsule names, and every other name`,
    `# forwarded to the nameservers this file had (saved in ${backupPath}).`,
    '# Put back when the agent stops.',
    `nameserver ${options.listen.host}`,
    ...kept,
    '',
  ].join('\n');
  try {
    if (symlink !== undefined) unlinkSync(path);
    writeResolvConf(path, text);
  } catch (error) {
    recoverResolvConf(options.dataDir);
    throw fail(`cannot write ${path}: ${(error as Error).message}`);
  }
  return {
    mode: 'resolv.conf',
    uninstall: async () => {
      recoverResolvConf(options.dataDir);
    },
  };
}
