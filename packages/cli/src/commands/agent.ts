/**
 * `capsule agent …`: runs the host agent (`start --config agent.yaml`, keys in examples/agent.yaml),
 * checks a configuration (`check-config`), and talks to a running agent's local REST API
 * (`status`, `endpoints`, `register`). The only place that turns files and environment into
 * AgentOptions: the identity store is a 0600 JSON file in the data dir.
 */
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { join, resolve } from 'node:path';
import {
  AgentConfig,
  agentControllerProblems,
  agentFastPathWanted,
  agentOptionsFromConfig,
  controllerOf,
  createAgent,
  defaultRestApiOptions,
  type IdentityStore,
  type PersistedIdentity,
  parseAclRule,
  parseAgentConfig,
  resolverInstallMode,
  underlayListen,
  underlaySocketBuffers,
  underlayTransportKind,
} from '@capsule/agent';
import { createPinnedFetch } from '@capsule/controller';
import { createNativeFastPath, isNativeAddonAvailable } from '@capsule/native';
import { createUdpTransportOfKind } from '@capsule/overlay';
import type { Command } from 'commander';
import pino from 'pino';
import { readConfigFile, withEnvironmentFile } from '../config-file';
import { CliError, RemoteError } from '../errors';
import { readAgentToken } from '../event-source';
import {
  type InstalledHostResolver,
  installHostResolver,
  type RunCommand,
  readHostNameservers,
  recoverResolvConf,
  systemdResolvedRuns,
} from '../host-resolver';
import type { CliIo } from '../io';
import { DAEMON_UMASK, preparePrivateDirectory, readPrivateFile, writePrivateFile } from '../private-files';

/** The host's resolver configuration (only the agent's `resolver.install` writes it). */
const resolvConfPath = '/etc/resolv.conf';

/** Runs a command (resolvectl) with a time limit; never rejects for a failure to run or a non-zero exit. */
const runCommand: RunCommand = (command, args) =>
  new Promise((resolveRun) => {
    execFile(command, [...args], { timeout: 10_000, encoding: 'utf8' }, (error, stdout, stderr) =>
      resolveRun({
        code: error ? (typeof error.code === 'number' ? error.code : 127) : 0,
        output: `${stdout}${stderr}${error && typeof error.code !== 'number' ? error.message : ''}`,
      }),
    );
  });

/**
 * The identity store of the CLI: `identity.json` (mode 0600) in the 0700 data dir, replaced
 * atomically. A file or directory other users may read is refused (CLI_INSECURE_PERMISSIONS).
 */
export function createFileIdentityStore(dataDir: string): IdentityStore {
  const path = join(dataDir, 'identity.json');
  return {
    async load() {
      preparePrivateDirectory(dataDir);
      const text = readPrivateFile(path);
      if (text === undefined) return undefined;
      try {
        return JSON.parse(text) as PersistedIdentity;
      } catch {
        return undefined; // damaged: the agent makes new keys, as for missing ones
      }
    },
    async save(identity) {
      preparePrivateDirectory(dataDir);
      writePrivateFile(path, `${JSON.stringify(identity, null, 2)}\n`);
    },
  };
}

/** Keys an agent's config no longer takes, with what replaces them (a config error names both). */
export const removedAgentKeys = {
  engines:
    "a host's engines are the controller's: declare its attachments there (capsule create link --between h1 e1; none declared: every engine of its zone) and the agent gets its link set from the controller",
} as const;

/**
 * Reads and checks an agent configuration file (YAML) against `AgentConfig`: every problem at once
 * with its line (config-file.ts), ACL rules included. CAPSULE_AGENT_PASSWORD overrides the password.
 */
export function loadAgentConfig(file: string, io: CliIo): AgentConfig {
  const { value } = readConfigFile<AgentConfig>(file, AgentConfig, io.cwd, {
    removedKeys: removedAgentKeys,
    edit: (parsed) =>
      parsed && typeof parsed === 'object' && !Array.isArray(parsed) && io.env.CAPSULE_AGENT_PASSWORD
        ? { ...parsed, password: io.env.CAPSULE_AGENT_PASSWORD }
        : parsed,
    check: (config) => {
      const problems: { segments: (string | number)[]; message: string }[] = agentControllerProblems(config);
      const acl = (config as { acl?: Record<string, unknown> } | null)?.acl;
      for (const direction of ['in', 'out'] as const) {
        const rules = acl?.[direction];
        if (Array.isArray(rules))
          rules.forEach((rule, i) => {
            if (typeof rule !== 'string') return; // the schema's problem
            try {
              parseAclRule(rule);
            } catch (error) {
              problems.push({ segments: ['acl', direction, i], message: (error as Error).message });
            }
          });
      }
      return problems;
    },
  });
  return parseAgentConfig(value);
}

/** How the CLI reaches a running agent's REST API: its socket, or TCP with the token in a file. */
type AgentApiTarget = { socketPath: string } | { address: string; tokenFile: string };

/** The target the options name: `--api HOST:PORT` (TCP, with `--token-file`), else `--socket`. */
function agentApiTarget(options: { socket: string; api?: string; tokenFile: string }): AgentApiTarget {
  return options.api === undefined
    ? { socketPath: options.socket }
    : { address: options.api, tokenFile: options.tokenFile };
}

/** One request to the agent's REST API; prints the JSON answer, throws the agent's refusal. */
async function agentRequest(io: CliIo, target: AgentApiTarget, method: string, path: string, body?: unknown) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = payload === undefined ? {} : { 'content-type': 'application/json' };
  let where: string;
  let connection: { socketPath: string } | { host: string; port: number };
  if ('socketPath' in target) {
    where = target.socketPath;
    connection = { socketPath: target.socketPath };
  } else {
    where = target.address;
    const match = /^(\[[0-9A-Fa-f:.]+\]|[^:]+):(\d{1,5})$/.exec(target.address);
    if (!match) throw new CliError('CLI_BAD_ADDRESS', `--api is HOST:PORT, got '${target.address}'`);
    connection = { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
    headers.authorization = `Bearer ${readAgentToken(target.tokenFile)}`;
  }
  const { status, text } = await new Promise<{ status: number; text: string }>((resolveAnswer, reject) => {
    const outgoing = httpRequest({ ...connection, method, path, headers, timeout: 30_000 }, (answer) => {
      let received = '';
      answer.setEncoding('utf8');
      answer.on('data', (chunk: string) => (received += chunk));
      answer.on('end', () => resolveAnswer({ status: answer.statusCode ?? 0, text: received }));
      answer.on('error', reject);
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error('no answer in 30 s')));
    outgoing.on('error', (cause) =>
      reject(new CliError('AGENT_UNREACHABLE', `no agent at ${where}: ${cause.message}`)),
    );
    outgoing.end(payload);
  });
  if (status < 200 || status >= 300) {
    let code = 'AGENT_ERROR';
    let message = text;
    try {
      ({ code, message } = JSON.parse(text) as { code: string; message: string });
    } catch {}
    throw new RemoteError(code, message);
  }
  io.out(`${text ? JSON.stringify(JSON.parse(text), null, 2) : ''}\n`);
}

/** `capsule agent …`. */
export function registerAgentCommands(program: Command, io: CliIo): void {
  const agent = program.command('agent').description('the Capsule host agent');
  agent
    .command('start')
    .description(
      'run the agent (keys, CGA, registration, links, REST API, resolver, TUN) until SIGTERM/SIGINT',
    )
    .requiredOption('--config <file>', 'agent configuration (YAML; see examples/agent.yaml)')
    .action(async (options: { config: string }) => {
      let config = loadAgentConfig(options.config, io);
      const dataDir = resolve(io.cwd, config.dataDir ?? '.capsule/agent');
      process.umask(DAEMON_UMASK);
      preparePrivateDirectory(dataDir);
      const logger = pino({ level: config.logLevel ?? 'info' });
      // The host's resolver: put back what an agent that did not stop changed, then see which
      // way to install (if asked) and read the upstreams the agent forwards other names to.
      const install = resolverInstallMode(config);
      if (install !== 'off' && recoverResolvConf(dataDir))
        logger.warn(
          { path: resolvConfPath },
          'resolv.conf put back as it was before an agent that did not stop',
        );
      const installMode =
        install === 'auto'
          ? (await systemdResolvedRuns(runCommand))
            ? 'systemd-resolved'
            : 'resolv.conf'
          : install;
      const resolverSection = typeof config.resolver === 'object' ? config.resolver : undefined;
      if (installMode === 'systemd-resolved' && resolverSection && !resolverSection.listen) {
        // systemd-resolved owns 127.0.0.53 and asks a link's server over the link: the TUN's address.
        const tunAddress = (typeof config.tun === 'object' && config.tun.ipv4Address) || '100.100.0.1';
        config = { ...config, resolver: { ...resolverSection, listen: `${tunAddress}:53` } };
      }
      const agentOptions = agentOptionsFromConfig(config, readHostNameservers(resolvConfPath));
      const transportKind = underlayTransportKind(config);
      const transport = await createUdpTransportOfKind(transportKind, {
        ...underlayListen(config),
        ...underlaySocketBuffers(config),
        onSocketBuffers: (granted) =>
          logger.info({ ...granted, transport: transportKind }, 'overlay socket buffers'),
      });
      const pin = controllerOf(config).caSha256;
      // The fast path runs in the TUN reader's and the native socket's poll callbacks: only there.
      const fastPath =
        agentFastPathWanted(config, process.env) && transportKind === 'native' && isNativeAddonAvailable()
          ? createNativeFastPath()
          : undefined;
      const instance = createAgent(agentOptions, {
        identityStore: createFileIdentityStore(dataDir),
        transport,
        logger,
        ...(fastPath && { fastPath }),
        ...(pin && { fetch: createPinnedFetch(pin) }),
      });
      let installed: InstalledHostResolver | undefined;
      const uninstall = async () => {
        const current = installed;
        installed = undefined;
        await current?.uninstall();
      };
      const stopped = new Promise<void>((resolveStop) => {
        const stop = () => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          // The host's resolver first (nothing points at a resolver that is going away); this
          // also interrupts a start-up still waiting for the controller.
          void uninstall()
            .then(() => instance.stop())
            .finally(resolveStop);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
      try {
        await instance.start();
        const socket = instance.restSocket();
        const tcp = instance.restAddress();
        const rest = [
          ...(socket ? [`${socket.path} (${socket.mode.toString(8).padStart(4, '0')})`] : []),
          ...(tcp ? [`${tcp.host}:${tcp.port} (token in ${agentOptions.rest.tokenFile})`] : []),
        ];
        io.out(`agent ${config.hostName}: host id ${instance.hostId}, REST ${rest.join(' and ') || 'off'}\n`);
        if (installMode !== 'off' && agentOptions.resolver) {
          installed = await installHostResolver(
            {
              mode: installMode,
              listen: agentOptions.resolver,
              tunName: agentOptions.tun?.name,
              dataDir,
              hostName: config.hostName,
              resolvConfPath,
            },
            runCommand,
          );
          logger.info(
            { mode: installed.mode, resolver: `${agentOptions.resolver.host}:${agentOptions.resolver.port}` },
            'installed as the host resolver for .capsule',
          );
        }
        await stopped;
      } finally {
        await uninstall();
        await instance.stop();
        await transport.close();
      }
      io.out('agent stopped\n');
    });
  agent
    .command('check-config')
    .description('check an agent configuration file and print the options it gives (no password)')
    .argument('[file]', 'agent configuration (YAML)')
    .option('--config <file>', 'the same, as an option')
    .option('--env-file <file>', "variables as the unit's EnvironmentFile gives them (KEY=VALUE lines)")
    .action((file: string | undefined, options: { config?: string; envFile?: string }) => {
      const path = file ?? options.config;
      if (!path) throw new CliError('CLI_BAD_OPTION', 'check-config needs a file');
      const config = loadAgentConfig(path, withEnvironmentFile(io, options.envFile));
      const resolved = agentOptionsFromConfig(config, readHostNameservers(resolvConfPath));
      io.out(
        `${JSON.stringify({ ...resolved, credentials: { ...resolved.credentials, password: '***' } }, null, 2)}\n`,
      );
    });
  /** The options every client command takes: where the agent's API is. */
  const apiOptions = (command: Command) =>
    command
      .option('--socket <path>', "the agent API's Unix socket", defaultRestApiOptions.socketPath)
      .option('--api <host:port>', 'the agent API over TCP instead (rest.tcp; needs the token file)')
      .option('--token-file <path>', "the agent API's TCP token", defaultRestApiOptions.tokenFile);
  type ApiOptions = { socket: string; api?: string; tokenFile: string };
  apiOptions(agent.command('status').description("a running agent's state (its local REST API)")).action(
    (options: ApiOptions) => agentRequest(io, agentApiTarget(options), 'GET', '/api/v1/status'),
  );
  apiOptions(
    agent.command('endpoints').description("a running agent's endpoints with their peers and statistics"),
  ).action((options: ApiOptions) => agentRequest(io, agentApiTarget(options), 'GET', '/api/v1/endpoints'));
  apiOptions(
    agent
      .command('register')
      .description(
        'register a service endpoint in a contract role (NAME = <role>.<contract>.<domain>.capsule)',
      )
      .argument('<name>', 'the full name <role>.<contract>.<domain>.capsule (the role alone is not enough)')
      .requiredOption('--token <id:secret>', 'the service token (or CAPSULE_SERVICE_TOKEN)'),
  ).action((name: string, options: ApiOptions & { token?: string }) =>
    agentRequest(io, agentApiTarget(options), 'POST', '/api/v1/endpoints', {
      serviceToken: options.token ?? io.env.CAPSULE_SERVICE_TOKEN,
      name,
    }),
  );
  apiOptions(
    agent
      .command('rekey')
      .description(
        "move a running agent's e2e keys to the next epoch now (each unicast flow, with its next packet)",
      )
      .option('--endpoint <id>', 'only the flows of this local endpoint'),
  ).action((options: ApiOptions & { endpoint?: string }) => {
    const endpoint = options.endpoint === undefined ? undefined : Number(options.endpoint);
    if (endpoint !== undefined && !(Number.isInteger(endpoint) && endpoint >= 1 && endpoint < 2 ** 31))
      throw new CliError(
        'CLI_BAD_OPTION',
        `--endpoint is an endpoint id (1 or more), not ${options.endpoint}`,
      );
    return agentRequest(
      io,
      agentApiTarget(options),
      'POST',
      '/api/v1/rekey',
      endpoint === undefined ? {} : { endpoint },
    );
  });
}
